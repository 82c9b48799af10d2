import { FsError } from '../common/errors/fs-error';

/**
 * How paths from fuse-native become names. The patched addon hands paths over as latin1 strings (one char per
 * byte), so every byte of a name survives the trip, including bytes that are not valid UTF-8; names we send back
 * (readdir, readlink) go the same way.
 */
export const PATH_ENCODING: BufferEncoding = 'latin1';

export function pathComponents(path: string): Buffer[] {
  if (!path.startsWith('/')) {
    throw new FsError('EINVAL', 'path is not absolute');
  }
  return path
    .split('/')
    .filter((part) => part !== '')
    .map((part) => Buffer.from(part, PATH_ENCODING));
}

export function splitParent(path: string): { parentPath: string; name: Buffer } {
  const trimmed = path.replace(/\/+$/, '');
  const slash = trimmed.lastIndexOf('/');
  if (slash < 0 || trimmed === '') {
    throw new FsError('EINVAL', 'the root has no parent');
  }
  return { parentPath: trimmed.slice(0, slash) || '/', name: Buffer.from(trimmed.slice(slash + 1), PATH_ENCODING) };
}

export function nameToFuse(name: Buffer): string {
  return name.toString(PATH_ENCODING);
}
