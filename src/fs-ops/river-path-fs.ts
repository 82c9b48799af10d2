import { type Credentials, type InodeRecord, ROOT_INO } from '../metadata/metadata.types';
import { pathComponents, splitParent } from './fs-path';
import { type FsStat, type FsStatfs, xattrName } from './fs-stat';
import type { RiverFs, UtimeArg } from './river-fs';

/** The name libfuse 2 gives a file unlinked while open: ".fuse_hidden" and 16 hex digits (lib/fuse.c, hidden_name). */
const LIBFUSE_HIDDEN_NAME = /^\.fuse_hidden[0-9a-f]{16}$/;

/**
 * RiverFs by path, for the FUSE 2 high-level API (fuse-native), which names everything by path: each call resolves
 * its path from the root, then runs the inode operation. Also the one path resolver of the process. Goes away with
 * the high-level mount.
 */
export class RiverPathFs {
  /** Paths libfuse uses for files unlinked while open (see hideOpenFile) → their inode. */
  private readonly hiddenOpenFiles = new Map<string, number>();

  constructor(readonly core: RiverFs) {}

  /** Walks a path from the root (the kernel has already resolved symlinks and checked search permission). */
  async resolve(path: string): Promise<InodeRecord> {
    const hidden = this.hiddenOpenFiles.get(path);
    if (hidden !== undefined) {
      return this.core.inode(hidden);
    }
    let inode = await this.core.inode(ROOT_INO);
    for (const name of pathComponents(path)) {
      inode = await this.core.lookup(inode, name);
    }
    return inode;
  }

  private async resolveIno(path: string): Promise<number> {
    if (path === '/') {
      return ROOT_INO;
    }
    return (await this.resolve(path)).ino;
  }

  private async parentOf(path: string): Promise<{ parent: number; name: Buffer }> {
    const { parentPath, name } = splitParent(path);
    return { parent: await this.resolveIno(parentPath), name };
  }

  // ---- attributes ------------------------------------------------------------------------------------------

  async getattr(path: string): Promise<FsStat> {
    return this.core.toStat(await this.resolve(path));
  }

  /** fstat: through the handle, so an open file that lost its last name still answers. */
  async fgetattr(path: string, fh: number): Promise<FsStat> {
    const ino = this.core.files.inoOf(fh);
    return ino === undefined ? this.getattr(path) : this.core.getattr(ino);
  }

  statfs(): Promise<FsStatfs> {
    return this.core.statfs();
  }

  async chmod(path: string, mode: number): Promise<void> {
    await this.core.setattr(await this.resolveIno(path), { mode });
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    // -1 (as an unsigned 32-bit value) means "leave unchanged".
    const keep = (id: number): boolean => id === -1 || id === 0xffffffff;
    await this.core.setattr(await this.resolveIno(path), {
      uid: keep(uid) ? undefined : uid,
      gid: keep(gid) ? undefined : gid,
    });
  }

  async utimens(path: string, atime: UtimeArg, mtime: UtimeArg): Promise<void> {
    await this.core.setattr(await this.resolveIno(path), {
      atime: atime === 'omit' ? undefined : atime,
      mtime: mtime === 'omit' ? undefined : mtime,
    });
  }

  async truncate(path: string, size: number): Promise<void> {
    await this.core.setattr(await this.resolveIno(path), { size });
  }

  async ftruncate(path: string, fh: number, size: number): Promise<void> {
    const ino = this.core.files.inoOf(fh);
    if (ino === undefined) {
      return this.truncate(path, size);
    }
    await this.core.setattr(ino, { size }, fh);
  }

  // ---- namespace -------------------------------------------------------------------------------------------

  async mkdir(path: string, mode: number, owner?: Credentials): Promise<void> {
    const { parent, name } = await this.parentOf(path);
    await this.core.mkdir(parent, name, mode, owner);
  }

  async mknod(path: string, mode: number, rdev: number, owner?: Credentials): Promise<void> {
    const { parent, name } = await this.parentOf(path);
    await this.core.mknod(parent, name, mode, rdev, owner);
  }

  async symlink(target: string, path: string, owner?: Credentials): Promise<void> {
    const { parent, name } = await this.parentOf(path);
    await this.core.symlink(parent, name, Buffer.from(target, 'latin1'), owner);
  }

  async readlink(path: string): Promise<Buffer> {
    return this.core.readlink(await this.resolveIno(path));
  }

  async link(existing: string, path: string): Promise<void> {
    const ino = await this.resolveIno(existing);
    const { parent, name } = await this.parentOf(path);
    await this.core.link(ino, parent, name);
  }

  async unlink(path: string): Promise<void> {
    if (this.hiddenOpenFiles.delete(path)) {
      // libfuse removing its hidden name after the last close: the name never existed for us (see rename).
      return;
    }
    const { parent, name } = await this.parentOf(path);
    await this.core.unlink(parent, name);
  }

  async rmdir(path: string): Promise<void> {
    const { parent, name } = await this.parentOf(path);
    await this.core.rmdir(parent, name);
  }

  async rename(from: string, to: string): Promise<void> {
    const source = await this.parentOf(from);
    const target = await this.parentOf(to);
    if (LIBFUSE_HIDDEN_NAME.test(target.name.toString('latin1')) && !this.hiddenOpenFiles.has(from)) {
      await this.hideOpenFile(to, source.parent, source.name);
      return;
    }
    await this.core.rename(source.parent, source.name, target.parent, target.name);
  }

  /**
   * libfuse 2 (without hard_remove, which would break fstat of such files) does not pass on the unlink of an open
   * file, or the replacement of an open file by rename: it renames the file to `.fuse_hiddenNNN` and unlinks that
   * name after the last close. We carry out the real unlink instead (the open handle keeps the inode alive, with
   * nlink 0, as on a local filesystem), and remember the hidden name only to answer the calls libfuse makes through
   * it: nothing shows up in listings, and nothing is left behind if the gateway dies.
   */
  private async hideOpenFile(hiddenPath: string, parent: number, name: Buffer): Promise<void> {
    const inode = await this.core.lookup(parent, name);
    const removed = inode.type === 'dir' ? await this.core.rmdir(parent, name) : await this.core.unlink(parent, name);
    if (!removed.freed) {
      this.hiddenOpenFiles.set(hiddenPath, removed.ino);
    }
  }

  async readdir(path: string): Promise<{ names: Buffer[]; stats: FsStat[] }> {
    return this.core.readdir(await this.resolveIno(path));
  }

  // ---- extended attributes ---------------------------------------------------------------------------------

  async setxattr(path: string, name: string, value: Buffer, flags: number): Promise<void> {
    const bytes = xattrName(name);
    await this.core.setxattr(await this.resolveIno(path), bytes, value, flags);
  }

  async getxattr(path: string, name: string): Promise<Buffer> {
    const bytes = xattrName(name);
    return this.core.getxattr(await this.resolveIno(path), bytes);
  }

  async listxattr(path: string): Promise<Buffer[]> {
    return this.core.listxattr(await this.resolveIno(path));
  }

  async removexattr(path: string, name: string): Promise<void> {
    const bytes = xattrName(name);
    await this.core.removexattr(await this.resolveIno(path), bytes);
  }

  // ---- files -------------------------------------------------------------------------------------------------

  async create(path: string, mode: number, flags: number, owner?: Credentials): Promise<number> {
    const { parent, name } = await this.parentOf(path);
    return (await this.core.create(parent, name, mode, flags, owner)).fh;
  }

  async open(path: string, flags: number): Promise<number> {
    return this.core.open(await this.resolveIno(path), flags);
  }

  read(fh: number, length: number, position: number): Promise<Buffer> {
    return this.core.read(fh, length, position);
  }

  write(fh: number, data: Buffer, position: number): Promise<number> {
    return this.core.write(fh, data, position);
  }

  flush(fh: number): Promise<void> {
    return this.core.flush(fh);
  }

  fsync(fh: number): Promise<void> {
    return this.core.fsync(fh);
  }

  fsyncdir(): Promise<void> {
    return this.core.fsyncdir();
  }

  release(fh: number): Promise<void> {
    return this.core.release(fh);
  }

  fallocate(fh: number, mode: number, offset: number, length: number): Promise<void> {
    return this.core.fallocate(fh, mode, offset, length);
  }
}
