/**
 * What a filesystem served through the FUSE low-level binding implements, and what it answers with.
 *
 * Requests name inodes by number: the kernel's node id is the filesystem's own inode number (1 is the root). Every
 * reply that hands the kernel an inode (lookup, mknod, mkdir, symlink, link, create, and each readdirplus entry
 * accepted into a reply) adds one to that inode's lookup count; `forget` takes counts away. An inode must stay
 * answerable while its count is above zero, even when it has no name left.
 *
 * Names are strings: UTF-8, or latin1 (one char per byte) when the mount was made with `byteNames`.
 *
 * A handler returns its answer, or a Promise of it, or throws (rejects) with an errno: a `FuseError`, or any Node
 * error carrying `errno`/`code` (fs errors do); anything else is answered EIO and reported.
 */

export interface Timespec {
  sec: number;
  nsec: number;
}

export interface Attributes {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  rdev?: number;
  /** 512-byte blocks; computed from size when absent. */
  blocks?: number;
  blksize?: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

/** An inode handed to the kernel, with how long it may trust the name and the attributes (seconds). */
export interface Entry {
  attr: Attributes;
  entryTimeout: number;
  attrTimeout: number;
  /** Changes when an inode number is reused (NFS export); 0 otherwise. */
  generation?: number;
}

export interface AttributesReply {
  attr: Attributes;
  attrTimeout: number;
}

/** What open/opendir/create answer besides the handle. */
export interface OpenOptions {
  /** Bypass the page cache for this open (every read and write comes to us). */
  directIo?: boolean;
  /** Keep the pages cached from earlier opens: the file has not changed since. */
  keepCache?: boolean;
  nonSeekable?: boolean;
  /** opendir only: the kernel may cache this directory's listing. */
  cacheReaddir?: boolean;
  /**
   * No FLUSH when a descriptor of this open is closed (FOPEN_NOFLUSH, Linux 5.16; ignored with the writeback cache).
   * FLUSH is also where the kernel asks to drop the closing process's POSIX locks: a filesystem that keeps locks
   * and sets this must drop them itself, at release.
   */
  noFlush?: boolean;
}

export interface OpenReply extends OpenOptions {
  fh: number;
}

export type CreateReply = Entry & OpenReply;

/** Who made the request (as the kernel saw them). */
export interface RequestContext {
  uid: number;
  gid: number;
  pid: number;
  umask: number;
}

/** Which attributes setattr changes; absent ones stay. 'now' is the kernel's UTIME_NOW. */
export interface AttributeChanges {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: Timespec | 'now';
  mtime?: Timespec | 'now';
  ctime?: Timespec;
}

/** A POSIX record lock (fcntl): l_type, and a byte range; length 0 means "to the end of the file". */
export interface RecordLock {
  /** F_RDLCK, F_WRLCK or F_UNLCK (from node:fs constants or `LockType`). */
  type: number;
  start: number;
  length: number;
  pid: number;
}

export const LockType = { read: 0, write: 1, unlock: 2 } as const;

/** flock(2) operation bits. */
export const FlockOperation = { shared: 1, exclusive: 2, nonBlocking: 4, unlock: 8 } as const;

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail?: number;
  namemax: number;
}

/** One entry for a readdir reply; `nextOffset` is what the kernel passes back to continue after it. */
export interface DirectoryEntry {
  name: string;
  ino: number;
  /** Only the file type bits (S_IFMT) are used. */
  mode: number;
  nextOffset: number;
}

export interface DirectoryPlusEntry {
  name: string;
  entry: Entry;
  nextOffset: number;
}

/**
 * The reply being built for readdir/readdirplus, `size` bytes at most. `add` returns false when the entry does not
 * fit: stop there. For readdirplus every entry `add` accepted (except "." and "..") counts as a lookup.
 */
export interface DirectoryFiller {
  add(entry: DirectoryEntry): boolean;
}
export interface DirectoryPlusFiller {
  add(entry: DirectoryPlusEntry): boolean;
}

export type Answer<T> = T | Promise<T>;

/** The filesystem. Absent operations answer ENOSYS (for locks: the kernel then keeps them locally). */
export interface LowLevelFilesystem {
  init?(): void;
  /** The mount is gone (unmounted by us or by anyone else); no request follows. */
  destroy?(): void;

  lookup(ctx: RequestContext, parent: number, name: string): Answer<Entry>;
  /** The kernel dropped `count` references to `ino` (there is no reply). */
  forget?(ino: number, count: number): void;
  getattr(ctx: RequestContext, ino: number, fh: number | undefined): Answer<AttributesReply>;
  setattr?(
    ctx: RequestContext,
    ino: number,
    changes: AttributeChanges,
    fh: number | undefined,
  ): Answer<AttributesReply>;
  readlink?(ctx: RequestContext, ino: number): Answer<string>;
  mknod?(ctx: RequestContext, parent: number, name: string, mode: number, rdev: number): Answer<Entry>;
  mkdir?(ctx: RequestContext, parent: number, name: string, mode: number): Answer<Entry>;
  unlink?(ctx: RequestContext, parent: number, name: string): Answer<void>;
  rmdir?(ctx: RequestContext, parent: number, name: string): Answer<void>;
  symlink?(ctx: RequestContext, parent: number, name: string, target: string): Answer<Entry>;
  /** flags: RENAME_NOREPLACE (1), RENAME_EXCHANGE (2). */
  rename?(
    ctx: RequestContext,
    parent: number,
    name: string,
    newParent: number,
    newName: string,
    flags: number,
  ): Answer<void>;
  link?(ctx: RequestContext, ino: number, newParent: number, newName: string): Answer<Entry>;
  open?(ctx: RequestContext, ino: number, flags: number): Answer<OpenReply>;
  /**
   * Answer with the bytes read: a Buffer (or a view into one) that becomes the reply as it is, without a copy.
   * Shorter than `size` means end of file (unless the open was direct_io). `into` (`size` bytes) is the binding's
   * reply storage, reused for later replies: read into it and answer with a view of it to spare an allocation, and
   * keep no reference to it once answered.
   */
  read?(ctx: RequestContext, ino: number, fh: number, size: number, offset: number, into: Buffer): Answer<Buffer>;
  /** `data` is ours to keep. `fromPageCache`: a delayed write of the kernel's writeback cache. */
  write?(
    ctx: RequestContext,
    ino: number,
    fh: number,
    data: Buffer,
    offset: number,
    fromPageCache: boolean,
  ): Answer<number>;
  /** Called at each close of a descriptor; POSIX locks of `lockOwner` end here. */
  flush?(ctx: RequestContext, ino: number, fh: number, lockOwner: bigint): Answer<void>;
  /** The last descriptor of this open is gone. `flockRelease`: release the flock of `lockOwner`. */
  release?(
    ctx: RequestContext,
    ino: number,
    fh: number,
    flags: number,
    lockOwner: bigint,
    flockRelease: boolean,
  ): Answer<void>;
  fsync?(ctx: RequestContext, ino: number, fh: number, dataOnly: boolean): Answer<void>;
  opendir?(ctx: RequestContext, ino: number, flags: number): Answer<OpenReply>;
  readdir?(ctx: RequestContext, ino: number, fh: number, offset: number, out: DirectoryFiller): Answer<void>;
  /** When present, the kernel uses it instead of readdir for listings (attributes come with the names). */
  readdirplus?(ctx: RequestContext, ino: number, fh: number, offset: number, out: DirectoryPlusFiller): Answer<void>;
  releasedir?(ctx: RequestContext, ino: number, fh: number): Answer<void>;
  fsyncdir?(ctx: RequestContext, ino: number, fh: number, dataOnly: boolean): Answer<void>;
  statfs?(ctx: RequestContext, ino: number): Answer<StatFs>;
  setxattr?(ctx: RequestContext, ino: number, name: string, value: Buffer, flags: number): Answer<void>;
  getxattr?(ctx: RequestContext, ino: number, name: string): Answer<Buffer>;
  listxattr?(ctx: RequestContext, ino: number): Answer<string[]>;
  removexattr?(ctx: RequestContext, ino: number, name: string): Answer<void>;
  access?(ctx: RequestContext, ino: number, mask: number): Answer<void>;
  create?(ctx: RequestContext, parent: number, name: string, mode: number, flags: number): Answer<CreateReply>;
  /** The first lock that conflicts with `lock`, or undefined when none does. */
  getlk?(
    ctx: RequestContext,
    ino: number,
    fh: number,
    lockOwner: bigint,
    lock: RecordLock,
  ): Answer<RecordLock | undefined>;
  /**
   * Take or release (type F_UNLCK) a lock; with `wait`, resolve only once it is granted. Conflict: EAGAIN.
   * `interrupted` aborts when the caller got a signal (Ctrl-C): a waiting request then fails with EINTR.
   */
  setlk?(
    ctx: RequestContext,
    ino: number,
    fh: number,
    lockOwner: bigint,
    lock: RecordLock,
    wait: boolean,
    interrupted: AbortSignal,
  ): Answer<void>;
  /** `operation`: FlockOperation bits. Conflict without wait (nonBlocking): EWOULDBLOCK. `interrupted`: as setlk. */
  flock?(
    ctx: RequestContext,
    ino: number,
    fh: number,
    lockOwner: bigint,
    operation: number,
    interrupted: AbortSignal,
  ): Answer<void>;
  fallocate?(ctx: RequestContext, ino: number, fh: number, mode: number, offset: number, length: number): Answer<void>;
  copyFileRange?(
    ctx: RequestContext,
    source: { ino: number; fh: number; offset: number },
    target: { ino: number; fh: number; offset: number },
    length: number,
    flags: number,
  ): Answer<number>;
}

/** A failure with a specific errno (positive, as in <errno.h>; node:os constants.errno has them). */
export class FuseError extends Error {
  constructor(
    readonly errno: number,
    message?: string,
  ) {
    super(message ?? `FUSE error ${errno}`);
    this.name = 'FuseError';
  }

  /**
   * An answer rather than a fault (ENOENT from a lookup, ENODATA from a getxattr), made without capturing a stack:
   * nothing reads it, and `ls -l` or a build asks for missing names and attributes thousands of times a second.
   */
  static answer(errno: number, message?: string): FuseError {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new FuseError(errno, message);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}
