import { FsError } from '../common/errors/fs-error';
import type { BlockCache } from '../cache/block-cache';
import { LocalContentGate } from '../cache/local-content-gate';
import type { MetadataStore } from '../metadata/metadata.store';
import type { MetadataEvents } from '../metadata/metadata-events';
import type {
  Credentials,
  DirEntryRecord,
  InodeRecord,
  Name,
  RemovedInode,
  RenameResult,
  SetAttrChanges,
  Timespec,
} from '../metadata/metadata.types';
import { systemClock } from '../metadata/metadata-txn.util';
import { type FsStat, type FsStatfs, SECURITY_XATTR_PREFIX, TYPE_BITS, compareTime, typeFromMode } from './fs-stat';
import { inodeFigures } from './inode-usage';
import { OpenFiles, type RemoteBlockReader, writableFlags } from './open-files';

export { type FsStat, type FsStatfs, typeFromMode } from './fs-stat';
export { CachedFileHandle, CachedFileInode } from './open-files';

const O_TRUNC = 0o1000;

/** A time as utimens hands it over: exact, now (UTIME_NOW), or left alone (UTIME_OMIT). */
export type UtimeArg = Timespec | 'now' | 'omit';

/** What one setattr changes; absent fields stay (the low-level API's AttributeChanges, without ctime). */
export type InodeChanges = Pick<SetAttrChanges, 'mode' | 'uid' | 'gid' | 'size' | 'atime' | 'mtime'>;

export interface RiverFsOptions {
  /** Owner of new inodes when the caller's credentials are not known. */
  defaultOwner: Credentials;
  /** Capacity figures for statfs: the cache's limit and what is in use. */
  capacity: () => Promise<{ totalBytes: number; freeBytes: number }>;
  /** Inodes in use, for statfs's inode figures (see inode-usage.ts); 0 when absent. */
  inodesUsed?: () => number;
  now?: () => Timespec;
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
  remoteBlocks?: RemoteBlockReader;
}

/** One page of a directory listing, in the store's stable order. */
export interface ListingPage {
  entries: DirEntryRecord[];
  /** Cookie to continue after the last entry, or null at the end. */
  next: number | null;
}

/**
 * The executor: one place that carries out a filesystem call across the metadata store and the block cache, by
 * inode number and (parent, name), as the kernel names things. The FUSE adapters translate calls into these methods
 * (the low-level one directly, the high-level one through RiverPathFs, which resolves paths); errors are FsError
 * with the errno Linux would give.
 */
export class RiverFs {
  readonly files: OpenFiles;
  private readonly localContent: LocalContentGate;

  constructor(
    private readonly meta: MetadataStore,
    private readonly cache: BlockCache,
    private readonly options: RiverFsOptions,
  ) {
    // The metadata store's clock: a write's mtime and the ctime the store sets for it must come from one clock.
    const now = options.now ?? (() => systemClock.now());
    this.localContent = options.localContent ?? new LocalContentGate(cache);
    this.files = new OpenFiles(meta, cache, {
      now,
      localContent: this.localContent,
      syncPoint: options.syncPoint,
      remoteBlocks: options.remoteBlocks,
    });
  }

  get defaultOwner(): Credentials {
    return this.options.defaultOwner;
  }

  // ---- names -----------------------------------------------------------------------------------------------

  /** The inode `name` in `parent` names (the kernel has already checked search permission). */
  async lookup(parent: number | InodeRecord, name: Name): Promise<InodeRecord> {
    const dir = typeof parent === 'number' ? await this.meta.getInode(parent) : parent;
    const listing = this.options.ensureListed?.(dir);
    if (listing !== undefined) {
      await listing;
    }
    return this.meta.lookup(dir.ino, name);
  }

  inode(ino: number): Promise<InodeRecord> {
    return this.meta.getInode(ino);
  }

  // ---- attributes ------------------------------------------------------------------------------------------

  /** The attributes the kernel sees: what writes left in memory (size, mtime) over the stored record. */
  toStat(inode: InodeRecord): FsStat {
    const open = this.files.cached(inode.ino);
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

  /** By inode number: an open file that lost its last name still answers (the store keeps it while open). */
  async getattr(ino: number): Promise<FsStat> {
    return this.toStat(await this.meta.getInode(ino));
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

  /**
   * chmod, chown, truncate and utimens, alone or together (the low-level API sends them as one call). `fh`: the
   * handle a truncate comes through (ftruncate, open with O_TRUNC), which is a local writer already.
   */
  async setattr(ino: number, changes: InodeChanges, fh?: number): Promise<FsStat> {
    if (changes.size !== undefined) {
      await this.truncate(ino, changes.size, fh);
    }
    const rest: SetAttrChanges = {};
    if (changes.mode !== undefined) {
      rest.mode = changes.mode & 0o7777;
    }
    if (changes.uid !== undefined) {
      rest.uid = changes.uid;
    }
    if (changes.gid !== undefined) {
      rest.gid = changes.gid;
    }
    if (changes.atime !== undefined) {
      rest.atime = changes.atime;
    }
    if (changes.mtime !== undefined) {
      rest.mtime = changes.mtime;
      // An explicit mtime overrides what pending writes would persist later.
      await this.files.persistIno(ino);
    }
    if (Object.keys(rest).length === 0 && changes.size !== undefined) {
      return this.getattr(ino);
    }
    // Even with nothing to set (chown to -1, -1) ctime becomes now, as on Linux.
    this.files.timesChanged(ino);
    return this.toStat(await this.meta.setattr(ino, rest));
  }

  private async truncate(ino: number, size: number, fh: number | undefined): Promise<void> {
    if (fh !== undefined && this.files.inoOf(fh) === ino) {
      await this.truncateInode(await this.meta.getInode(ino), size);
      return;
    }
    // A local writer while it runs: a pull must not replace the file between the cut and its record in SQL.
    const leave = await this.localContent.enterWriter(ino);
    try {
      await this.truncateInode(await this.meta.getInode(ino), size);
    } finally {
      leave();
    }
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
    const open = this.files.cached(inode.ino);
    if (open?.pending) {
      await this.files.persist(open);
    }
    this.files.timesChanged(inode.ino);
    // Whatever size this gateway believes the file has: the cache drops everything past the new size itself. Its
    // cut is in the cache files when this returns (it survives a crash of RiverFS), before the new size is recorded.
    await this.cache.truncate(inode.ino, size);
    await this.meta.setattr(inode.ino, { size });
    if (open) {
      open.size = size;
    }
  }

  // ---- namespace -------------------------------------------------------------------------------------------

  mkdir(
    parent: number,
    name: Name,
    mode: number,
    owner: Credentials = this.options.defaultOwner,
  ): Promise<InodeRecord> {
    return this.meta.mkdir(parent, name, { mode: mode & 0o7777, ...owner });
  }

  async mknod(
    parent: number,
    name: Name,
    mode: number,
    rdev: number,
    owner: Credentials = this.options.defaultOwner,
  ): Promise<InodeRecord> {
    const type = typeFromMode(mode);
    if (type === 'dir' || type === 'symlink') {
      throw new FsError('EINVAL', 'mknod cannot create directories or symlinks');
    }
    return this.meta.mknod(parent, name, { type: type, mode: mode & 0o7777, rdev, ...owner });
  }

  symlink(
    parent: number,
    name: Name,
    target: Buffer,
    owner: Credentials = this.options.defaultOwner,
  ): Promise<InodeRecord> {
    return this.meta.symlink(parent, name, target, owner);
  }

  /** Also what following a symlink asks for: like Linux, both update the symlink's atime (relatime). */
  async readlink(ino: number): Promise<Buffer> {
    const link = await this.meta.getInode(ino);
    const target = await this.meta.readlink(ino);
    await this.files.touchAtime(link);
    return target;
  }

  link(ino: number, newParent: number, newName: Name): Promise<InodeRecord> {
    this.files.timesChanged(ino);
    return this.meta.link(ino, newParent, newName);
  }

  /** An inode that loses its last name while open lives on (nlink 0) until its last release. */
  async unlink(parent: number, name: Name): Promise<RemovedInode> {
    const removed = await this.meta.unlink(parent, name);
    this.files.timesChanged(removed.ino);
    if (removed.freed) {
      await this.cache.drop(removed.ino);
    }
    return removed;
  }

  rmdir(parent: number, name: Name): Promise<RemovedInode> {
    return this.meta.rmdir(parent, name);
  }

  async rename(
    parent: number,
    name: Name,
    newParent: number,
    newName: Name,
    options: { noReplace?: boolean } = {},
  ): Promise<RenameResult> {
    const result = await this.meta.rename(parent, name, newParent, newName, options);
    this.files.timesChanged(result.ino);
    if (result.replaced) {
      this.files.timesChanged(result.replaced.ino);
    }
    if (result.replaced?.freed) {
      await this.cache.drop(result.replaced.ino);
    }
    return result;
  }

  /** The directory `ino`, its Tahoe listing refreshed first when the pull says it is due (ENOTDIR otherwise). */
  private async listedDirectory(ino: number): Promise<InodeRecord> {
    const dir = await this.meta.getInode(ino);
    if (dir.type !== 'dir') {
      throw new FsError('ENOTDIR');
    }
    const listing = this.options.ensureListed?.(dir);
    if (listing !== undefined) {
      await listing;
    }
    return dir;
  }

  /**
   * One page of a directory: its entries after `after` (0: from the start), with their inodes when `plus`. The first
   * page (after 0) is where a listing starts: the pull refreshes the listing, and the directory's atime is touched.
   */
  async readdirPage(ino: number, after: number, limit: number, plus: boolean): Promise<ListingPage> {
    if (after === 0) {
      await this.files.touchAtime(await this.listedDirectory(ino));
    }
    return this.meta.readdir(ino, { after, limit, plus });
  }

  /** The whole listing with attributes, "." and ".." first (the high-level API asks for it in one call). */
  async readdir(ino: number): Promise<{ names: Buffer[]; stats: FsStat[] }> {
    const dir = await this.listedDirectory(ino);
    const listed = (await this.files.touchAtime(dir)) ?? dir;
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

  async setxattr(ino: number, name: Buffer, value: Buffer, flags: number): Promise<void> {
    const copy = Buffer.from(value);
    this.files.timesChanged(ino);
    await this.meta.setXattr(ino, name, copy, flags);
  }

  getxattr(ino: number, name: Buffer): Promise<Buffer> {
    return this.meta.getXattr(ino, name);
  }

  listxattr(ino: number): Promise<Buffer[]> {
    return this.meta.listXattr(ino);
  }

  /**
   * Whether any file (or, given `among`, any of those) has an xattr in the `security.` namespace (the mount answers
   * their absence itself).
   */
  anySecurityXattr(among?: readonly number[]): Promise<boolean> {
    return this.meta.anyXattrWithPrefix(SECURITY_XATTR_PREFIX, among);
  }

  async removexattr(ino: number, name: Buffer): Promise<void> {
    this.files.timesChanged(ino);
    await this.meta.removeXattr(ino, name);
  }

  // ---- files -------------------------------------------------------------------------------------------------

  async create(
    parent: number,
    name: Name,
    mode: number,
    flags: number,
    owner: Credentials = this.options.defaultOwner,
  ): Promise<{ inode: InodeRecord; fh: number }> {
    const inode = await this.meta.create(parent, name, { mode: mode & 0o7777, ...owner });
    return { inode, fh: await this.files.open(inode, flags, true) };
  }

  /** O_TRUNC comes here only when the kernel leaves it to us (FUSE's atomic_o_trunc): the cut goes by the handle. */
  async open(ino: number, flags: number): Promise<number> {
    const inode = await this.meta.getInode(ino);
    if (inode.type === 'dir' && writableFlags(flags)) {
      throw new FsError('EISDIR');
    }
    const fh = await this.files.open(inode, flags);
    if ((flags & O_TRUNC) !== 0 && inode.type === 'file' && writableFlags(flags)) {
      try {
        await this.setattr(ino, { size: 0 }, fh);
      } catch (error) {
        await this.files.release(fh);
        throw error;
      }
    }
    return fh;
  }

  /** `into`: where the bytes may go (the FUSE reply's storage); the answer may be a view of it. */
  read(fh: number, length: number, position: number, into?: Buffer): Promise<Buffer> {
    return this.files.read(fh, length, position, into);
  }

  write(fh: number, data: Buffer, position: number): Promise<number> {
    return this.files.write(fh, data, position);
  }

  flush(fh: number): Promise<void> {
    return this.files.flush(fh);
  }

  fsync(fh: number): Promise<void> {
    return this.files.fsync(fh);
  }

  release(fh: number): Promise<void> {
    return this.files.release(fh);
  }

  fallocate(fh: number, mode: number, offset: number, length: number): Promise<void> {
    return this.files.fallocate(fh, mode, offset, length);
  }

  /**
   * fsyncdir(2): the directory's entries survive a crash of the machine. Every namespace change is committed before
   * its reply, so the database's durable point covers them all.
   */
  async fsyncdir(): Promise<void> {
    await this.meta.makeDurable();
  }

  /** Persists every open file's pending attributes (at unmount), durably: an unmount syncs, as a local one does. */
  flushAll(): Promise<void> {
    return this.files.flushAll();
  }

  openFileCount(): number {
    return this.files.count();
  }

  /** The metadata layer's bus of changes made behind the mount's calls (a pull, the sync worker). */
  get events(): MetadataEvents {
    return this.meta.events;
  }

  /** A pull from Tahoe changed these inodes: open files take their new sizes (see OpenFiles.remoteChanged). */
  async remoteChanged(inos: readonly number[]): Promise<void> {
    for (const ino of inos) {
      await this.files.remoteChanged(ino).catch(() => undefined);
    }
  }

  /**
   * Takes one store-level hold on an inode, as an open does, without a handle: the low-level adapter keeps an
   * unlinked inode the kernel still knows alive until it forgets it. Undone by `unpin`.
   */
  async pin(ino: number): Promise<void> {
    await this.meta.open(ino);
  }

  async unpin(ino: number): Promise<void> {
    const released = await this.meta.release(ino);
    if (released.freed) {
      await this.cache.drop(ino);
    }
  }
}

function inodeOf(entry: DirEntryRecord): InodeRecord {
  if (!entry.inode) {
    throw new Error('readdir was asked for attributes but returned none');
  }
  return entry.inode;
}
