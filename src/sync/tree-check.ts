import { ROOT_INO } from '../metadata/metadata.types';
import type { SyncInode, SyncJournal } from '../metadata/sync-journal';
import type { TahoeClient } from '../tahoe/tahoe.client';
import type { TahoeNode } from '../tahoe/tahoe.types';
import { SPECIAL_FILE_CAP, exactUtf8, readEdgeMetadata, timespecNs } from './edge-metadata.util';

export type DifferenceKind =
  /** In Tahoe, not in the database: another client added it (the next pull shows it), or the database lost it. */
  | 'only-in-tahoe'
  /** In the database as synced, but not in Tahoe: Tahoe lost it, or another client removed it. */
  | 'only-in-database'
  /** A directory on one side, a file on the other. */
  | 'type'
  /** Both have it, with other content (another cap). */
  | 'content'
  /** Same content, other attributes in the edge's `riverfs` metadata. */
  | 'attributes';

export interface TreeDifference {
  /** From the root of the filesystem, e.g. `/docs/a.txt`. */
  path: string;
  kind: DifferenceKind;
  detail: string;
}

export interface TreeCheckReport {
  directories: number;
  entries: number;
  /** Entries with changes not pushed yet: not compared (the next push settles them). */
  pending: string[];
  differences: TreeDifference[];
}

interface Visit {
  ino: number;
  /** Null: no dirnode yet (made here, not published). */
  cap: string | null;
  path: string;
}

function key(name: Buffer): string {
  const text = exactUtf8(name);
  return text === undefined ? `\0${name.toString('hex')}` : text.normalize('NFC');
}

function capOfNode(node: TahoeNode): string | undefined {
  return node.type === 'directory' ? (node.rwUri ?? node.roUri) : (node.roUri ?? node.rwUri);
}

function localCap(inode: SyncInode): string | null {
  return inode.type === 'file' || inode.type === 'dir' || inode.type === 'symlink' ? inode.writeCap : SPECIAL_FILE_CAP;
}

function join(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/**
 * `riverfs fsck`: the metadata database compared with the Tahoe tree under the root cap, directory by directory.
 * Entries with unpushed local changes are listed as pending, not as differences: the sync worker will settle them.
 * Read-only on both sides.
 */
export class TreeChecker {
  constructor(private readonly deps: { journal: SyncJournal; tahoe: TahoeClient }) {}

  async check(
    rootCap: string,
    options: { signal?: AbortSignal; onDirectory?: (path: string, report: TreeCheckReport) => void } = {},
  ): Promise<TreeCheckReport> {
    const { journal, tahoe } = this.deps;
    const report: TreeCheckReport = { directories: 0, entries: 0, pending: [], differences: [] };
    const queue: Visit[] = [{ ino: ROOT_INO, cap: rootCap, path: '/' }];
    while (queue.length > 0) {
      options.signal?.throwIfAborted();
      const visit = queue.shift()!;
      report.directories += 1;
      const remote = new Map<string, { name: string; node: TahoeNode }>();
      if (visit.cap !== null) {
        for (const [name, node] of (await tahoe.listDirectory(visit.cap, { signal: options.signal })).children) {
          remote.set(name.normalize('NFC'), { name, node });
        }
      }
      const local = new Map((await journal.children(visit.ino)).map((child) => [key(child.name), child]));
      for (const [name, child] of local) {
        const path = join(visit.path, child.name.toString('utf8'));
        report.entries += 1;
        const theirs = remote.get(name);
        const { inode } = child;
        if (inode.syncState !== 'synced') {
          report.pending.push(path);
          if (inode.type === 'dir') {
            queue.push({ ino: inode.ino, cap: theirs ? (capOfNode(theirs.node) ?? null) : inode.writeCap, path });
          }
          continue;
        }
        if (theirs === undefined) {
          report.differences.push({ path, kind: 'only-in-database', detail: `a ${inode.type} marked in sync` });
          continue;
        }
        const remoteIsDir = theirs.node.type === 'directory';
        if ((inode.type === 'dir') !== remoteIsDir) {
          report.differences.push({
            path,
            kind: 'type',
            detail: `a ${inode.type} here, a ${theirs.node.type} in Tahoe`,
          });
          continue;
        }
        const cap = capOfNode(theirs.node);
        if (cap !== localCap(inode)) {
          report.differences.push({ path, kind: 'content', detail: 'Tahoe links another version' });
        }
        const meta = readEdgeMetadata(theirs.node.metadata?.custom);
        if (meta !== null) {
          const expected: Record<string, unknown> = {
            type: inode.type,
            mode: inode.mode,
            uid: inode.uid,
            gid: inode.gid,
            mtime_ns: timespecNs(inode.mtime),
          };
          const differing = Object.entries(expected)
            .filter(([field, value]) => (meta as unknown as Record<string, unknown>)[field] !== value)
            .map(
              ([field, value]) =>
                `${field} ${JSON.stringify(value)} here, ${JSON.stringify((meta as unknown as Record<string, unknown>)[field])} in Tahoe`,
            );
          if (differing.length > 0) {
            report.differences.push({ path, kind: 'attributes', detail: differing.join('; ') });
          }
        }
        if (inode.type === 'dir' && cap !== undefined) {
          queue.push({ ino: inode.ino, cap, path });
        }
      }
      for (const [name, theirs] of remote) {
        if (!local.has(name)) {
          report.differences.push({
            path: join(visit.path, theirs.name),
            kind: 'only-in-tahoe',
            detail: `a ${theirs.node.type} not in the database (shown after the next pull of its directory)`,
          });
        }
      }
      options.onDirectory?.(visit.path, report);
    }
    return report;
  }
}
