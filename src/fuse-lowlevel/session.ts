/**
 * A mounted low-level FUSE session: requests from the addon are handed to a LowLevelFilesystem, its answers are
 * packed and sent back. Nothing here waits on the kernel: the addon queues requests from its FUSE thread, and
 * kernel notifications run on the libuv thread pool (the kernel may wait inside them for a request that only this
 * thread can answer, so they must never run here).
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:os';
import { promisify } from 'node:util';
import { type Dispatch, type NativeBinding, type NativeName, type SessionHandle, nativeBinding } from './native';
import {
  DirectoryBuffer,
  DirectoryPlusBuffer,
  ReplyBuffers,
  type EntryLayout,
  entryLayout,
  packAttributes,
  packEntry,
  packedLength,
} from './pack';
import {
  type Answer,
  type AttributeChanges,
  type AttributesReply,
  type CreateReply,
  type Entry,
  FuseError,
  LockType,
  type LowLevelFilesystem,
  type OpenOptions,
  type RecordLock,
  type RequestContext,
  type StatFs,
} from './types';

const run = promisify(execFile);
const { errno: E } = constants;
/** Early interrupts kept at most: each is a number, the cap only stops a slow leak (see interruptedEarly). */
const MAX_EARLY_INTERRUPTS = 1024;

export interface LowLevelMountOptions {
  /** libfuse `-o` options, e.g. fsname=…, subtype=…, default_permissions, allow_other. */
  fuseOptions?: string[];
  /** Largest write request in bytes; libfuse 3 allows up to 1 MiB (its default). */
  maxWrite?: number;
  maxReadahead?: number;
  /** Let the kernel cache writes and send them later (FUSE_CAP_WRITEBACK_CACHE). */
  writebackCache?: boolean;
  /**
   * Names, link targets and xattr names as latin1 strings, one char per byte (as fuse-native's bytePaths): every byte
   * of a name that is not UTF-8 survives both ways. Off: UTF-8 strings.
   */
  byteNames?: boolean;
  /** A handler failed with something that is not an errno (a bug): it is answered EIO and reported here. */
  onUnexpectedError?: (error: unknown, operation: string) => void;
}

/** Bits of the setattr `to_set` argument (FUSE_SET_ATTR_* in fuse_lowlevel.h). */
const SetAttr = {
  mode: 1 << 0,
  uid: 1 << 1,
  gid: 1 << 2,
  size: 1 << 3,
  atime: 1 << 4,
  mtime: 1 << 5,
  atimeNow: 1 << 7,
  mtimeNow: 1 << 8,
  ctime: 1 << 10,
} as const;

/** Bits of the open-reply flags (LL_OPEN_* in the addon). */
const OpenFlag = { directIo: 1, keepCache: 2, nonSeekable: 4, cacheReaddir: 8, noFlush: 16 } as const;

/** What libfuse answers to statfs when the filesystem does not say. */
const DEFAULT_STATFS: StatFs = {
  bsize: 512,
  frsize: 512,
  blocks: 0,
  bfree: 0,
  bavail: 0,
  files: 0,
  ffree: 0,
  namemax: 255,
};

type Handler = (id: number, ...args: never[]) => void;

function openFlags(options: OpenOptions): number {
  return (
    (options.directIo ? OpenFlag.directIo : 0) |
    (options.keepCache ? OpenFlag.keepCache : 0) |
    (options.nonSeekable ? OpenFlag.nonSeekable : 0) |
    (options.cacheReaddir ? OpenFlag.cacheReaddir : 0) |
    (options.noFlush ? OpenFlag.noFlush : 0)
  );
}

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** The errno an error stands for, or undefined when it is not a filesystem answer but a bug. */
export function errnoOf(error: unknown): number | undefined {
  if (error instanceof FuseError) {
    return error.errno;
  }
  const nodeError = error as NodeJS.ErrnoException | null;
  if (typeof nodeError?.code === 'string') {
    const fromCode = (E as Record<string, number | undefined>)[nodeError.code];
    if (fromCode !== undefined) {
      return fromCode;
    }
  }
  if (typeof nodeError?.errno === 'number' && nodeError.errno !== 0) {
    return Math.abs(nodeError.errno);
  }
  return undefined;
}

export class LowLevelMount {
  private session: SessionHandle | undefined;
  private readonly layout: EntryLayout;
  /** Reused for every packed reply: replies are sent synchronously, so one at a time. */
  private readonly scratch: Float64Array;
  private readonly context = new Float64Array(4);
  private readonly replyBuffers = new ReplyBuffers();
  private readonly handlers: Handler[] = [];
  /** Requests that may wait (setlk, flock) by their serial, until answered: what an interrupt aborts. */
  private readonly interruptible = new Map<number, AbortController>();
  /**
   * Serials interrupted before their request reached us (the kernel sends an INTERRUPT ahead of queued requests).
   * Most belong to requests that cannot wait (a read interrupted by a signal): those are dropped once a later
   * interruptible request arrives, as requests arrive in serial order, and the set is capped meanwhile.
   */
  private readonly interruptedEarly = new Set<number>();
  private lastSerialSeen = 0;
  /** A name on its way to the addon: bytes when names are byte strings (byteNames). */
  private readonly nameOut: (name: string) => NativeName;
  private endedResolve!: () => void;
  /** Settles when the mount is gone, whoever unmounted it. */
  readonly ended: Promise<void> = new Promise((resolve) => (this.endedResolve = resolve));

  private constructor(
    readonly mountpoint: string,
    private readonly fs: LowLevelFilesystem,
    private readonly options: LowLevelMountOptions,
    private readonly native: NativeBinding,
  ) {
    this.layout = entryLayout(native);
    this.nameOut = options.byteNames ? (name) => Buffer.from(name, 'latin1') : (name) => name;
    this.scratch = new Float64Array(packedLength(this.layout));
    this.installHandlers();
  }

  static async mount(
    mountpoint: string,
    fs: LowLevelFilesystem,
    options: LowLevelMountOptions = {},
  ): Promise<LowLevelMount> {
    const native = nativeBinding();
    const instance = new LowLevelMount(mountpoint, fs, options, native);
    const fuseArguments = options.fuseOptions?.length ? ['-o', options.fuseOptions.join(',')] : [];
    const dispatch: Dispatch = (op, id, ...args) => instance.dispatch(op, id, args);
    instance.session = await native.mount(
      mountpoint,
      fuseArguments,
      {
        maxWrite: options.maxWrite,
        maxReadahead: options.maxReadahead,
        writebackCache: options.writebackCache ?? false,
        readdirplus: fs.readdirplus !== undefined,
        posixLocks: fs.getlk !== undefined && fs.setlk !== undefined,
        flockLocks: fs.flock !== undefined,
        byteNames: options.byteNames ?? false,
        opendir: fs.opendir !== undefined,
        releasedir: fs.releasedir !== undefined,
      },
      dispatch,
      instance.context,
    );
    return instance;
  }

  /** The libfuse this binding was built against (e.g. 314). */
  static libfuseVersion(): number {
    return nativeBinding().libfuseVersion;
  }

  /** Unmounts (lazily if busy: the mount then ends with the last open file) and waits until the session ended. */
  async unmount(): Promise<void> {
    try {
      await run('fusermount3', ['-u', this.mountpoint]);
    } catch {
      await run('fusermount3', ['-uz', this.mountpoint]).catch(() => undefined);
    }
    await this.ended;
  }

  /**
   * Tells the kernel that an inode changed behind its back: cached attributes go, and cached pages in
   * [offset, offset + length) (length 0: to the end; offset -1: attributes only). Resolves when the kernel has done it.
   */
  async notifyInvalInode(ino: number, offset = 0, length = 0): Promise<void> {
    this.checkNotified(await this.native.notifyInvalInode(this.requireSession(), ino, offset, length));
  }

  /**
   * Whether the filesystem holds no `security.*` xattr. While true, the binding answers getxattr of such a name
   * ENODATA itself, on its own thread: the kernel asks one on every write(2) and for every entry `ls -l` shows. Set
   * it false before a `security.*` xattr can exist (before its setxattr commits).
   */
  setSecurityXattrsAbsent(absent: boolean): void {
    this.native.setSecurityXattrsAbsent(this.requireSession(), absent);
  }

  /** Tells the kernel that `name` in `parent` may now name something else (or nothing). */
  async notifyInvalEntry(parent: number, name: string): Promise<void> {
    this.checkNotified(await this.native.notifyInvalEntry(this.requireSession(), parent, this.nameOut(name)));
  }

  /** Tells the kernel that `name` in `parent`, which named `child`, is gone. */
  async notifyDelete(parent: number, child: number, name: string): Promise<void> {
    this.checkNotified(await this.native.notifyDelete(this.requireSession(), parent, child, this.nameOut(name)));
  }

  private requireSession(): SessionHandle {
    if (this.session === undefined) {
      throw new Error('the FUSE session is not mounted');
    }
    return this.session;
  }

  /** -ENOENT: the kernel holds nothing for that inode or name, so there was nothing to drop. */
  private checkNotified(result: number): void {
    if (result !== 0 && result !== -E.ENOENT) {
      throw new FuseError(-result, `kernel notification failed: errno ${-result}`);
    }
  }

  private dispatch(op: number, id: number, args: unknown[]): void {
    const handler = this.handlers[op];
    if (handler === undefined) {
      this.native.replyError(id, E.ENOSYS);
      return;
    }
    (handler as (id: number, ...rest: unknown[]) => void)(id, ...args);
  }

  private ctx(): RequestContext {
    const c = this.context;
    return { uid: c[0], gid: c[1], pid: c[2], umask: c[3] };
  }

  /**
   * Runs a handler and sends its answer, or the errno it failed with. `answered` runs once the request got its reply
   * or its error: what the reply was written from may be reused then.
   */
  private answer<T>(
    id: number,
    operation: string,
    call: () => T | Promise<T>,
    reply: (value: T) => void,
    answered?: () => void,
  ): void {
    let result: T | Promise<T>;
    try {
      result = call();
    } catch (error) {
      this.fail(id, operation, error);
      answered?.();
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => {
          this.send(id, operation, value, reply);
          answered?.();
        },
        (error: unknown) => {
          this.fail(id, operation, error);
          answered?.();
        },
      );
    } else {
      this.send(id, operation, result, reply);
      answered?.();
    }
  }

  /** A request that may wait: `call` gets a signal that aborts if the kernel interrupts it, until it is answered. */
  private answerInterruptible(
    id: number,
    operation: string,
    serial: number,
    call: (interrupted: AbortSignal) => Answer<void>,
  ): void {
    const controller = new AbortController();
    this.lastSerialSeen = Math.max(this.lastSerialSeen, serial);
    if (this.interruptedEarly.delete(serial)) {
      controller.abort();
    }
    for (const early of this.interruptedEarly) {
      if (early < serial) {
        this.interruptedEarly.delete(early);
      }
    }
    this.interruptible.set(serial, controller);
    const settled = (): void => void this.interruptible.delete(serial);
    this.answer(
      id,
      operation,
      () => {
        try {
          return Promise.resolve(call(controller.signal)).finally(settled);
        } catch (error) {
          settled();
          throw error;
        }
      },
      this.replyOk(id),
    );
  }

  private send<T>(id: number, operation: string, value: T, reply: (value: T) => void): void {
    try {
      reply(value);
    } catch (error) {
      this.fail(id, operation, error);
    }
  }

  private fail(id: number, operation: string, error: unknown): void {
    const errno = errnoOf(error);
    if (errno === undefined) {
      this.options.onUnexpectedError?.(error, operation);
    }
    this.native.replyError(id, errno ?? E.EIO);
  }

  private replyEntry = (id: number) => (entry: Entry) => {
    this.native.replyEntry(id, packEntry(this.layout, this.scratch, entry));
  };
  private replyAttr = (id: number) => (reply: AttributesReply) => {
    this.native.replyAttr(id, packAttributes(this.layout, this.scratch, reply.attr, reply.attrTimeout));
  };
  private replyOk = (id: number) => () => {
    this.native.replyError(id, 0);
  };

  private on<K extends string>(name: K, handler: Handler): void {
    const op = this.native.ops[name];
    if (op === undefined) {
      throw new Error(`the FUSE low-level addon does not know the operation ${name}: rebuild it`);
    }
    this.handlers[op] = handler;
  }

  private installHandlers(): void {
    const fs = this.fs;
    const native = this.native;
    this.on('init', () => fs.init?.());
    this.on('destroy', () => {
      this.session = undefined;
      try {
        fs.destroy?.();
      } finally {
        this.endedResolve();
      }
    });
    this.on('lookup', (id, parent: number, name: string) =>
      this.answer(id, 'lookup', () => fs.lookup(this.ctx(), parent, name), this.replyEntry(id)),
    );
    this.on('forget', (_id, ino: number, count: number) => fs.forget?.(ino, count));
    this.on('forgetMulti', (_id, pairs: Float64Array) => {
      for (let i = 0; i + 1 < pairs.length; i += 2) {
        fs.forget?.(pairs[i], pairs[i + 1]);
      }
    });
    this.on('getattr', (id, ino: number, fh: number | undefined) =>
      this.answer(id, 'getattr', () => fs.getattr(this.ctx(), ino, fh), this.replyAttr(id)),
    );
    this.on(
      'setattr',
      (
        id,
        ino: number,
        fh: number | undefined,
        toSet: number,
        mode: number,
        uid: number,
        gid: number,
        size: number,
        atimeSec: number,
        atimeNsec: number,
        mtimeSec: number,
        mtimeNsec: number,
        ctimeSec: number,
        ctimeNsec: number,
      ) => {
        const changes: AttributeChanges = {};
        if (toSet & SetAttr.mode) {
          changes.mode = mode;
        }
        if (toSet & SetAttr.uid) {
          changes.uid = uid;
        }
        if (toSet & SetAttr.gid) {
          changes.gid = gid;
        }
        if (toSet & SetAttr.size) {
          changes.size = size;
        }
        if (toSet & SetAttr.atimeNow) {
          changes.atime = 'now';
        } else if (toSet & SetAttr.atime) {
          changes.atime = { sec: atimeSec, nsec: atimeNsec };
        }
        if (toSet & SetAttr.mtimeNow) {
          changes.mtime = 'now';
        } else if (toSet & SetAttr.mtime) {
          changes.mtime = { sec: mtimeSec, nsec: mtimeNsec };
        }
        if (toSet & SetAttr.ctime) {
          changes.ctime = { sec: ctimeSec, nsec: ctimeNsec };
        }
        this.answer(id, 'setattr', () => this.method('setattr')(this.ctx(), ino, changes, fh), this.replyAttr(id));
      },
    );
    this.on('readlink', (id, ino: number) =>
      this.answer(
        id,
        'readlink',
        () => this.method('readlink')(this.ctx(), ino),
        (target) => native.replyReadlink(id, this.nameOut(target)),
      ),
    );
    this.on('mknod', (id, parent: number, name: string, mode: number, rdev: number) =>
      this.answer(id, 'mknod', () => this.method('mknod')(this.ctx(), parent, name, mode, rdev), this.replyEntry(id)),
    );
    this.on('mkdir', (id, parent: number, name: string, mode: number) =>
      this.answer(id, 'mkdir', () => this.method('mkdir')(this.ctx(), parent, name, mode), this.replyEntry(id)),
    );
    this.on('unlink', (id, parent: number, name: string) =>
      this.answer(id, 'unlink', () => this.method('unlink')(this.ctx(), parent, name), this.replyOk(id)),
    );
    this.on('rmdir', (id, parent: number, name: string) =>
      this.answer(id, 'rmdir', () => this.method('rmdir')(this.ctx(), parent, name), this.replyOk(id)),
    );
    this.on('symlink', (id, parent: number, name: string, target: string) =>
      this.answer(id, 'symlink', () => this.method('symlink')(this.ctx(), parent, name, target), this.replyEntry(id)),
    );
    this.on('rename', (id, parent: number, name: string, newParent: number, newName: string, flags: number) =>
      this.answer(
        id,
        'rename',
        () => this.method('rename')(this.ctx(), parent, name, newParent, newName, flags),
        this.replyOk(id),
      ),
    );
    this.on('link', (id, ino: number, newParent: number, newName: string) =>
      this.answer(id, 'link', () => this.method('link')(this.ctx(), ino, newParent, newName), this.replyEntry(id)),
    );
    this.on('open', (id, ino: number, flags: number) =>
      this.answer(
        id,
        'open',
        () => (fs.open ? fs.open(this.ctx(), ino, flags) : { fh: 0 }),
        (reply) => native.replyOpen(id, reply.fh, openFlags(reply)),
      ),
    );
    this.on('read', (id, ino: number, fh: number, size: number, offset: number) => {
      const storage = this.replyBuffers.take(size);
      this.answer(
        id,
        'read',
        () => this.method('read')(this.ctx(), ino, fh, size, offset, storage.subarray(0, size)),
        (data) => native.replyBuffer(id, data, Math.min(data.length, size)),
        () => this.replyBuffers.give(storage),
      );
    });
    this.on('write', (id, ino: number, fh: number, data: Buffer, offset: number, fromPageCache: number) =>
      this.answer(
        id,
        'write',
        () => this.method('write')(this.ctx(), ino, fh, data, offset, fromPageCache !== 0),
        (written) => native.replyCount(id, written),
      ),
    );
    this.on('flush', (id, ino: number, fh: number, lockOwner: bigint) =>
      this.answer(id, 'flush', () => this.method('flush')(this.ctx(), ino, fh, lockOwner), this.replyOk(id)),
    );
    this.on('release', (id, ino: number, fh: number, flags: number, lockOwner: bigint, flockRelease: number) =>
      this.answer(
        id,
        'release',
        () => fs.release?.(this.ctx(), ino, fh, flags, lockOwner, flockRelease !== 0),
        this.replyOk(id),
      ),
    );
    this.on('fsync', (id, ino: number, fh: number, dataOnly: number) =>
      this.answer(id, 'fsync', () => this.method('fsync')(this.ctx(), ino, fh, dataOnly !== 0), this.replyOk(id)),
    );
    this.on('opendir', (id, ino: number, flags: number) =>
      this.answer(
        id,
        'opendir',
        () => (fs.opendir ? fs.opendir(this.ctx(), ino, flags) : { fh: 0 }),
        (reply) => native.replyOpen(id, reply.fh, openFlags(reply)),
      ),
    );
    this.on('readdir', (id, ino: number, fh: number, size: number, offset: number) => {
      const storage = this.replyBuffers.take(size);
      const out = new DirectoryBuffer(native, storage, size, this.nameOut);
      this.answer(
        id,
        'readdir',
        () => this.method('readdir')(this.ctx(), ino, fh, offset, out),
        () => native.replyBuffer(id, out.bytes, out.used),
        () => this.replyBuffers.give(storage),
      );
    });
    this.on('readdirplus', (id, ino: number, fh: number, size: number, offset: number) => {
      // The shared scratch is safe: each entry is packed and added in one synchronous step.
      const storage = this.replyBuffers.take(size);
      const out = new DirectoryPlusBuffer(native, this.layout, this.scratch, storage, size, this.nameOut);
      this.answer(
        id,
        'readdirplus',
        () => this.method('readdirplus')(this.ctx(), ino, fh, offset, out),
        () => native.replyBuffer(id, out.bytes, out.used),
        () => this.replyBuffers.give(storage),
      );
    });
    this.on('releasedir', (id, ino: number, fh: number) =>
      this.answer(id, 'releasedir', () => fs.releasedir?.(this.ctx(), ino, fh), this.replyOk(id)),
    );
    this.on('fsyncdir', (id, ino: number, fh: number, dataOnly: number) =>
      this.answer(id, 'fsyncdir', () => this.method('fsyncdir')(this.ctx(), ino, fh, dataOnly !== 0), this.replyOk(id)),
    );
    this.on('statfs', (id, ino: number) =>
      this.answer(
        id,
        'statfs',
        () => (fs.statfs ? fs.statfs(this.ctx(), ino) : DEFAULT_STATFS),
        (s) =>
          native.replyStatfs(
            id,
            Float64Array.of(
              s.bsize,
              s.frsize,
              s.blocks,
              s.bfree,
              s.bavail,
              s.files,
              s.ffree,
              s.favail ?? s.ffree,
              s.namemax,
            ),
          ),
      ),
    );
    this.on('setxattr', (id, ino: number, name: string, value: Buffer, flags: number) =>
      this.answer(id, 'setxattr', () => this.method('setxattr')(this.ctx(), ino, name, value, flags), this.replyOk(id)),
    );
    this.on('getxattr', (id, ino: number, name: string, size: number) =>
      this.answer(
        id,
        'getxattr',
        () => this.method('getxattr')(this.ctx(), ino, name),
        (value) => this.replySized(id, value, size),
      ),
    );
    this.on('listxattr', (id, ino: number, size: number) =>
      this.answer(
        id,
        'listxattr',
        () => this.method('listxattr')(this.ctx(), ino),
        (names) =>
          this.replySized(
            id,
            Buffer.from(names.map((n) => `${n}\0`).join(''), this.options.byteNames ? 'latin1' : 'utf8'),
            size,
          ),
      ),
    );
    this.on('removexattr', (id, ino: number, name: string) =>
      this.answer(id, 'removexattr', () => this.method('removexattr')(this.ctx(), ino, name), this.replyOk(id)),
    );
    this.on('access', (id, ino: number, mask: number) =>
      this.answer(id, 'access', () => this.method('access')(this.ctx(), ino, mask), this.replyOk(id)),
    );
    this.on('create', (id, parent: number, name: string, mode: number, flags: number) =>
      this.answer(
        id,
        'create',
        () => this.method('create')(this.ctx(), parent, name, mode, flags),
        (reply: CreateReply) =>
          native.replyCreate(id, packEntry(this.layout, this.scratch, reply), reply.fh, openFlags(reply)),
      ),
    );
    this.on(
      'getlk',
      (id, ino: number, fh: number, owner: bigint, type: number, start: number, length: number, pid: number) => {
        const asked: RecordLock = { type, start, length, pid };
        this.answer(
          id,
          'getlk',
          () => this.method('getlk')(this.ctx(), ino, fh, owner, asked),
          (held) => {
            const answer = held ?? { ...asked, type: LockType.unlock, pid: 0 };
            native.replyLock(id, answer.type, answer.start, answer.length, answer.pid);
          },
        );
      },
    );
    this.on(
      'setlk',
      (
        id,
        ino: number,
        fh: number,
        owner: bigint,
        type: number,
        start: number,
        length: number,
        pid: number,
        wait: number,
        serial: number,
      ) =>
        this.answerInterruptible(id, 'setlk', serial, (interrupted) =>
          this.method('setlk')(this.ctx(), ino, fh, owner, { type, start, length, pid }, wait !== 0, interrupted),
        ),
    );
    this.on('flock', (id, ino: number, fh: number, owner: bigint, operation: number, serial: number) =>
      this.answerInterruptible(id, 'flock', serial, (interrupted) =>
        this.method('flock')(this.ctx(), ino, fh, owner, operation, interrupted),
      ),
    );
    this.on('interrupt', (_id, serial: number) => {
      const request = this.interruptible.get(serial);
      if (request !== undefined) {
        request.abort();
      } else if (serial > this.lastSerialSeen) {
        this.interruptedEarly.add(serial);
        if (this.interruptedEarly.size > MAX_EARLY_INTERRUPTS) {
          // Insertion order is serial order: the oldest is the least likely still to come.
          this.interruptedEarly.delete(this.interruptedEarly.values().next().value!);
        }
      }
      // Otherwise it was answered already: nothing to interrupt.
    });
    this.on('fallocate', (id, ino: number, fh: number, mode: number, offset: number, length: number) =>
      this.answer(
        id,
        'fallocate',
        () => this.method('fallocate')(this.ctx(), ino, fh, mode, offset, length),
        this.replyOk(id),
      ),
    );
    this.on(
      'copyFileRange',
      (
        id,
        inoIn: number,
        fhIn: number,
        offIn: number,
        inoOut: number,
        fhOut: number,
        offOut: number,
        length: number,
        flags: number,
      ) =>
        this.answer(
          id,
          'copyFileRange',
          () =>
            this.method('copyFileRange')(
              this.ctx(),
              { ino: inoIn, fh: fhIn, offset: offIn },
              { ino: inoOut, fh: fhOut, offset: offOut },
              length,
              flags,
            ),
          (copied) => native.replyCount(id, copied),
        ),
    );
  }

  /** getxattr/listxattr: size 0 asks for the length; a value longer than `size` is ERANGE. */
  private replySized(id: number, value: Buffer, size: number): void {
    if (size === 0) {
      this.native.replyXattrSize(id, value.length);
    } else if (value.length > size) {
      this.native.replyError(id, E.ERANGE);
    } else {
      this.native.replyBuffer(id, value, value.length);
    }
  }

  /** The filesystem's handler for `name`, bound; one it does not implement answers ENOSYS. */
  private method<K extends keyof LowLevelFilesystem>(name: K): NonNullable<LowLevelFilesystem[K]> {
    const handler = this.fs[name];
    if (handler === undefined) {
      throw new FuseError(E.ENOSYS, `${name} is not implemented`);
    }
    return (handler as (...args: unknown[]) => unknown).bind(this.fs) as NonNullable<LowLevelFilesystem[K]>;
  }
}
