/**
 * The vocabulary of the MetadataStore port: what other modules see. No TypeORM type appears here, so
 * callers never depend on how (or in which database) the metadata is kept.
 */

/** Inode number of the root directory. */
export const ROOT_INO = 1;

/** Longest name of a directory entry, in bytes (Linux NAME_MAX). */
export const NAME_MAX = 255;

/**
 * Longest symlink target, in bytes. The issue fixes it at 4096 (the column's size); Linux itself stops at
 * 4095 because its PATH_MAX counts the terminating NUL, so the kernel never hands us a longer one.
 */
export const SYMLINK_MAX = 4096;

/** Longest extended attribute name (Linux XATTR_NAME_MAX) and value (XATTR_SIZE_MAX), in bytes. */
export const XATTR_NAME_MAX = 255;
export const XATTR_SIZE_MAX = 65536;

/** setxattr(2) flags, with Linux's values so FUSE's flags can be passed through unchanged. */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

/** Version of the on-database layout written by this code; a newer one refuses to open. */
export const FORMAT_VERSION = 1;

export const INODE_TYPES = ['file', 'dir', 'symlink', 'fifo', 'socket', 'char', 'block'] as const;
export type InodeType = (typeof INODE_TYPES)[number];

/** Types mknod(2) may create. */
export type MknodType = Extract<InodeType, 'file' | 'fifo' | 'socket' | 'char' | 'block'>;

/**
 * Where an inode stands with respect to Tahoe. `dirty` is set by every namespace or attribute change; the
 * sync worker moves it through `syncing` to `synced` (or `failed`, retried later).
 */
export const SYNC_STATES = ['dirty', 'syncing', 'synced', 'failed'] as const;
export type SyncState = (typeof SYNC_STATES)[number];

/**
 * A point in time with nanosecond precision. Kept as two numbers rather than one bigint of nanoseconds:
 * a JavaScript number holds only ~104 days of nanoseconds exactly, and fuse-native, fs.Stats and Tahoe's
 * edge metadata all think in seconds plus a fraction anyway.
 */
export interface Timespec {
  /** Whole seconds since the epoch; negative before 1970. */
  sec: number;
  /** 0 ≤ nsec < 1e9. */
  nsec: number;
}

/** Who is creating something: the owner a new inode gets (from the FUSE request context). */
export interface Credentials {
  uid: number;
  gid: number;
}

/**
 * One inode: POSIX attributes plus the sync bookkeeping of DESIGN.md §3. Inode numbers and sizes are
 * plain numbers: SQL keeps them as BIGINT, but every value we produce stays far below 2^53 (auto-increment
 * inode numbers, file sizes below 8 PiB), and numbers are what fs.Stats and fuse-native expect.
 */
export interface InodeRecord {
  ino: number;
  type: InodeType;
  /** Permission bits only (0o7777, including setuid, setgid and sticky); the file type is in `type`. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Files: number of names. Directories: 2 + number of subdirectories, as on Linux. 0 once unlinked. */
  nlink: number;
  rdev: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  /** Directories only: the directory holding it (the root's is itself); null for other types. */
  parent: number | null;
  /** Bumped whenever the file's content changes; the cache and the sync worker key versions on it. */
  contentVersion: number;
  /** Strongest Tahoe cap last synced (dirnode write cap for a directory, CHK/LIT cap for a file). */
  writeCap: string | null;
  /** Read-only cap last synced. */
  readCap: string | null;
  /** The contentVersion the caps above were made from; null before the first upload. */
  syncedContentVersion: number | null;
  syncState: SyncState;
  /** File content differs from what Tahoe holds. */
  dataDirty: boolean;
  /** Attributes carried in edge metadata (mode, owner, times, xattrs) differ from Tahoe's. */
  attrDirty: boolean;
  /** Directory entries differ from the dirnode's children. */
  entriesDirty: boolean;
  /** Milliseconds since the epoch when the inode first became dirty; null when clean. */
  dirtySince: number | null;
  /** Directories: milliseconds since the epoch of the last listing fetched from Tahoe; null if never. */
  listedAt: number | null;
}

/** A name as given by a caller: bytes, or a string taken as UTF-8. Names are compared byte for byte. */
export type Name = Buffer | string;

export interface DirEntryRecord {
  name: Buffer;
  ino: number;
  type: InodeType;
  /** Opaque, increasing position of this entry in its directory; pass it as `after` to continue. */
  cookie: number;
  /** Present when readdir was asked for attributes (`plus`). */
  inode?: InodeRecord;
}

export interface ReaddirOptions {
  /** Return entries after this cookie (0 or absent: from the start). */
  after?: number;
  /** Page size; at most 10 000. */
  limit?: number;
  /** Also return each entry's inode (readdirplus). */
  plus?: boolean;
}

export interface DirPage {
  entries: DirEntryRecord[];
  /** Cookie to pass as `after` for the next page, or null when the directory has no more entries. */
  next: number | null;
}

export interface NewInodeOptions extends Credentials {
  /** Permission bits; file type bits, if any, are ignored. */
  mode: number;
}

export interface MknodOptions extends NewInodeOptions {
  type: MknodType;
  /** Device number of a char or block device; ignored for other types. */
  rdev?: number;
}

/** What became of an inode that lost a name. */
export interface RemovedInode {
  ino: number;
  type: InodeType;
  /** Links left; 0 when it has no name any more. */
  nlink: number;
  /**
   * True when its rows were deleted now: the cache may drop its data. False while it still has names or
   * is still open (then `release()` reports the freeing).
   */
  freed: boolean;
}

export interface RenameOptions {
  /** RENAME_NOREPLACE: fail with EEXIST instead of replacing an existing destination. */
  noReplace?: boolean;
}

export interface RenameResult {
  /** The inode that was moved. */
  ino: number;
  /** The inode that lost the destination name, when one was replaced. */
  replaced: RemovedInode | null;
}

/** A time to set: an exact value, or "now" (UTIME_NOW). */
export type TimeChange = Timespec | 'now';

export interface SetAttrChanges {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: TimeChange;
  mtime?: TimeChange;
  /**
   * The access-time update that reading a file or listing a directory makes (relatime): only `atime` changes, ctime
   * stays and nothing is marked dirty (atime does not travel to Tahoe), as reading changes only atime on Linux. Only
   * `atime` may come with it.
   */
  accessOnly?: boolean;
}

/**
 * What the write path persists when an open file's cached bytes changed: at flush, fsync and release it
 * hands over the size and mtime it kept in memory. Not a truncate: the cache already holds the bytes, so
 * the size is taken as it is, larger or smaller.
 */
export interface ContentChange {
  size: number;
  mtime: TimeChange;
}

export interface ReleaseResult {
  /** True when this was the last handle of an unlinked inode and its rows were deleted. */
  freed: boolean;
}

export interface FilesystemSettings {
  /** Random UUID fixed when the filesystem was created; tells gateways they share the same one. */
  filesystemId: string;
  formatVersion: number;
  /** Write cap of the root dirnode; null until it is created or configured. */
  rootCap: string | null;
}

export interface RootOptions extends Credentials {
  /** Permission bits of the root directory when it is created. */
  mode: number;
}

export interface SessionInfo {
  host: string;
  pid: number;
  mountpoint?: string;
  version?: string;
}

/** How long a session stays alive without a heartbeat, unless openSession() is told otherwise. */
export const DEFAULT_SESSION_TTL_MS = 60_000;

export interface SessionOptions {
  /** How long the session stays alive without a heartbeat (default 60 s, 5 × a 12 s heartbeat). */
  ttlMs?: number;
}

export interface MetadataStats {
  /** Transactions committed. */
  transactions: number;
  /** Attempts rolled back and retried after a deadlock, a lock wait timeout or a busy database. */
  retries: number;
  /** The same, by cause: ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, SQLITE_BUSY. */
  retriesByCause: Record<string, number>;
  /** Attempts restarted because an entry changed between the optimistic read and the row locks. */
  restarts: number;
  /** Operations that gave up after the last retry. */
  exhausted: number;
}
