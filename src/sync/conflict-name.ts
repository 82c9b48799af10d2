import { NAME_MAX } from '../metadata/metadata.types';

/** `20261204T031500Z`: sorts by time, and holds no character a shell or Windows would trip on. */
export function conflictStamp(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** `NAME.conflict-STAMP[-COPY]`, the name shortened (by whole characters) to keep it within NAME_MAX bytes. */
export function conflictName(name: string, stamp: string, copy: number): string {
  const suffix = `.conflict-${stamp}${copy > 1 ? `-${copy}` : ''}`;
  const characters = [...name];
  while (characters.length > 0 && Buffer.byteLength(characters.join('') + suffix) > NAME_MAX) {
    characters.pop();
  }
  return characters.join('') + suffix;
}

/**
 * The first conflict name for `name` at time `ms` that is not in `taken` (names in NFC, as Tahoe keeps them: both the
 * local entries and the remote ones), which it then joins. The pull and the publish both name conflict copies so.
 */
export function freeConflictName(name: string, ms: number, taken: Set<string>): string {
  const stamp = conflictStamp(ms);
  let chosen = conflictName(name, stamp, 1);
  for (let copy = 2; taken.has(chosen.normalize('NFC')); copy += 1) {
    chosen = conflictName(name, stamp, copy);
  }
  taken.add(chosen.normalize('NFC'));
  return chosen;
}
