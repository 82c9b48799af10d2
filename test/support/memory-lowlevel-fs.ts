/**
 * A small in-memory filesystem on the FUSE low-level binding, for the binding's tests: inodes by number, lookup
 * counts honoured (an inode lives while it has a name, a kernel reference or an open handle), POSIX record locks
 * and flock locks kept here. It is a test double of RiverFs, not a product.
 */
import { constants as fsConstants } from 'node:fs';
import { constants } from 'node:os';
import {
  type AttributeChanges,
  type Attributes,
  type DirectoryFiller,
  type DirectoryPlusFiller,
  type Entry,
  FlockOperation,
  FuseError,
  LockType,
  type LowLevelFilesystem,
  type OpenReply,
  type RecordLock,
  type RequestContext,
} from '../../src/fuse-lowlevel';

const { errno: E } = constants;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const ROOT = 1;

interface Inode {
  attr: Attributes;
  data: Buffer;
  children?: Map<string, number>;
  target?: string;
  xattrs: Map<string, Buffer>;
  lookups: number;
  opens: number;
}

interface HeldRecordLock {
  owner: bigint;
  pid: number;
  type: number;
  start: number;
  /** Inclusive last byte; Infinity for "to the end of the file". */
  end: number;
}

interface HeldFlock {
  owner: bigint;
  exclusive: boolean;
}

function now(): { sec: number; nsec: number } {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
}

export interface MemoryFsOptions {
  entryTimeout?: number;
  attrTimeout?: number;
  /** Answer open with keep_cache (the page cache survives between opens). */
  keepCache?: boolean;
  /** Read into the binding's reply storage (`into`) instead of answering with a view of the file's own bytes. */
  readInto?: boolean;
}

export class MemoryLowLevelFs implements LowLevelFilesystem {
  readonly inodes = new Map<number, Inode>();
  /** How many times each operation was called, for tests that count kernel traffic. */
  readonly calls = new Map<string, number>();
  /** With readInto: each distinct reply storage (its ArrayBuffer) the binding handed to read. */
  readonly readStorages = new Set<ArrayBufferLike>();
  destroyed = false;
  private nextIno = ROOT + 1;
  private nextFh = 1;
  private readonly recordLocks = new Map<number, HeldRecordLock[]>();
  private readonly flocks = new Map<number, HeldFlock[]>();

  constructor(private readonly options: MemoryFsOptions = {}) {
    this.inodes.set(ROOT, this.newInode(ROOT, S_IFDIR | 0o755, 2));
    this.inodes.get(ROOT)!.children = new Map();
  }

  // ---- helpers the tests use ----

  count(operation: string): number {
    return this.calls.get(operation) ?? 0;
  }

  /** Replaces a file's content behind the kernel's back (a change the kernel cannot see). */
  replaceContent(ino: number, data: Buffer): void {
    const inode = this.get(ino);
    inode.data = Buffer.from(data);
    inode.attr.size = data.length;
    inode.attr.mtime = now();
    inode.attr.ctime = now();
  }

  inoOf(parent: number, name: string): number | undefined {
    return this.get(parent).children?.get(name);
  }

  // ---- operations ----

  destroy(): void {
    this.destroyed = true;
  }

  lookup(_ctx: RequestContext, parent: number, name: string): Entry {
    this.tick('lookup');
    const ino = this.dir(parent).get(name);
    if (ino === undefined) {
      throw new FuseError(E.ENOENT);
    }
    return this.entry(ino);
  }

  forget(ino: number, count: number): void {
    this.tick('forget');
    const inode = this.inodes.get(ino);
    if (inode !== undefined) {
      inode.lookups -= count;
      this.maybeFree(ino);
    }
  }

  getattr(_ctx: RequestContext, ino: number): { attr: Attributes; attrTimeout: number } {
    this.tick('getattr');
    return { attr: this.get(ino).attr, attrTimeout: this.options.attrTimeout ?? 1 };
  }

  setattr(_ctx: RequestContext, ino: number, changes: AttributeChanges): { attr: Attributes; attrTimeout: number } {
    this.tick('setattr');
    const inode = this.get(ino);
    const attr = inode.attr;
    if (changes.mode !== undefined) {
      attr.mode = (attr.mode & ~0o7777) | (changes.mode & 0o7777);
    }
    if (changes.uid !== undefined) {
      attr.uid = changes.uid;
    }
    if (changes.gid !== undefined) {
      attr.gid = changes.gid;
    }
    if (changes.size !== undefined) {
      const data = Buffer.alloc(changes.size);
      inode.data.copy(data, 0, 0, Math.min(changes.size, inode.data.length));
      inode.data = data;
      attr.size = changes.size;
    }
    if (changes.atime !== undefined) {
      attr.atime = changes.atime === 'now' ? now() : changes.atime;
    }
    if (changes.mtime !== undefined) {
      attr.mtime = changes.mtime === 'now' ? now() : changes.mtime;
    }
    attr.ctime = now();
    return { attr, attrTimeout: this.options.attrTimeout ?? 1 };
  }

  readlink(_ctx: RequestContext, ino: number): string {
    const target = this.get(ino).target;
    if (target === undefined) {
      throw new FuseError(E.EINVAL);
    }
    return target;
  }

  mkdir(ctx: RequestContext, parent: number, name: string, mode: number): Entry {
    this.tick('mkdir');
    const ino = this.add(ctx, parent, name, S_IFDIR | (mode & ~ctx.umask & 0o7777), 2);
    this.get(ino).children = new Map();
    this.get(parent).attr.nlink++;
    return this.entry(ino);
  }

  symlink(ctx: RequestContext, parent: number, name: string, target: string): Entry {
    const ino = this.add(ctx, parent, name, S_IFLNK | 0o777, 1);
    const inode = this.get(ino);
    inode.target = target;
    inode.attr.size = Buffer.byteLength(target);
    return this.entry(ino);
  }

  create(ctx: RequestContext, parent: number, name: string, mode: number): Entry & OpenReply {
    this.tick('create');
    const ino = this.add(ctx, parent, name, S_IFREG | (mode & ~ctx.umask & 0o7777), 1);
    this.get(ino).opens++;
    return { ...this.entry(ino), fh: this.nextFh++ };
  }

  link(_ctx: RequestContext, ino: number, newParent: number, newName: string): Entry {
    const dir = this.dir(newParent);
    if (dir.has(newName)) {
      throw new FuseError(E.EEXIST);
    }
    dir.set(newName, ino);
    this.get(ino).attr.nlink++;
    return this.entry(ino);
  }

  unlink(_ctx: RequestContext, parent: number, name: string): void {
    this.tick('unlink');
    const ino = this.dir(parent).get(name);
    if (ino === undefined) {
      throw new FuseError(E.ENOENT);
    }
    this.dir(parent).delete(name);
    this.get(ino).attr.nlink--;
    this.maybeFree(ino);
  }

  rmdir(_ctx: RequestContext, parent: number, name: string): void {
    const ino = this.dir(parent).get(name);
    if (ino === undefined) {
      throw new FuseError(E.ENOENT);
    }
    if (this.dir(ino).size > 0) {
      throw new FuseError(E.ENOTEMPTY);
    }
    this.dir(parent).delete(name);
    this.get(ino).attr.nlink = 0;
    this.get(parent).attr.nlink--;
    this.maybeFree(ino);
  }

  rename(_ctx: RequestContext, parent: number, name: string, newParent: number, newName: string, flags: number): void {
    this.tick('rename');
    const from = this.dir(parent);
    const to = this.dir(newParent);
    const ino = from.get(name);
    if (ino === undefined) {
      throw new FuseError(E.ENOENT);
    }
    if (flags !== 0) {
      throw new FuseError(E.EINVAL);
    }
    const replaced = to.get(newName);
    from.delete(name);
    to.set(newName, ino);
    if (replaced !== undefined && replaced !== ino) {
      this.get(replaced).attr.nlink--;
      this.maybeFree(replaced);
    }
  }

  open(_ctx: RequestContext, ino: number, flags: number): OpenReply {
    this.tick('open');
    const inode = this.get(ino);
    if (flags & fsConstants.O_TRUNC) {
      inode.data = Buffer.alloc(0);
      inode.attr.size = 0;
    }
    inode.opens++;
    return { fh: this.nextFh++, keepCache: this.options.keepCache ?? false };
  }

  read(_ctx: RequestContext, ino: number, _fh: number, size: number, offset: number, into: Buffer): Buffer {
    this.tick('read');
    const data = this.get(ino).data;
    const bytes = data.subarray(Math.min(offset, data.length), Math.min(offset + size, data.length));
    if (!this.options.readInto) {
      return bytes;
    }
    this.readStorages.add(into.buffer);
    return into.subarray(0, bytes.copy(into));
  }

  write(_ctx: RequestContext, ino: number, _fh: number, data: Buffer, offset: number): number {
    this.tick('write');
    const inode = this.get(ino);
    const end = offset + data.length;
    if (end > inode.data.length) {
      const grown = Buffer.alloc(end);
      inode.data.copy(grown);
      inode.data = grown;
      inode.attr.size = end;
    }
    data.copy(inode.data, offset);
    inode.attr.mtime = now();
    return data.length;
  }

  /** A close: the POSIX locks of this owner on this file end (as they would on a local filesystem). */
  flush(_ctx: RequestContext, ino: number, _fh: number, lockOwner: bigint): void {
    this.tick('flush');
    const held = this.recordLocks.get(ino);
    if (held !== undefined) {
      this.recordLocks.set(
        ino,
        held.filter((lock) => lock.owner !== lockOwner),
      );
    }
  }

  release(_ctx: RequestContext, ino: number, _fh: number, _flags: number, owner: bigint, flockRelease: boolean): void {
    this.tick('release');
    if (flockRelease) {
      this.flocks.set(
        ino,
        (this.flocks.get(ino) ?? []).filter((lock) => lock.owner !== owner),
      );
    }
    const inode = this.inodes.get(ino);
    if (inode !== undefined) {
      inode.opens--;
      this.maybeFree(ino);
    }
  }

  fsync(): void {}

  readdir(_ctx: RequestContext, ino: number, _fh: number, offset: number, out: DirectoryFiller): void {
    this.tick('readdir');
    const names = this.listing(ino);
    for (let i = offset; i < names.length; i++) {
      const [name, child] = names[i];
      if (!out.add({ name, ino: child, mode: this.get(child).attr.mode, nextOffset: i + 1 })) {
        return;
      }
    }
  }

  readdirplus(_ctx: RequestContext, ino: number, _fh: number, offset: number, out: DirectoryPlusFiller): void {
    this.tick('readdirplus');
    const names = this.listing(ino);
    for (let i = offset; i < names.length; i++) {
      const [name, child] = names[i];
      const entry = this.entryWithoutLookup(child);
      if (!out.add({ name, entry, nextOffset: i + 1 })) {
        return;
      }
      if (name !== '.' && name !== '..') {
        this.get(child).lookups++;
      }
    }
  }

  setxattr(_ctx: RequestContext, ino: number, name: string, value: Buffer): void {
    this.get(ino).xattrs.set(name, Buffer.from(value));
  }

  getxattr(_ctx: RequestContext, ino: number, name: string): Buffer {
    const value = this.get(ino).xattrs.get(name);
    if (value === undefined) {
      throw new FuseError(E.ENODATA);
    }
    return value;
  }

  listxattr(_ctx: RequestContext, ino: number): string[] {
    return [...this.get(ino).xattrs.keys()];
  }

  removexattr(_ctx: RequestContext, ino: number, name: string): void {
    if (!this.get(ino).xattrs.delete(name)) {
      throw new FuseError(E.ENODATA);
    }
  }

  getlk(_ctx: RequestContext, ino: number, _fh: number, owner: bigint, lock: RecordLock): RecordLock | undefined {
    this.tick('getlk');
    const conflict = this.conflictingRecordLock(ino, owner, lock);
    if (conflict === undefined) {
      return undefined;
    }
    const length = conflict.end === Infinity ? 0 : conflict.end - conflict.start + 1;
    return { type: conflict.type, start: conflict.start, length, pid: conflict.pid };
  }

  /** Waiting (F_SETLKW) is not offered by this test double: a conflict is EAGAIN either way. */
  setlk(_ctx: RequestContext, ino: number, _fh: number, owner: bigint, lock: RecordLock): void {
    this.tick('setlk');
    const end = lock.length === 0 ? Infinity : lock.start + lock.length - 1;
    const mine = (this.recordLocks.get(ino) ?? []).filter(
      (held) => !(held.owner === owner && held.start <= end && held.end >= lock.start),
    );
    if (lock.type === LockType.unlock) {
      this.recordLocks.set(ino, mine);
      return;
    }
    if (this.conflictingRecordLock(ino, owner, lock) !== undefined) {
      throw new FuseError(E.EAGAIN);
    }
    mine.push({ owner, pid: lock.pid, type: lock.type, start: lock.start, end });
    this.recordLocks.set(ino, mine);
  }

  flock(_ctx: RequestContext, ino: number, _fh: number, owner: bigint, operation: number): void {
    this.tick('flock');
    const others = (this.flocks.get(ino) ?? []).filter((held) => held.owner !== owner);
    if (operation & FlockOperation.unlock) {
      this.flocks.set(ino, others);
      return;
    }
    const exclusive = (operation & FlockOperation.exclusive) !== 0;
    if (others.some((held) => exclusive || held.exclusive)) {
      throw new FuseError(E.EWOULDBLOCK);
    }
    others.push({ owner, exclusive });
    this.flocks.set(ino, others);
  }

  statfs(): {
    bsize: number;
    frsize: number;
    blocks: number;
    bfree: number;
    bavail: number;
    files: number;
    ffree: number;
    namemax: number;
  } {
    return {
      bsize: 4096,
      frsize: 4096,
      blocks: 1 << 20,
      bfree: 1 << 19,
      bavail: 1 << 19,
      files: 1 << 20,
      ffree: 1 << 19,
      namemax: 255,
    };
  }

  // ---- internals ----

  private tick(operation: string): void {
    this.calls.set(operation, this.count(operation) + 1);
  }

  private newInode(ino: number, mode: number, nlink: number, ctx?: RequestContext): Inode {
    const t = now();
    return {
      attr: { ino, mode, nlink, uid: ctx?.uid ?? 0, gid: ctx?.gid ?? 0, size: 0, atime: t, mtime: t, ctime: t },
      data: Buffer.alloc(0),
      xattrs: new Map(),
      lookups: 0,
      opens: 0,
    };
  }

  private get(ino: number): Inode {
    const inode = this.inodes.get(ino);
    if (inode === undefined) {
      throw new FuseError(E.ENOENT, `inode ${ino} is not known (a forgotten inode asked for: a lookup-count bug)`);
    }
    return inode;
  }

  private dir(ino: number): Map<string, number> {
    const children = this.get(ino).children;
    if (children === undefined) {
      throw new FuseError(E.ENOTDIR);
    }
    return children;
  }

  private add(ctx: RequestContext, parent: number, name: string, mode: number, nlink: number): number {
    const dir = this.dir(parent);
    if (dir.has(name)) {
      throw new FuseError(E.EEXIST);
    }
    const ino = this.nextIno++;
    this.inodes.set(ino, this.newInode(ino, mode, nlink, ctx));
    dir.set(name, ino);
    return ino;
  }

  private listing(ino: number): Array<[string, number]> {
    return [['.', ino], ['..', ino === ROOT ? ROOT : ino], ...this.dir(ino)];
  }

  /** An entry handed to the kernel: one more lookup reference. */
  private entry(ino: number): Entry {
    this.get(ino).lookups++;
    return this.entryWithoutLookup(ino);
  }

  private entryWithoutLookup(ino: number): Entry {
    return {
      attr: this.get(ino).attr,
      entryTimeout: this.options.entryTimeout ?? 1,
      attrTimeout: this.options.attrTimeout ?? 1,
    };
  }

  private maybeFree(ino: number): void {
    const inode = this.inodes.get(ino);
    if (ino !== ROOT && inode !== undefined && inode.attr.nlink <= 0 && inode.lookups <= 0 && inode.opens <= 0) {
      this.inodes.delete(ino);
      this.recordLocks.delete(ino);
      this.flocks.delete(ino);
    }
  }

  private conflictingRecordLock(ino: number, owner: bigint, lock: RecordLock): HeldRecordLock | undefined {
    const end = lock.length === 0 ? Infinity : lock.start + lock.length - 1;
    return (this.recordLocks.get(ino) ?? []).find(
      (held) =>
        held.owner !== owner &&
        held.start <= end &&
        held.end >= lock.start &&
        (held.type === LockType.write || lock.type === LockType.write),
    );
  }
}
