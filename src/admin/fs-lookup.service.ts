import { Injectable } from '@nestjs/common';
import { FsError, isFsError } from '../common/errors/fs-error';
import { MetadataStore } from '../metadata/metadata.store';
import { type InodeRecord, ROOT_INO } from '../metadata/metadata.types';
import { AdminError } from './admin.errors';
import { joinFsPath, splitFsPath } from './fs-path.util';

export interface InodePaths {
  /** Every path the inode is linked under, as far as the search got. */
  paths: string[];
  /** False when the search stopped at its budget before finding all `nlink` names. */
  complete: boolean;
}

/** Directory entries the name search may read for one inode (a file's names need a walk of the tree). */
export const NAME_SEARCH_BUDGET = 20_000;

/**
 * Paths ↔ inodes over the MetadataStore port: a path is resolved name by name from the root (so it can never
 * leave the filesystem), and an inode's names are found by walking up its parents (directories) or the tree
 * (files, whose links the port cannot list yet; see the report of the admin issue).
 */
@Injectable()
export class FsLookupService {
  constructor(private readonly store: MetadataStore) {}

  /** The inode at an absolute path: INVALID_PATH for a malformed one, ENOENT / ENOTDIR naming the failing prefix. */
  async resolve(path: string): Promise<InodeRecord> {
    const names = splitFsPath(path);
    let current = await this.store.getInode(ROOT_INO);
    for (let index = 0; index < names.length; index += 1) {
      if (current.type !== 'dir') {
        throw new FsError('ENOTDIR', `${joinFsPath(names.slice(0, index))} is not a directory`);
      }
      try {
        current = await this.store.lookup(current.ino, Buffer.from(names[index], 'utf8'));
      } catch (error) {
        if (isFsError(error, 'ENOENT')) {
          throw new FsError('ENOENT', `${joinFsPath(names.slice(0, index + 1))} does not exist`);
        }
        throw error;
      }
    }
    return current;
  }

  /** ENOENT when there is no such inode. */
  async inode(ino: number): Promise<InodeRecord> {
    return this.store.getInode(ino);
  }

  async directory(ino: number): Promise<InodeRecord> {
    const inode = await this.store.getInode(ino);
    if (inode.type !== 'dir') {
      throw new AdminError('NOT_A_DIRECTORY', `inode ${ino} is a ${inode.type}, not a directory`);
    }
    return inode;
  }

  async pathsOf(inode: InodeRecord): Promise<InodePaths> {
    if (inode.ino === ROOT_INO) {
      return { paths: ['/'], complete: true };
    }
    if (inode.nlink === 0) {
      return { paths: [], complete: true };
    }
    const budget = { entries: NAME_SEARCH_BUDGET };
    if (inode.type === 'dir') {
      const names: Buffer[] = [];
      let child = inode;
      while (child.ino !== ROOT_INO && child.parent !== null) {
        const name = await this.nameIn(child.parent, child.ino, budget);
        if (name === undefined) {
          return { paths: [], complete: false };
        }
        names.unshift(name);
        child = await this.store.getInode(child.parent);
      }
      return { paths: [joinFsPath(names)], complete: true };
    }
    return this.searchLinks(inode, budget);
  }

  private async nameIn(dir: number, ino: number, budget: { entries: number }): Promise<Buffer | undefined> {
    for await (const entry of this.store.entries(dir)) {
      if (--budget.entries < 0) {
        return undefined;
      }
      if (entry.ino === ino) {
        return entry.name;
      }
    }
    return undefined;
  }

  /** Breadth-first over the tree until every link of the file is found or the budget runs out. */
  private async searchLinks(inode: InodeRecord, budget: { entries: number }): Promise<InodePaths> {
    const found: string[] = [];
    const queue: { ino: number; names: Buffer[] }[] = [{ ino: ROOT_INO, names: [] }];
    while (queue.length > 0 && found.length < inode.nlink) {
      const dir = queue.shift()!;
      for await (const entry of this.store.entries(dir.ino)) {
        if (--budget.entries < 0) {
          return { paths: found, complete: false };
        }
        if (entry.ino === inode.ino) {
          found.push(joinFsPath([...dir.names, entry.name]));
        } else if (entry.type === 'dir') {
          queue.push({ ino: entry.ino, names: [...dir.names, entry.name] });
        }
      }
    }
    return { paths: found, complete: found.length >= inode.nlink };
  }

  /** Regular files at or below `ino` (itself when it is a file), depth first, checking `signal` between entries. */
  async *files(ino: number, signal?: AbortSignal): AsyncGenerator<InodeRecord> {
    const root = await this.store.getInode(ino);
    if (root.type === 'file') {
      yield root;
      return;
    }
    if (root.type !== 'dir') {
      return;
    }
    const stack = [root.ino];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      for await (const entry of this.store.entries(dir, { plus: true })) {
        signal?.throwIfAborted();
        if (entry.type === 'dir') {
          stack.push(entry.ino);
        } else if (entry.type === 'file' && entry.inode !== undefined) {
          yield entry.inode;
        }
      }
    }
  }
}
