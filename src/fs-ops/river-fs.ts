import { FsError } from '../common/errors/fs-error';
import type { BlockCache, BlockFetcher } from '../cache/block-cache';
import { LocalContentGate } from '../cache/local-content-gate';
import type { MetadataStore } from '../metadata/metadata.store';
import {
  type Credentials,
  type DirEntryRecord,
  type InodeRecord,
  type InodeType,
  ROOT_INO,
  type SetAttrChanges,
  type TimeChange,
  type Timespec,
} from '../metadata/metadata.types';
import { systemClock } from '../metadata/metadata-txn.util';
import { PATH_ENCODING, pathComponents, splitParent } from './fs-path';
import { inodeFigures } from './inode-usage';

/** File type bits of st_mode (S_IFMT and friends), as Linux defines them. */
const S_IFMT = 0o170000;
const TYPE_BITS: Record<InodeType, number> = {
  file: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  fifo: 0o010000,
  socket: 0o140000,
  char: 0o020000,
  block: 0o060000,
};
const O_ACCMODE = 3;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_APPEND = 0o2000;
const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;
/** The name libfuse 2 gives a file unlinked while open: ".fuse_hidden" and 16 hex digits (lib/fuse.c, hidden_name). */
const LIBFUSE_HIDDEN_NAME = /^\.fuse_hidden[0-9a-f]{16}$/;
/** relatime refreshes an atime that is newer than mtime and ctime once it is this old (Linux: a day). */
const RELATIME_MAX_AGE_SEC = 24 * 60 * 60;

/** What getattr answers; times carry nanoseconds. */
export interface FsStat {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blksize: number;
  blocks: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

export interface FsStatfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

/** A time as utimens hands it over: exact, now (UTIME_NOW), or left alone (UTIME_OMIT). */
export type UtimeArg = Timespec | 'now' | 'omit';

/**
 * Per open regular file: the size and mtime writes have produced but not yet persisted. Writes never touch SQL
 * (a transaction per 128 KiB write would cap throughput at the database's commit rate); flush, fsync and the
 * last release persist the attributes with one `recordContentChange`.
 */
export class CachedFileInode {
  openHandles = 0;
  /** Unpersisted size/mtime, when writes happened since the last persist. */
  pending: { size: number; mtime: Timespec } | undefined;
  /**
   * True once a read found atime up to date (relatime) and nothing changed since: later reads skip the check.
   * Anything through this gateway that changes the inode's mtime or ctime clears it.
   */
  atimeChecked = false;

  constructor(
    readonly ino: number,
    public size: number,
  ) {}
}

/** One open() of a regular file. */
export class CachedFileHandle {
  constructor(
    readonly fh: number,
    readonly inode: CachedFileInode,
    readonly flags: number,
    /** A writable handle is a local writer of its file until its release (LocalContentGate). */
    readonly leaveWriters: () => void = () => undefined,
  ) {}

  get writable(): boolean {
    const access = this.flags & O_ACCMODE;
    return access === O_WRONLY || access === O_RDWR;
  }

  get append(): boolean {
    return (this.flags & O_APPEND) !== 0;
  }
}

export interface RiverFsOptions {
  /** Owner of new inodes when the caller's credentials are not known. */
  defaultOwner: Credentials;
  /** Capacity figures for statfs: the cache's limit and what is in use. */
  capacity: () => Promise<{ totalBytes: number; freeBytes: number }>;
  /** Inodes in use, for statfs's inode figures (see inode-usage.ts); 0 when absent. */
  inodesUsed?: () => number;
  now?: () => Timespec;
  /** Called for inodes whose content changed and was persisted (sync queues them). */
  onContentPersisted?: (ino: number) => void;
  /**
   * Sync point of a file at flush and release of a writable handle and at fsync, after its content is durable
   * locally: writethrough mode waits here until the file is in Tahoe and linked (sync issue).
   */
  syncPoint?: (ino: number) => Promise<void>;
  /**
   * Called before a directory is looked into (a lookup in it, a listing of it): the downstream pull fetches its
   * Tahoe listing when it has none yet or it is older than the TTL. Returns nothing while the listing is fresh.
   */
  ensureListed?: (dir: InodeRecord) => Promise<void> | undefined;
  /** Shared with the downstream pull (a pull never replaces a file being written); one of its own by default. */
  localContent?: LocalContentGate;
  /** Blocks the cache lacks, from Tahoe (RemoteBlocks); without it they read as holes. */
  remoteBlocks?: {
    fetcher(ino: number): BlockFetcher;
    /** A handle's read: cached blocks from the cache, the others streamed from the file's cap (with read-ahead). */
    read(fh: number, ino: number, position: number, length: number, fileSize: number): Promise<Buffer>;
  };
}

/**
 * The executor: one place that carries out a filesystem call across the metadata store and the block cache.
 * FsOps translate FUSE calls into these methods; errors are FsError with the errno Linux would give.
 */
export class RiverFs {
  private readonly handles = new Map<number, CachedFileHandle>();
  /** Paths libfuse uses for files unlinked while open (see hideOpenFile) → their inode. */
  private readonly hiddenOpenFiles = new Map<string, number>();
  private readonly openInodes = new Map<number, CachedFileInode>();
  private nextFh = 1;
  private readonly now: () => Timespec;
  private readonly localContent: LocalContentGate;

  constructor(
    private readonly meta: MetadataStore,
    private readonly cache: BlockCache,
    private readonly options: RiverFsOptions,
  ) {
    // The metadata store's clock: a write's mtime and the ctime the store sets for it must come from one clock.
    this.now = options.now ?? (() => systemClock.now());
    this.localContent = options.localContent ?? new LocalContentGate(cache);
  }

  // ---- paths ---------------------------------------------------------------------------------------------

  /** Walks a path from the root (the kernel has already resolved symlinks and checked search permission). */
  async resolve(path: string): Promise<InodeRecord> {
    const hidden = this.hiddenOpenFiles.get(path);
    if (hidden !== undefined) {
      return this.meta.getInode(hidden);
    }
    let inode = await this.meta.getInode(ROOT_INO);
    for (const name of pathComponents(path)) {
      const listing = this.options.ensureListed?.(inode);
      if (listing !== undefined) {
        await listing;
      }
      inode = await this.meta.lookup(inode.ino, name);
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

  toStat(inode: InodeRecord): FsStat {
    const open = this.openInodes.get(inode.ino);
    const size = open?.pending?.size ?? open?.size ?? inode.size;
    const mtime = open?.pending?.mtime ?? inode.mtime;
    const ctime = open?.pending && compareTime(open.pending.mtime, inode.ctime) > 0 ? open.pending.mtime : inode.ctime;
    return {
      ino: inode.ino,
      mode: TYPE_BITS[inode.type] | (inode.mode & 0o7777),
      nlink: inode.nlink,
      uid: inode.uid,
      gid: inode.gid,
      rdev: inode.rdev,
      size: inode.type === 'symlink' ? inode.size : size,
      blksize: this.cache.blockSize,
      blocks: Math.ceil(size / 512),
      atime: inode.atime,
      mtime,
      ctime,
    };
  }

  async getattr(path: string): Promise<FsStat> {
    return this.toStat(await this.resolve(path));
  }

  /** fstat: through the handle, so an open file that lost its last name still answers. */
  async fgetattr(path: string, fh: number): Promise<FsStat> {
    const handle = this.handles.get(fh);
    if (handle === undefined) {
      return this.getattr(path);
    }
    return this.toStat(await this.meta.getInode(handle.inode.ino));
  }

  async statfs(): Promise<FsStatfs> {
    const bsize = this.cache.blockSize;
    const { totalBytes, freeBytes } = await this.options.capacity();
    const { files, ffree } = inodeFigures(this.options.inodesUsed?.() ?? 0);
    return {
      bsize,
      frsize: bsize,
      blocks: Math.floor(totalBytes / bsize),
      bfree: Math.floor(freeBytes / bsize),
      bavail: Math.floor(freeBytes / bsize),
      files,
      ffree,
      favail: ffree,
      namemax: 255,
    };
  }

  async chmod(path: string, mode: number): Promise<void> {
    const ino = await this.resolveIno(path);
    this.timesChanged(ino);
    await this.meta.setattr(ino, { mode: mode & 0o7777 });
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    const changes: SetAttrChanges = {};
    // -1 (as an unsigned 32-bit value) means "leave unchanged".
    if (uid !== -1 && uid !== 0xffffffff) {
      changes.uid = uid;
    }
    if (gid !== -1 && gid !== 0xffffffff) {
      changes.gid = gid;
    }
    const ino = await this.resolveIno(path);
    this.timesChanged(ino);
    await this.meta.setattr(ino, changes);
  }

  async utimens(path: string, atime: UtimeArg, mtime: UtimeArg): Promise<void> {
    const ino = await this.resolveIno(path);
    const changes: SetAttrChanges = {};
    const toChange = (time: UtimeArg): TimeChange | undefined => (time === 'omit' ? undefined : time);
    changes.atime = toChange(atime);
    changes.mtime = toChange(mtime);
    if (changes.mtime !== undefined) {
      // An explicit mtime overrides what pending writes would persist later.
      const open = this.openInodes.get(ino);
      if (open?.pending) {
        await this.persist(open);
      }
    }
    this.timesChanged(ino);
    await this.meta.setattr(ino, changes);
  }

  async truncate(path: string, size: number): Promise<void> {
    const inode = await this.resolve(path);
    // A local writer while it runs: a pull must not replace the file between the cut and its record in SQL.
    const leave = await this.localContent.enterWriter(inode.ino);
    try {
      await this.truncateInode(await this.meta.getInode(inode.ino), size);
    } finally {
      leave();
    }
  }

  async ftruncate(path: string, fh: number, size: number): Promise<void> {
    const handle = this.handles.get(fh);
    if (handle === undefined) {
      return this.truncate(path, size);
    }
    await this.truncateInode(await this.meta.getInode(handle.inode.ino), size);
  }

  private async truncateInode(inode: InodeRecord, size: number): Promise<void> {
    if (inode.type === 'dir') {
      throw new FsError('EISDIR');
    }
    if (inode.type !== 'file') {
      throw new FsError('EINVAL');
    }
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new FsError('EINVAL', `invalid size ${size}`);
    }
    const open = this.openInodes.get(inode.ino);
    if (open?.pending) {
      await this.persist(open);
    }
    this.timesChanged(inode.ino);
    // Whatever size this gateway believes the file has: the cache drops everything past the new size itself. Its
    // cut is in the cache files when this returns (it survives a crash of RiverFS), before the new size is recorded.
    await this.cache.truncate(inode.ino, size);
    await this.meta.setattr(inode.ino, { size });
    if (open) {
      open.size = size;
    }
  }

  // ---- namespace -------------------------------------------------------------------------------------------

  async mkdir(path: string, mode: number, owner: Credentials = this.options.defaultOwner): Promise<void> {
    const { parent, name } = await this.parentOf(path);
    await this.meta.mkdir(parent, name, { mode: mode & 0o7777, ...owner });
  }

  async mknod(path: string, mode: number, rdev: number, owner: Credentials = this.options.defaultOwner): Promise<void> {
    const { parent, name } = await this.parentOf(path);
    const type = typeFromMode(mode);
    if (type === 'dir' || type === 'symlink') {
      throw new FsError('EINVAL', 'mknod cannot create directories or symlinks');
    }
    await this.meta.mknod(parent, name, { type: type, mode: mode & 0o7777, rdev, ...owner });
  }

  async symlink(target: string, path: string, owner: Credentials = this.options.defaultOwner): Promise<void> {
    const { parent, name } = await this.parentOf(path);
    await this.meta.symlink(parent, name, Buffer.from(target, 'latin1'), owner);
  }

  /** Also what following a symlink asks for: like Linux, both update the symlink's atime (relatime). */
  async readlink(path: string): Promise<Buffer> {
    const link = await this.resolve(path);
    const target = await this.meta.readlink(link.ino);
    await this.touchAtime(link);
    return target;
  }

  async link(existing: string, path: string): Promise<void> {
    const ino = await this.resolveIno(existing);
    const { parent, name } = await this.parentOf(path);
    this.timesChanged(ino);
    await this.meta.link(ino, parent, name);
  }

  async unlink(path: string): Promise<void> {
    if (this.hiddenOpenFiles.delete(path)) {
      // libfuse removing its hidden name after the last close: the name never existed for us (see rename).
      return;
    }
    const { parent, name } = await this.parentOf(path);
    const removed = await this.meta.unlink(parent, name);
    this.timesChanged(removed.ino);
    if (removed.freed) {
      await this.cache.drop(removed.ino);
    }
  }

  async rmdir(path: string): Promise<void> {
    const { parent, name } = await this.parentOf(path);
    await this.meta.rmdir(parent, name);
  }

  async rename(from: string, to: string): Promise<void> {
    const source = await this.parentOf(from);
    const target = await this.parentOf(to);
    if (LIBFUSE_HIDDEN_NAME.test(target.name.toString('latin1')) && !this.hiddenOpenFiles.has(from)) {
      await this.hideOpenFile(to, source.parent, source.name);
      return;
    }
    const result = await this.meta.rename(source.parent, source.name, target.parent, target.name);
    this.timesChanged(result.ino);
    if (result.replaced) {
      this.timesChanged(result.replaced.ino);
    }
    if (result.replaced?.freed) {
      await this.cache.drop(result.replaced.ino);
    }
  }

  /**
   * libfuse 2 (without hard_remove, which would break fstat of such files) does not pass on the unlink of an open
   * file, or the replacement of an open file by rename: it renames the file to `.fuse_hiddenNNN` and unlinks that
   * name after the last close. We carry out the real unlink instead (the open handle keeps the inode alive, with
   * nlink 0, as on a local filesystem), and remember the hidden name only to answer the calls libfuse makes through
   * it: nothing shows up in listings, and nothing is left behind if the gateway dies.
   */
  private async hideOpenFile(hiddenPath: string, parent: number, name: Buffer): Promise<void> {
    const inode = await this.meta.lookup(parent, name);
    const removed = inode.type === 'dir' ? await this.meta.rmdir(parent, name) : await this.meta.unlink(parent, name);
    this.timesChanged(removed.ino);
    if (removed.freed) {
      await this.cache.drop(removed.ino);
      return;
    }
    this.hiddenOpenFiles.set(hiddenPath, removed.ino);
  }

  async readdir(path: string): Promise<{ names: Buffer[]; stats: FsStat[] }> {
    const dir = await this.resolve(path);
    if (dir.type !== 'dir') {
      throw new FsError('ENOTDIR');
    }
    const listing = this.options.ensureListed?.(dir);
    if (listing !== undefined) {
      await listing;
    }
    const listed = (await this.touchAtime(dir)) ?? dir;
    const names: Buffer[] = [Buffer.from('.'), Buffer.from('..')];
    const parent =
      listed.parent !== null && listed.parent !== listed.ino ? await this.meta.getInode(listed.parent) : listed;
    const stats: FsStat[] = [this.toStat(listed), this.toStat(parent)];
    for await (const entry of this.meta.entries(dir.ino, { plus: true, pageSize: 1000 })) {
      names.push(entry.name);
      stats.push(this.toStat(inodeOf(entry)));
    }
    return { names, stats };
  }

  // ---- extended attributes ---------------------------------------------------------------------------------

  async setxattr(path: string, name: string, value: Buffer, flags: number): Promise<void> {
    const bytes = xattrName(name);
    const copy = Buffer.from(value);
    const ino = await this.resolveIno(path);
    this.timesChanged(ino);
    await this.meta.setXattr(ino, bytes, copy, flags);
  }

  async getxattr(path: string, name: string): Promise<Buffer> {
    const bytes = xattrName(name);
    return this.meta.getXattr(await this.resolveIno(path), bytes);
  }

  async listxattr(path: string): Promise<Buffer[]> {
    return this.meta.listXattr(await this.resolveIno(path));
  }

  async removexattr(path: string, name: string): Promise<void> {
    const bytes = xattrName(name);
    const ino = await this.resolveIno(path);
    this.timesChanged(ino);
    await this.meta.removeXattr(ino, bytes);
  }

  // ---- files -------------------------------------------------------------------------------------------------

  async create(
    path: string,
    mode: number,
    flags: number,
    owner: Credentials = this.options.defaultOwner,
  ): Promise<number> {
    const { parent, name } = await this.parentOf(path);
    const inode = await this.meta.create(parent, name, { mode: mode & 0o7777, ...owner });
    return this.openInode(inode, flags);
  }

  async open(path: string, flags: number): Promise<number> {
    const inode = await this.resolve(path);
    if (inode.type === 'dir') {
      const access = flags & O_ACCMODE;
      if (access === O_WRONLY || access === O_RDWR) {
        throw new FsError('EISDIR');
      }
    }
    return this.openInode(inode, flags);
  }

  private async openInode(inode: InodeRecord, flags: number): Promise<number> {
    const access = flags & O_ACCMODE;
    const writable = inode.type === 'file' && (access === O_WRONLY || access === O_RDWR);
    // Before the size is read: a pull replacing the file's content finishes first, and none starts until release.
    const leaveWriters = writable ? await this.localContent.enterWriter(inode.ino) : undefined;
    let opened: Awaited<ReturnType<MetadataStore['open']>>;
    try {
      opened = await this.meta.open(inode.ino);
    } catch (error) {
      leaveWriters?.();
      throw error;
    }
    let cached = this.openInodes.get(inode.ino);
    if (cached === undefined) {
      cached = new CachedFileInode(inode.ino, opened.size);
      this.openInodes.set(inode.ino, cached);
    }
    cached.openHandles++;
    const fh = this.nextFh++;
    this.handles.set(fh, new CachedFileHandle(fh, cached, flags, leaveWriters));
    return fh;
  }

  private handle(fh: number): CachedFileHandle {
    const handle = this.handles.get(fh);
    if (handle === undefined) {
      throw new FsError('EBADF', `no open file ${fh}`);
    }
    return handle;
  }

  async read(fh: number, length: number, position: number): Promise<Buffer> {
    const { inode } = this.handle(fh);
    const fileSize = inode.pending?.size ?? inode.size;
    const remote = this.options.remoteBlocks;
    const data = remote
      ? await remote.read(fh, inode.ino, position, length, fileSize)
      : await this.cache.read(inode.ino, position, length, fileSize);
    if (!inode.atimeChecked) {
      // Before answering: the kernel drops its cached atime when the read completes and asks us again.
      inode.atimeChecked = true;
      const touched = await this.meta.getInode(inode.ino).then((record) =>
        this.touchAtime({
          ...record,
          mtime: inode.pending?.mtime ?? record.mtime,
          ctime:
            inode.pending && compareTime(inode.pending.mtime, record.ctime) > 0 ? inode.pending.mtime : record.ctime,
        }),
      );
      if (touched === null) {
        inode.atimeChecked = false;
      }
    }
    return data;
  }

  /**
   * Reading a file or listing a directory updates its atime as Linux's default relatime does: only when atime is not
   * newer than mtime or ctime, or is a day old. FUSE leaves atime to the filesystem (the kernel never sends these
   * updates itself). Returns the updated inode, undefined when atime was already current, or null when the update
   * failed: a lost atime update must never fail the read, listing or readlink that caused it.
   */
  private async touchAtime(inode: InodeRecord): Promise<InodeRecord | undefined | null> {
    const now = this.now();
    const stale =
      compareTime(inode.atime, inode.mtime) <= 0 ||
      compareTime(inode.atime, inode.ctime) <= 0 ||
      now.sec - inode.atime.sec >= RELATIME_MAX_AGE_SEC;
    if (!stale) {
      return undefined;
    }
    // The store's clock, the one that set ctime, so the next read finds atime newer and leaves it alone.
    return this.meta.setattr(inode.ino, { atime: 'now', accessOnly: true }).catch(() => null);
  }

  /** The inode's mtime or ctime changed: the next read must look at atime again. */
  private timesChanged(ino: number): void {
    const open = this.openInodes.get(ino);
    if (open) {
      open.atimeChecked = false;
    }
  }

  /** `data` must be owned by the caller already (FsOps copies the kernel's buffer before any await). */
  async write(fh: number, data: Buffer, position: number): Promise<number> {
    const handle = this.handle(fh);
    const inode = handle.inode;
    const offset = handle.append ? (inode.pending?.size ?? inode.size) : position;
    if (!Number.isSafeInteger(offset + data.length)) {
      throw new FsError('EFBIG');
    }
    await this.cache.write(inode.ino, offset, data, this.options.remoteBlocks?.fetcher(inode.ino));
    const size = Math.max(inode.pending?.size ?? inode.size, offset + data.length);
    inode.size = size;
    inode.pending = { size, mtime: this.now() };
    inode.atimeChecked = false;
    return data.length;
  }

  /**
   * close(2) of one descriptor. In writeback mode its data and size survive a crash of RiverFS when it returns (in
   * the cache files and committed), not a crash of the machine: that is fsync's.
   */
  async flush(fh: number): Promise<void> {
    const handle = this.handle(fh);
    const { inode } = handle;
    await this.persist(inode);
    if (handle.writable) {
      await this.options.syncPoint?.(inode.ino);
    }
  }

  /**
   * fsync(2) and fdatasync(2) (both: the size, which fdatasync must keep, lives in the same row as the times): the
   * file's data and metadata survive a crash of the machine when it returns. Cache files first, then the record
   * of their size, then the database's durable point, which covers that record and every change committed before.
   */
  async fsync(fh: number): Promise<void> {
    const { inode } = this.handle(fh);
    await this.cache.fsync(inode.ino);
    await this.persist(inode);
    // lazytime: a read's access time waits in memory until fsync of the inode (or the timer, or unmount).
    await this.meta.persistAccessTime(inode.ino);
    await this.meta.makeDurable();
    await this.options.syncPoint?.(inode.ino);
  }

  /**
   * fsyncdir(2): the directory's entries survive a crash of the machine. Every namespace change is committed before
   * its reply, so the database's durable point covers them all.
   */
  async fsyncdir(): Promise<void> {
    await this.meta.makeDurable();
  }

  /**
   * The persist point of a file (close, fsync, truncate and unmount): what writes left in memory, its size and
   * mtime, is recorded; its bytes are in the cache files already. Every path that clears `pending` comes here, so a
   * file is never recorded as persisted while the cache still counts its blocks as unrecorded (the sync worker would
   * then wait forever for writes no close will persist).
   */
  private async persist(inode: CachedFileInode): Promise<void> {
    if (!inode.pending && !this.cache.hasUnpersistedWrites(inode.ino)) {
      return;
    }
    this.cache.persist(inode.ino);
    const pending = inode.pending;
    if (!pending) {
      return;
    }
    inode.pending = undefined;
    try {
      await this.meta.recordContentChange(inode.ino, { size: pending.size, mtime: pending.mtime });
    } catch (error) {
      // Keep it pending so a later flush retries; writes made meanwhile may have set a newer value.
      inode.pending ??= pending;
      throw error;
    }
    this.options.onContentPersisted?.(inode.ino);
  }

  async release(fh: number): Promise<void> {
    const handle = this.handle(fh);
    this.handles.delete(fh);
    const inode = handle.inode;
    inode.openHandles--;
    try {
      await this.persist(inode);
      if (handle.writable) {
        await this.options.syncPoint?.(inode.ino);
      }
    } finally {
      if (inode.openHandles === 0) {
        this.openInodes.delete(inode.ino);
      }
      try {
        const released = await this.meta.release(inode.ino);
        if (released.freed) {
          await this.cache.drop(inode.ino);
        }
      } finally {
        // Only now: what it wrote is recorded in SQL (the file is dirty there) or in dirty blocks.
        handle.leaveWriters();
      }
    }
  }

  async fallocate(fh: number, mode: number, offset: number, length: number): Promise<void> {
    const handle = this.handle(fh);
    const inode = handle.inode;
    if (!handle.writable) {
      throw new FsError('EBADF');
    }
    const size = inode.pending?.size ?? inode.size;
    if (mode === 0) {
      if (offset + length > size) {
        // Reserving space is meaningless for a cache that evicts: extend the file, which reads as zeros.
        inode.size = offset + length;
        inode.pending = { size: inode.size, mtime: inode.pending?.mtime ?? this.now() };
        inode.atimeChecked = false;
      }
      return;
    }
    if (mode === FALLOC_FL_KEEP_SIZE) {
      return;
    }
    if (mode === (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
      const end = Math.min(offset + length, size);
      if (end > offset) {
        const fetch = this.options.remoteBlocks?.fetcher(inode.ino);
        await this.cache.write(inode.ino, offset, Buffer.alloc(end - offset), fetch);
        inode.pending = { size, mtime: this.now() };
        inode.atimeChecked = false;
      }
      return;
    }
    throw new FsError('ENOTSUP', `fallocate mode ${mode}`);
  }

  /** Persists every open file's pending attributes (at unmount), durably: an unmount syncs, as a local one does. */
  async flushAll(): Promise<void> {
    for (const inode of this.openInodes.values()) {
      if (inode.pending) {
        await this.cache.fsync(inode.ino);
        await this.persist(inode);
      }
    }
    await this.meta.makeDurable();
  }

  openFileCount(): number {
    return this.handles.size;
  }
}

/**
 * The xattr namespaces a Linux filesystem keeps (ext4, tmpfs). FUSE hands every name to the filesystem, so the
 * checks the VFS leaves to ext4 are made here: another namespace is EOPNOTSUPP, a bare prefix EINVAL. (system.* ACLs
 * never get here: without FUSE_POSIX_ACL the kernel answers them itself.)
 */
const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.'];

function xattrName(name: string): Buffer {
  const bytes = Buffer.from(name, PATH_ENCODING);
  const namespace = XATTR_NAMESPACES.find((prefix) => name.startsWith(prefix));
  if (namespace === undefined) {
    throw new FsError('ENOTSUP', `xattr namespace of "${bytes.toString()}"`);
  }
  if (name.length === namespace.length) {
    throw new FsError('EINVAL', `xattr name "${name}" has nothing after its namespace`);
  }
  return bytes;
}

function inodeOf(entry: DirEntryRecord): InodeRecord {
  if (!entry.inode) {
    throw new Error('readdir was asked for attributes but returned none');
  }
  return entry.inode;
}

export function typeFromMode(mode: number): InodeType {
  switch (mode & S_IFMT) {
    case 0:
    case TYPE_BITS.file:
      return 'file';
    case TYPE_BITS.dir:
      return 'dir';
    case TYPE_BITS.symlink:
      return 'symlink';
    case TYPE_BITS.fifo:
      return 'fifo';
    case TYPE_BITS.socket:
      return 'socket';
    case TYPE_BITS.char:
      return 'char';
    case TYPE_BITS.block:
      return 'block';
    default:
      throw new FsError('EINVAL', `unknown file type in mode ${mode.toString(8)}`);
  }
}

function compareTime(a: Timespec, b: Timespec): number {
  return a.sec !== b.sec ? a.sec - b.sec : a.nsec - b.nsec;
}
