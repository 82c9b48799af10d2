import type {
  ContentChange,
  DirEntryRecord,
  DirPage,
  FilesystemSettings,
  InodeRecord,
  MetadataStats,
  MknodOptions,
  Name,
  NewInodeOptions,
  ReaddirOptions,
  ReleaseResult,
  RemovedInode,
  RenameOptions,
  RenameResult,
  RootOptions,
  SessionInfo,
  SessionOptions,
  SetAttrChanges,
  Credentials,
} from './metadata.types';
import type { MetadataEvents } from './metadata-events';

/**
 * The metadata port: the only way other modules read or change the filesystem's namespace and
 * attributes. Every mutation is one database transaction with POSIX semantics; failures a local
 * filesystem would report are FsError with the errno Linux gives.
 *
 * Permission checks (EACCES, sticky directories) are not made here: the kernel makes them
 * (FUSE default_permissions) from the attributes this store returns.
 */
export abstract class MetadataStore {
  /** Where the changes made behind the mount's own calls are published (metadata-events.ts). */
  abstract readonly events: MetadataEvents;

  // ---- filesystem and sessions -------------------------------------------------------------

  /**
   * Creates the root directory (inode 1) and the filesystem settings when the database is new, and
   * frees unlinked inodes no live session holds any more. Idempotent; returns the settings.
   */
  abstract initFilesystem(root: RootOptions): Promise<FilesystemSettings>;
  abstract getSettings(): Promise<FilesystemSettings>;
  /** Records the root dirnode's write cap (settings and the root inode). */
  abstract setRootCap(cap: string): Promise<void>;

  /** Registers this gateway; needed before open(). Returns the session id. */
  abstract openSession(info: SessionInfo, options?: SessionOptions): Promise<number>;
  /** Pushes this session's expiry forward; re-registers it (same id) if another gateway reaped it. */
  abstract heartbeat(): Promise<void>;
  /** Frees the inodes this session was keeping open and removes the session. */
  abstract closeSession(): Promise<void>;
  /** Removes sessions whose expiry passed, freeing what only they kept open. Returns the freed inodes. */
  abstract reapExpiredSessions(): Promise<number[]>;

  // ---- reads ---------------------------------------------------------------------------------

  /** ENOENT when there is no such inode. */
  abstract getInode(ino: number): Promise<InodeRecord>;
  /** `.` is the directory itself, `..` its parent. ENOENT, ENOTDIR. */
  abstract lookup(parent: number, name: Name): Promise<InodeRecord>;
  /**
   * One page of a directory in a stable order (creation order; a renamed entry keeps its place).
   * `.` and `..` are not included. Entries added or removed while paging may or may not be seen (as
   * POSIX allows); every other entry is returned exactly once. ENOENT, ENOTDIR.
   */
  abstract readdir(dir: number, options?: ReaddirOptions): Promise<DirPage>;
  /** EINVAL when the inode is not a symlink. */
  abstract readlink(ino: number): Promise<Buffer>;
  /** ENODATA when absent. */
  abstract getXattr(ino: number, name: Name): Promise<Buffer>;
  abstract listXattr(ino: number): Promise<Buffer[]>;
  /**
   * Whether any inode (or, given `among`, any of those) has an xattr whose name starts with `prefix` (e.g.
   * `security.`). Without `among` it reads the whole xattr table.
   */
  abstract anyXattrWithPrefix(prefix: string, among?: readonly number[]): Promise<boolean>;

  // ---- namespace -----------------------------------------------------------------------------

  /** A regular file (O_CREAT|O_EXCL: EEXIST when the name exists). */
  abstract create(parent: number, name: Name, options: NewInodeOptions): Promise<InodeRecord>;
  abstract mkdir(parent: number, name: Name, options: NewInodeOptions): Promise<InodeRecord>;
  abstract mknod(parent: number, name: Name, options: MknodOptions): Promise<InodeRecord>;
  abstract symlink(parent: number, name: Name, target: Name, owner: Credentials): Promise<InodeRecord>;
  /** A new name for an existing non-directory (EPERM for a directory). Returns the updated inode. */
  abstract link(ino: number, newParent: number, newName: Name): Promise<InodeRecord>;
  abstract unlink(parent: number, name: Name): Promise<RemovedInode>;
  abstract rmdir(parent: number, name: Name): Promise<RemovedInode>;
  abstract rename(
    parent: number,
    name: Name,
    newParent: number,
    newName: Name,
    options?: RenameOptions,
  ): Promise<RenameResult>;

  // ---- attributes ------------------------------------------------------------------------------

  /**
   * chmod, chown, truncate, utimens in one; ctime becomes now. Returns the updated inode. A size that
   * differs from the stored one marks the data dirty and bumps contentVersion; the same size leaves the
   * content alone. A write path that holds a newer size in memory persists it with recordContentChange.
   */
  abstract setattr(ino: number, changes: SetAttrChanges): Promise<InodeRecord>;
  /**
   * Persists what the write path kept in memory for an open regular file (at flush, fsync, release): the
   * size exactly, mtime, ctime = now; marks the data dirty and bumps contentVersion, even when the size is
   * unchanged (the bytes changed). Locks only this inode's row, so it may be called on every flush. Works
   * on an unlinked inode that is still open. ENOENT, EISDIR; EINVAL for another type or a bad size or time.
   */
  abstract recordContentChange(ino: number, change: ContentChange): Promise<InodeRecord>;
  /**
   * The durable sync point of fsync, fdatasync and fsyncdir: returns once every change committed so far would
   * survive a crash of the machine (a commit alone survives a crash of RiverFS).
   */
  abstract makeDurable(): Promise<void>;
  /** flags: 0, XATTR_CREATE (EEXIST if present) or XATTR_REPLACE (ENODATA if absent). */
  abstract setXattr(ino: number, name: Name, value: Buffer, flags?: number): Promise<void>;
  abstract removeXattr(ino: number, name: Name): Promise<void>;

  /**
   * Writes what the store keeps of the inode in memory only, the access time a read set (lazytime), to the
   * database: fsync of the inode calls it. Stores that keep nothing in memory have nothing to do.
   */
  persistAccessTime(_ino: number): Promise<void> {
    return Promise.resolve();
  }

  /**
   * relatime's update of `inode` (a fresh record the caller holds): its atime becomes now. Stores that keep access
   * times in memory (lazytime) need not read the row to do it; the default is an access-only setattr.
   */
  touchAccessTime(inode: InodeRecord): Promise<InodeRecord> {
    return this.setattr(inode.ino, { atime: 'now', accessOnly: true });
  }

  // ---- open handles ------------------------------------------------------------------------------

  /** Counts an open handle: an inode that loses its last name while open is kept until release. */
  abstract open(ino: number): Promise<InodeRecord>;
  /**
   * `open` of the inode a create just returned, which nothing can have unlinked since (the kernel holds the
   * directory locked across a create and its open): stores that can count the handle without reading the row again
   * do. The default reads it.
   */
  openCreated(created: InodeRecord): Promise<InodeRecord> {
    return this.open(created.ino);
  }
  abstract release(ino: number): Promise<ReleaseResult>;

  // ---- operations --------------------------------------------------------------------------------

  abstract stats(): MetadataStats;
  /** Closes the session (if any) and the database connection. */
  abstract close(): Promise<void>;

  /** Every entry of a directory, fetched a page at a time (never the whole directory at once). */
  async *entries(dir: number, options: { pageSize?: number; plus?: boolean } = {}): AsyncGenerator<DirEntryRecord> {
    let after = 0;
    for (;;) {
      const page = await this.readdir(dir, { after, limit: options.pageSize ?? 1000, plus: options.plus });
      yield* page.entries;
      if (page.next === null) {
        return;
      }
      after = page.next;
    }
  }
}
