import { FsError } from '../common/errors/fs-error';
import type { BlockCache, BlockFetcher } from '../cache/block-cache';
import type { LocalContentGate } from '../cache/local-content-gate';
import type { MetadataStore } from '../metadata/metadata.store';
import type { InodeRecord, Timespec } from '../metadata/metadata.types';
import { compareTime } from './fs-stat';

const O_ACCMODE = 3;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_APPEND = 0o2000;
const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;
/** relatime refreshes an atime that is newer than mtime and ctime once it is this old (Linux: a day). */
const RELATIME_MAX_AGE_SEC = 24 * 60 * 60;

export function writableFlags(flags: number): boolean {
  const access = flags & O_ACCMODE;
  return access === O_WRONLY || access === O_RDWR;
}

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
    return writableFlags(this.flags);
  }

  get append(): boolean {
    return (this.flags & O_APPEND) !== 0;
  }
}

/** Blocks the cache lacks, from Tahoe (RemoteBlocks); without it they read as holes. */
export interface RemoteBlockReader {
  fetcher(ino: number): BlockFetcher;
  /**
   * A handle's read: cached blocks from the cache, the others streamed from the file's cap (with read-ahead). `into`:
   * where the bytes may go; the answer may be a view of it.
   */
  read(fh: number, ino: number, position: number, length: number, fileSize: number, into?: Buffer): Promise<Buffer>;
  /** Handle `fh` of `ino` was closed: what its reads kept going (a read position, a streaming GET) can stop. */
  release(fh: number, ino: number): void;
}

export interface OpenFilesOptions {
  now: () => Timespec;
  localContent: LocalContentGate;
  syncPoint?: (ino: number) => Promise<void>;
  remoteBlocks?: RemoteBlockReader;
}

/**
 * The open files of a RiverFs: handles, the unpersisted size and mtime of files being written, and the calls that go
 * through a handle (read, write, flush, fsync, release, fallocate). Also the one owner of relatime (touchAtime).
 */
export class OpenFiles {
  private readonly handles = new Map<number, CachedFileHandle>();
  private readonly openInodes = new Map<number, CachedFileInode>();
  private nextFh = 1;

  constructor(
    private readonly meta: MetadataStore,
    private readonly cache: BlockCache,
    private readonly options: OpenFilesOptions,
  ) {}

  /** What writes left in memory for `ino`, if it is open. */
  cached(ino: number): CachedFileInode | undefined {
    return this.openInodes.get(ino);
  }

  /** The inode a handle is open on, or undefined for an unknown handle (fh 0 of a directory, a stale one). */
  inoOf(fh: number): number | undefined {
    return this.handles.get(fh)?.inode.ino;
  }

  count(): number {
    return this.handles.size;
  }

  /** `created`: `inode` is what a create just returned (MetadataStore.openCreated). */
  async open(inode: InodeRecord, flags: number, created = false): Promise<number> {
    const writable = inode.type === 'file' && writableFlags(flags);
    // Before the size is read: a pull replacing the file's content finishes first, and none starts until release.
    const leaveWriters = writable ? await this.options.localContent.enterWriter(inode.ino) : undefined;
    let opened: InodeRecord;
    try {
      opened = created ? await this.meta.openCreated(inode) : await this.meta.open(inode.ino);
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

  handle(fh: number): CachedFileHandle {
    const handle = this.handles.get(fh);
    if (handle === undefined) {
      throw new FsError('EBADF', `no open file ${fh}`);
    }
    return handle;
  }

  /** `into`: where the bytes may go (at least `length` long); the answer may be a view of it. */
  async read(fh: number, length: number, position: number, into?: Buffer): Promise<Buffer> {
    const { inode } = this.handle(fh);
    const fileSize = inode.pending?.size ?? inode.size;
    const remote = this.options.remoteBlocks;
    const data = remote
      ? await remote.read(fh, inode.ino, position, length, fileSize, into)
      : await this.cache.read(inode.ino, position, length, fileSize, undefined, into);
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
  async touchAtime(inode: InodeRecord): Promise<InodeRecord | undefined | null> {
    const now = this.options.now();
    const stale =
      compareTime(inode.atime, inode.mtime) <= 0 ||
      compareTime(inode.atime, inode.ctime) <= 0 ||
      now.sec - inode.atime.sec >= RELATIME_MAX_AGE_SEC;
    if (!stale) {
      return undefined;
    }
    // The store's clock, the one that set ctime, so the next read finds atime newer and leaves it alone.
    return this.meta.touchAccessTime(inode).catch(() => null);
  }

  /**
   * A pull from Tahoe replaced the content of `ino` (it never does while this gateway writes it): an open file that
   * holds nothing unpersisted takes the new size, so reads through its handles see the new content, as a local file
   * rewritten in place is seen through every descriptor.
   */
  async remoteChanged(ino: number): Promise<void> {
    const open = this.openInodes.get(ino);
    if (open === undefined || open.pending !== undefined) {
      return;
    }
    const record = await this.meta.getInode(ino);
    if (open.pending === undefined) {
      open.size = record.size;
      open.atimeChecked = false;
    }
  }

  /** The inode's mtime or ctime changed: the next read must look at atime again. */
  timesChanged(ino: number): void {
    const open = this.openInodes.get(ino);
    if (open) {
      open.atimeChecked = false;
    }
  }

  /** `data` must be owned by the caller already (the FUSE adapters copy or own the kernel's buffer). */
  async write(fh: number, data: Buffer, position: number): Promise<number> {
    const handle = this.handle(fh);
    const inode = handle.inode;
    const offset = handle.append ? (inode.pending?.size ?? inode.size) : position;
    if (!Number.isSafeInteger(offset + data.length)) {
      throw new FsError('EFBIG');
    }
    await this.cache.write(inode.ino, offset, data, this.fetcherWithin(inode));
    const size = Math.max(inode.pending?.size ?? inode.size, offset + data.length);
    inode.size = size;
    inode.pending = { size, mtime: this.options.now() };
    inode.atimeChecked = false;
    return data.length;
  }

  /**
   * What a partial-block write fetches of a block the cache lacks: the block from the file's cap, unless the block
   * lies wholly past the end of the file, where every byte is a hole whatever the cap holds (a truncate's hole floor
   * says the same). A new file's first write, and every appending write into a new block, would otherwise ask the
   * journal for the file's cap on the write path (a SQL read per small file, 60–130 µs measured).
   */
  private fetcherWithin(inode: CachedFileInode): BlockFetcher | undefined {
    const fetch = this.options.remoteBlocks?.fetcher(inode.ino);
    if (fetch === undefined) {
      return undefined;
    }
    const size = inode.pending?.size ?? inode.size;
    const blockSize = this.cache.blockSize;
    return (index) => (index * blockSize >= size ? Promise.resolve(undefined) : fetch(index));
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
   * The persist point of a file (close, fsync, truncate and unmount): what writes left in memory, its size and
   * mtime, is recorded; its bytes are in the cache files already. Every path that clears `pending` comes here, so a
   * file is never recorded as persisted while the cache still counts its blocks as unrecorded (the sync worker would
   * then wait forever for writes no close will persist).
   */
  async persist(inode: CachedFileInode): Promise<void> {
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
    this.meta.events.publish('contentCommitted', { ino: inode.ino });
  }

  /** Persists what writes left in memory for `ino`, if anything: before a change that must come after them. */
  async persistIno(ino: number): Promise<void> {
    const open = this.openInodes.get(ino);
    if (open?.pending) {
      await this.persist(open);
    }
  }

  /** The last close of one open(); the store frees an inode with no name left at its last release. */
  async release(fh: number): Promise<void> {
    const handle = this.handle(fh);
    this.handles.delete(fh);
    const inode = handle.inode;
    inode.openHandles--;
    this.options.remoteBlocks?.release(fh, inode.ino);
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
        inode.pending = { size: inode.size, mtime: inode.pending?.mtime ?? this.options.now() };
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
        await this.cache.write(inode.ino, offset, Buffer.alloc(end - offset), this.fetcherWithin(inode));
        inode.pending = { size, mtime: this.options.now() };
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
}
