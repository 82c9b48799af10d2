import type { DataSource } from 'typeorm';
import { ROOT_INO } from '../../src/metadata/metadata.types';

interface InodeFacts {
  ino: number;
  type: string;
  nlink: number;
  parent: number | null;
}

interface EntryFacts {
  parent: number;
  name: Buffer;
  child: number;
}

const n = (value: unknown): number => Number(value);

/**
 * Reads the whole metadata database (small test databases only) and lists every way it breaks the
 * filesystem's invariants: link counts (a file's nlink is the number of names it has; a directory's is
 * 2 + its subdirectories, Linux-style), entries in non-directories, directories with other than one name,
 * parent pointers that disagree with the entries, cycles and unreachable inodes, unlinked inodes that no
 * session keeps, symlink targets on the wrong inodes. An empty list means consistent.
 */
export async function findInconsistencies(dataSource: DataSource): Promise<string[]> {
  const problems: string[] = [];
  const inodes = new Map<number, InodeFacts>(
    (await dataSource.query<Record<string, unknown>[]>('SELECT ino, type, nlink, parent FROM inode')).map((row) => [
      n(row.ino),
      {
        ino: n(row.ino),
        type: String(row.type),
        nlink: n(row.nlink),
        parent: row.parent === null ? null : n(row.parent),
      },
    ]),
  );
  const entries = (await dataSource.query<Record<string, unknown>[]>('SELECT parent, name, child FROM dir_entry')).map(
    (row): EntryFacts => ({ parent: n(row.parent), name: Buffer.from(row.name as Buffer), child: n(row.child) }),
  );
  const sustained = new Set(
    (await dataSource.query<Record<string, unknown>[]>('SELECT ino FROM sustained_inode')).map((row) => n(row.ino)),
  );
  const symlinks = new Set(
    (await dataSource.query<Record<string, unknown>[]>('SELECT ino FROM symlink')).map((row) => n(row.ino)),
  );

  const names = new Map<number, EntryFacts[]>();
  const children = new Map<number, EntryFacts[]>();
  for (const entry of entries) {
    names.set(entry.child, [...(names.get(entry.child) ?? []), entry]);
    children.set(entry.parent, [...(children.get(entry.parent) ?? []), entry]);
    const parent = inodes.get(entry.parent);
    if (parent?.type !== 'dir' || parent.nlink === 0) {
      problems.push(`entry "${entry.name.toString()}" lives in ${entry.parent}, which is not a live directory`);
    }
    if (!inodes.has(entry.child)) {
      problems.push(`entry "${entry.name.toString()}" in ${entry.parent} names missing inode ${entry.child}`);
    }
  }

  for (const inode of inodes.values()) {
    const named = names.get(inode.ino) ?? [];
    if (inode.type === 'dir') {
      const subdirs = (children.get(inode.ino) ?? []).filter((entry) => inodes.get(entry.child)?.type === 'dir').length;
      if (inode.nlink === 0) {
        if (named.length > 0) {
          problems.push(`removed directory ${inode.ino} still has ${named.length} names`);
        }
      } else if (inode.nlink !== 2 + subdirs) {
        problems.push(`directory ${inode.ino} has nlink ${inode.nlink} but ${subdirs} subdirectories`);
      }
      if (inode.ino === ROOT_INO) {
        if (named.length !== 0 || inode.parent !== ROOT_INO) {
          problems.push(`the root is named ${named.length} times, parent ${inode.parent}`);
        }
      } else if (inode.nlink > 0 && (named.length !== 1 || named[0].parent !== inode.parent)) {
        problems.push(
          `directory ${inode.ino} (parent ${inode.parent}) is named in [${named.map((entry) => entry.parent).join(', ')}]`,
        );
      }
    } else if (inode.nlink !== named.length) {
      problems.push(`${inode.type} ${inode.ino} has nlink ${inode.nlink} but ${named.length} names`);
    }
    if (inode.nlink === 0 && !sustained.has(inode.ino)) {
      problems.push(`unlinked inode ${inode.ino} is kept by no session`);
    }
    if ((inode.type === 'symlink') !== symlinks.has(inode.ino)) {
      problems.push(`${inode.type} ${inode.ino} ${symlinks.has(inode.ino) ? 'has' : 'lacks'} a symlink target`);
    }
  }

  // Every live inode must be reachable from the root; a directory reached twice means a cycle or a
  // second name.
  const reached = new Set<number>([ROOT_INO]);
  const queue = [ROOT_INO];
  while (queue.length > 0) {
    const dir = queue.shift()!;
    for (const entry of children.get(dir) ?? []) {
      const child = inodes.get(entry.child);
      if (child?.type === 'dir') {
        if (reached.has(child.ino)) {
          problems.push(`directory ${child.ino} is reached twice`);
          continue;
        }
        queue.push(child.ino);
      }
      reached.add(entry.child);
    }
  }
  for (const inode of inodes.values()) {
    if (inode.nlink > 0 && !reached.has(inode.ino)) {
      problems.push(`${inode.type} ${inode.ino} is not reachable from the root`);
    }
  }
  return problems;
}
