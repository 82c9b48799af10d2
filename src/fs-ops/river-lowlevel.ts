import type {
  AttributeChanges,
  Attributes,
  AttributesReply,
  CreateReply,
  DirectoryFiller,
  DirectoryPlusFiller,
  Entry,
  LowLevelFilesystem,
  OpenReply,
  RecordLock,
  RequestContext,
  StatFs,
} from '../fuse-lowlevel';
import { FileLockError, type FileLockService } from '../locks';
import type { Credentials, DirEntryRecord, InodeRecord } from '../metadata/metadata.types';
import { FsError } from '../common/errors/fs-error';
import { type FsStat, S_IFMT, SECURITY_XATTR_PREFIX, TYPE_BITS, xattrName } from './fs-stat';
import type { RiverFs } from './river-fs';
import type { SecurityXattrShortcut } from './security-xattr-shortcut';

/**
 * Names, symlink targets and xattr names cross the binding as latin1 strings, one char per byte (the mount asks for
 * `byteNames`): a name that is not UTF-8 is kept byte for byte, as on a local filesystem.
 */
export const NAME_ENCODING: BufferEncoding = 'latin1';
const RENAME_NOREPLACE = 1;
const O_ACCMODE = 3;
const O_RDONLY = 0;
const O_TRUNC = 0o1000;
/** Offsets of a listing: "." ends at 1, ".." at 2, an entry at its store cookie + 2 (cookies start above 0). */
const DOT_END = 1;
const DOTDOT_END = 2;
/**
 * Entries fetched from the store per page: about what one reply holds (the kernel asks for 4 KiB at a time; an entry
 * takes 24 bytes and its name, 152 with attributes), so a listing reads each entry from the store about once.
 */
const PAGE_ENTRIES = 128;
const PAGE_ENTRIES_PLUS = 32;

/**
 * How the mount runs each request: FuseService counts it in flight (drain at unmount), refuses it while stopping,
 * observes its duration and outcome (metrics), and turns a failure into the errno the one errno mapper gives.
 */
export type RequestRunner = <T>(op: string, subject: number, work: () => Promise<T>) => Promise<T>;

export interface RiverLowLevelOptions {
  /** Seconds the kernel may trust a name and an inode's attributes. */
  entryTimeoutSeconds: number;
  attrTimeoutSeconds: number;
  run: RequestRunner;
  /** A background step (releasing an inode the kernel forgot) failed. */
  onBackgroundError: (error: unknown, what: string) => void;
  /**
   * Keeps fcntl and flock locks (shared by every gateway on one state store). Without it the lock operations are
   * absent and the kernel keeps locks itself, within this mount only.
   */
  locks?: FileLockService;
  /** Keeps the binding's "no security.* xattr" shortcut right: setxattr of such a name goes through it. */
  securityXattrs?: SecurityXattrShortcut;
}

/** A refusal of the lock service as the errno FUSE answers (EWOULDBLOCK is EAGAIN on Linux). */
async function asFsError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof FileLockError) {
      throw new FsError(error.code === 'EWOULDBLOCK' ? 'EAGAIN' : error.code, error.message);
    }
    throw error;
  }
}

function owner(ctx: RequestContext): Credentials {
  return { uid: ctx.uid, gid: ctx.gid };
}

/** Permission bits after the caller's umask; the file type bits stay. */
function masked(mode: number, ctx: RequestContext): number {
  return (mode & S_IFMT) | (mode & ~ctx.umask & 0o7777);
}

function toAttributes(stat: FsStat): Attributes {
  return stat;
}

/**
 * RiverFs served through the FUSE low-level binding: the kernel's node id is our inode number, so no request walks
 * a path. Lookup counts are kept here: an inode that loses its last name while the kernel still knows it (an open
 * file unlinked or replaced) is held in the store until the kernel forgets it, on top of its open handles, so fstat
 * and I/O through it work with no hidden name anywhere.
 */
export class RiverLowLevelFs implements LowLevelFilesystem {
  /** Kernel references per inode (lookup count). */
  private readonly lookups = new Map<number, number>();
  /** Inodes with no name left that the kernel still references: held in the store until forgotten. */
  private readonly pinned = new Set<number>();
  /**
   * Inodes known to the kernel whose content changed where it could not see it (a pull from Tahoe): their next open
   * drops the kernel's pages. Every other open keeps them (keep_cache): a change made through the mount goes through
   * the kernel's page cache, so pages it kept from an earlier open are the file's bytes. The notify_inval_inode the
   * pull also sends drops them at once; this covers a notification that failed or raced with a read.
   */
  private readonly pagesStale = new Set<number>();
  /**
   * Read-only opens, answered with noFlush: closing one of their descriptors costs no FLUSH round trip (open+close
   * of a file in a loop: 180 → 90 µs; the pass-through, which has no flush at all, 80). FLUSH has nothing to persist
   * for them (writes come through writable handles, whose own close persists), but it is also where the kernel asks
   * to drop the closing process's POSIX locks. So each keeps the lock owners that locked through it, and their locks
   * on the file go at its release: for a process that closes its descriptor, right after (unless a dup or a child
   * shares the open). Locks a process took through another, writable descriptor of the file stay when it closes a
   * read-only one (POSIX would end them too): they end when that writable descriptor is closed.
   */
  private readonly readOnlyHandles = new Map<number, Set<bigint>>();

  /**
   * Listings with attributes, only when the kernel may keep the names they bring: with an entry timeout of 0 every
   * name is looked up again before use, and attributes fetched with the listing would only be thrown away.
   */
  readonly readdirplus?: LowLevelFilesystem['readdirplus'];

  /** Present only with a lock service: absent, the binding answers ENOSYS and the kernel keeps locks itself. */
  readonly getlk?: LowLevelFilesystem['getlk'];
  readonly setlk?: LowLevelFilesystem['setlk'];
  readonly flock?: LowLevelFilesystem['flock'];

  constructor(
    private readonly fs: RiverFs,
    private readonly options: RiverLowLevelOptions,
  ) {
    if (options.entryTimeoutSeconds > 0) {
      this.readdirplus = (_ctx, ino, _fh, offset, out) => this.listWithAttributes(ino, offset, out);
    }
    const locks = options.locks;
    if (locks !== undefined) {
      this.getlk = (_ctx, ino, _fh, lockOwner, lock) =>
        this.options.run('getlk', ino, () =>
          asFsError(async () => {
            const holder = await locks.getlk(ino, lockOwner, lock);
            if (holder === undefined) {
              return undefined;
            }
            const answer: RecordLock = {
              type: holder.type,
              start: holder.start,
              length: holder.length,
              pid: holder.pid,
            };
            return answer;
          }),
        );
      this.setlk = (_ctx, ino, fh, lockOwner, lock, wait, interrupted) =>
        this.options.run('setlk', ino, () => {
          this.readOnlyHandles.get(fh)?.add(lockOwner);
          return asFsError(() => locks.setlk(ino, lockOwner, lock, wait, interrupted));
        });
      this.flock = (_ctx, ino, _fh, lockOwner, operation, interrupted) =>
        this.options.run('flock', ino, () => asFsError(() => locks.flock(ino, lockOwner, operation, interrupted)));
    }
  }

  /** The content of these inodes changed outside the kernel's view: their next open must not keep cached pages. */
  contentChangedOutsideKernel(inos: readonly number[]): void {
    for (const ino of inos) {
      if (this.lookups.has(ino)) {
        this.pagesStale.add(ino);
      }
    }
  }

  /** The kernel's references to `ino` (tests and diagnostics). */
  lookupCount(ino: number): number {
    return this.lookups.get(ino) ?? 0;
  }

  private entry(inode: InodeRecord): Entry {
    this.lookups.set(inode.ino, (this.lookups.get(inode.ino) ?? 0) + 1);
    return this.entryWithoutLookup(inode);
  }

  private entryWithoutLookup(inode: InodeRecord): Entry {
    return {
      attr: toAttributes(this.fs.toStat(inode)),
      entryTimeout: this.options.entryTimeoutSeconds,
      attrTimeout: this.options.attrTimeoutSeconds,
    };
  }

  private attr(stat: FsStat): AttributesReply {
    return { attr: toAttributes(stat), attrTimeout: this.options.attrTimeoutSeconds };
  }

  /** An inode that lost its last name but is still open and known to the kernel lives until forget. */
  private async holdIfKnown(removed: { ino: number; nlink: number; freed: boolean }): Promise<void> {
    if (removed.freed || removed.nlink > 0 || this.lookupCount(removed.ino) === 0 || this.pinned.has(removed.ino)) {
      return;
    }
    this.pinned.add(removed.ino);
    try {
      await this.fs.pin(removed.ino);
    } catch (error) {
      // Its last handle was released meanwhile and freed it: nothing to hold any more.
      this.pinned.delete(removed.ino);
      if (!(error instanceof FsError && error.code === 'ENOENT')) {
        throw error;
      }
    }
  }

  // ---- names -----------------------------------------------------------------------------------------------

  lookup(_ctx: RequestContext, parent: number, name: string): Promise<Entry> {
    return this.options.run('lookup', parent, async () =>
      this.entry(await this.fs.lookup(parent, Buffer.from(name, NAME_ENCODING))),
    );
  }

  forget(ino: number, count: number): void {
    const left = (this.lookups.get(ino) ?? 0) - count;
    if (left > 0) {
      this.lookups.set(ino, left);
      return;
    }
    this.lookups.delete(ino);
    this.pagesStale.delete(ino);
    if (this.pinned.delete(ino)) {
      this.fs.unpin(ino).catch((error: unknown) => this.options.onBackgroundError(error, `releasing inode ${ino}`));
    }
  }

  getattr(_ctx: RequestContext, ino: number): Promise<AttributesReply> {
    return this.options.run('getattr', ino, async () => this.attr(await this.fs.getattr(ino)));
  }

  setattr(
    _ctx: RequestContext,
    ino: number,
    changes: AttributeChanges,
    fh: number | undefined,
  ): Promise<AttributesReply> {
    return this.options.run('setattr', ino, async () =>
      this.attr(
        await this.fs.setattr(
          ino,
          {
            mode: changes.mode,
            uid: changes.uid,
            gid: changes.gid,
            size: changes.size,
            atime: changes.atime,
            mtime: changes.mtime,
          },
          fh,
        ),
      ),
    );
  }

  readlink(_ctx: RequestContext, ino: number): Promise<string> {
    return this.options.run('readlink', ino, async () => (await this.fs.readlink(ino)).toString(NAME_ENCODING));
  }

  mknod(ctx: RequestContext, parent: number, name: string, mode: number, rdev: number): Promise<Entry> {
    return this.options.run('mknod', parent, async () =>
      this.entry(await this.fs.mknod(parent, Buffer.from(name, NAME_ENCODING), masked(mode, ctx), rdev, owner(ctx))),
    );
  }

  mkdir(ctx: RequestContext, parent: number, name: string, mode: number): Promise<Entry> {
    return this.options.run('mkdir', parent, async () =>
      this.entry(await this.fs.mkdir(parent, Buffer.from(name, NAME_ENCODING), masked(mode, ctx), owner(ctx))),
    );
  }

  symlink(ctx: RequestContext, parent: number, name: string, target: string): Promise<Entry> {
    return this.options.run('symlink', parent, async () =>
      this.entry(
        await this.fs.symlink(parent, Buffer.from(name, NAME_ENCODING), Buffer.from(target, NAME_ENCODING), owner(ctx)),
      ),
    );
  }

  link(_ctx: RequestContext, ino: number, newParent: number, newName: string): Promise<Entry> {
    return this.options.run('link', ino, async () =>
      this.entry(await this.fs.link(ino, newParent, Buffer.from(newName, NAME_ENCODING))),
    );
  }

  unlink(_ctx: RequestContext, parent: number, name: string): Promise<void> {
    return this.options.run('unlink', parent, async () => {
      await this.holdIfKnown(await this.fs.unlink(parent, Buffer.from(name, NAME_ENCODING)));
    });
  }

  rmdir(_ctx: RequestContext, parent: number, name: string): Promise<void> {
    return this.options.run('rmdir', parent, async () => {
      await this.fs.rmdir(parent, Buffer.from(name, NAME_ENCODING));
    });
  }

  /** RENAME_NOREPLACE is the store's; RENAME_EXCHANGE (and anything else) it cannot do atomically: EINVAL. */
  rename(
    _ctx: RequestContext,
    parent: number,
    name: string,
    newParent: number,
    newName: string,
    flags: number,
  ): Promise<void> {
    return this.options.run('rename', parent, async () => {
      if ((flags & ~RENAME_NOREPLACE) !== 0) {
        throw new FsError('EINVAL', `rename flags ${flags}`);
      }
      const result = await this.fs.rename(
        parent,
        Buffer.from(name, NAME_ENCODING),
        newParent,
        Buffer.from(newName, NAME_ENCODING),
        { noReplace: (flags & RENAME_NOREPLACE) !== 0 },
      );
      if (result.replaced) {
        await this.holdIfKnown(result.replaced);
      }
    });
  }

  // ---- files -------------------------------------------------------------------------------------------------

  create(ctx: RequestContext, parent: number, name: string, mode: number, flags: number): Promise<CreateReply> {
    return this.options.run('create', parent, async () => {
      const created = await this.fs.create(
        parent,
        Buffer.from(name, NAME_ENCODING),
        masked(mode, ctx),
        flags,
        owner(ctx),
      );
      return { ...this.entry(created.inode), fh: created.fh, keepCache: true };
    });
  }

  open(_ctx: RequestContext, ino: number, flags: number): Promise<OpenReply> {
    return this.options.run('open', ino, async () => {
      const fh = await this.fs.open(ino, flags);
      // O_TRUNC (which Linux honours even read-only) is a change: its close persists like a write's.
      const readOnly = (flags & O_ACCMODE) === O_RDONLY && (flags & O_TRUNC) === 0;
      if (readOnly) {
        this.readOnlyHandles.set(fh, new Set());
      }
      return { fh, keepCache: !this.pagesStale.delete(ino), noFlush: readOnly };
    });
  }

  read(_ctx: RequestContext, ino: number, fh: number, size: number, offset: number, into: Buffer): Promise<Buffer> {
    return this.options.run('read', ino, () => this.fs.read(fh, size, offset, into));
  }

  /** The binding hands over a buffer of our own: no copy. */
  write(_ctx: RequestContext, ino: number, fh: number, data: Buffer, offset: number): Promise<number> {
    return this.options.run('write', ino, () => this.fs.write(fh, data, offset));
  }

  /**
   * Each close of a descriptor: its data flushed, then the POSIX locks its process held on the file end (POSIX). The
   * locks end even when the flush fails, and a lock store that cannot be reached never fails the close: those locks
   * go when this gateway's lock session expires.
   */
  flush(_ctx: RequestContext, ino: number, fh: number, lockOwner: bigint): Promise<void> {
    return this.options.run('flush', ino, async () => {
      try {
        await this.fs.flush(fh);
      } finally {
        await this.releaseLocks(ino, lockOwner, 'posix');
      }
    });
  }

  /** The last descriptor of an open: its flock goes with it. */
  release(
    _ctx: RequestContext,
    ino: number,
    fh: number,
    _flags: number,
    lockOwner: bigint,
    flockRelease: boolean,
  ): Promise<void> {
    return this.options.run('release', ino, async () => {
      const posixOwners = this.readOnlyHandles.get(fh);
      this.readOnlyHandles.delete(fh);
      try {
        await this.fs.release(fh);
      } finally {
        if (flockRelease) {
          await this.releaseLocks(ino, lockOwner, 'flock');
        }
        for (const owner of posixOwners ?? []) {
          await this.releaseLocks(ino, owner, 'posix');
        }
      }
    });
  }

  private async releaseLocks(ino: number, lockOwner: bigint, kind: 'posix' | 'flock'): Promise<void> {
    const locks = this.options.locks;
    if (locks === undefined) {
      return;
    }
    try {
      await (kind === 'posix' ? locks.releaseOwner(ino, lockOwner) : locks.releaseFlock(ino, lockOwner));
    } catch (error) {
      this.options.onBackgroundError(error, `releasing the ${kind} locks of a closed file (inode ${ino})`);
    }
  }

  fsync(_ctx: RequestContext, ino: number, fh: number): Promise<void> {
    return this.options.run('fsync', ino, () => this.fs.fsync(fh));
  }

  fallocate(
    _ctx: RequestContext,
    ino: number,
    fh: number,
    mode: number,
    offset: number,
    length: number,
  ): Promise<void> {
    return this.options.run('fallocate', ino, () => this.fs.fallocate(fh, mode, offset, length));
  }

  // ---- directories -------------------------------------------------------------------------------------------

  // No opendir or releasedir: a listing keeps no state per open (its offsets are store cookies), and the kernel only
  // opens directories as directories; libfuse answers both without a round trip to this thread.

  fsyncdir(_ctx: RequestContext, ino: number): Promise<void> {
    return this.options.run('fsyncdir', ino, () => this.fs.fsyncdir());
  }

  readdir(_ctx: RequestContext, ino: number, _fh: number, offset: number, out: DirectoryFiller): Promise<void> {
    return this.options.run('readdir', ino, async () => {
      const dir = await this.fs.inode(ino);
      if (offset < DOT_END && !out.add({ name: '.', ino, mode: TYPE_BITS.dir, nextOffset: DOT_END })) {
        return;
      }
      if (
        offset < DOTDOT_END &&
        !out.add({ name: '..', ino: dir.parent ?? ino, mode: TYPE_BITS.dir, nextOffset: DOTDOT_END })
      ) {
        return;
      }
      await this.eachEntry(ino, offset, PAGE_ENTRIES, false, (entry) =>
        out.add({
          name: entry.name.toString(NAME_ENCODING),
          ino: entry.ino,
          mode: TYPE_BITS[entry.type],
          nextOffset: entry.cookie + DOTDOT_END,
        }),
      );
    });
  }

  /** Every entry accepted into the reply counts as a lookup (except "." and "..", which the kernel skips). */
  private listWithAttributes(ino: number, offset: number, out: DirectoryPlusFiller): Promise<void> {
    return this.options.run('readdirplus', ino, async () => {
      const dir = await this.fs.inode(ino);
      if (offset < DOT_END && !out.add({ name: '.', entry: this.entryWithoutLookup(dir), nextOffset: DOT_END })) {
        return;
      }
      if (offset < DOTDOT_END) {
        const parent = dir.parent !== null && dir.parent !== ino ? await this.fs.inode(dir.parent) : dir;
        if (!out.add({ name: '..', entry: this.entryWithoutLookup(parent), nextOffset: DOTDOT_END })) {
          return;
        }
      }
      await this.eachEntry(ino, offset, PAGE_ENTRIES_PLUS, true, (entry) => {
        const inode = entry.inode;
        if (inode === undefined) {
          throw new Error('readdir was asked for attributes but returned none');
        }
        const added = out.add({
          name: entry.name.toString(NAME_ENCODING),
          entry: this.entryWithoutLookup(inode),
          nextOffset: entry.cookie + DOTDOT_END,
        });
        if (added) {
          this.lookups.set(inode.ino, (this.lookups.get(inode.ino) ?? 0) + 1);
        }
        return added;
      });
    });
  }

  /** Entries after `offset` until `add` refuses one (the reply is full) or the directory ends. */
  private async eachEntry(
    ino: number,
    offset: number,
    limit: number,
    plus: boolean,
    add: (entry: DirEntryRecord) => boolean,
  ): Promise<void> {
    let after = Math.max(0, offset - DOTDOT_END);
    for (;;) {
      const page = await this.fs.readdirPage(ino, after, limit, plus);
      for (const entry of page.entries) {
        if (!add(entry)) {
          return;
        }
      }
      if (page.next === null) {
        return;
      }
      after = page.next;
    }
  }

  // ---- the rest ----------------------------------------------------------------------------------------------

  statfs(_ctx: RequestContext, ino: number): Promise<StatFs> {
    return this.options.run('statfs', ino, () => this.fs.statfs());
  }

  setxattr(_ctx: RequestContext, ino: number, name: string, value: Buffer, flags: number): Promise<void> {
    return this.options.run('setxattr', ino, () => {
      const set = (): Promise<void> => this.fs.setxattr(ino, xattrName(name, NAME_ENCODING), value, flags);
      const shortcut = this.options.securityXattrs;
      return shortcut !== undefined && name.startsWith(SECURITY_XATTR_PREFIX) ? shortcut.guardSet(set) : set();
    });
  }

  getxattr(_ctx: RequestContext, ino: number, name: string): Promise<Buffer> {
    return this.options.run('getxattr', ino, () => this.fs.getxattr(ino, xattrName(name, NAME_ENCODING)));
  }

  listxattr(_ctx: RequestContext, ino: number): Promise<string[]> {
    return this.options.run('listxattr', ino, async () =>
      (await this.fs.listxattr(ino)).map((name) => name.toString(NAME_ENCODING)),
    );
  }

  removexattr(_ctx: RequestContext, ino: number, name: string): Promise<void> {
    return this.options.run('removexattr', ino, () => this.fs.removexattr(ino, xattrName(name, NAME_ENCODING)));
  }

  /** default_permissions: the kernel has checked the mode bits; access only needs the inode to exist. */
  access(_ctx: RequestContext, ino: number): Promise<void> {
    return this.options.run('access', ino, async () => {
      await this.fs.inode(ino);
    });
  }
}
