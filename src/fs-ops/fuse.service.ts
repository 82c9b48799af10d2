import fs from 'node:fs';
import path from 'node:path';
import Fuse from 'fuse-native';
import { FsError } from '../common/errors/fs-error';
import { boundedStep } from '../common/lifecycle/bounded-step';
import type { NameChange, RemoteApplied } from '../metadata/metadata-events';
import { FuseError, LowLevelMount } from '../fuse-lowlevel';
import { FS_OPS, type FsOp, type FuseContext, type FuseReply } from './fs-ops';
import { toErrno } from './errno.mapper';
import { type FuseApi, fuseMountOptions, lowLevelMountOptions, type MountOptionSettings } from './mount-options';
import { mountedPaths, raiseKernelReadahead } from './mountpoint';
import { MountWatch } from './mount-watch';
import type { RiverFs } from './river-fs';
import type { FileLockService } from '../locks';
import { RiverLowLevelFs, type RequestRunner } from './river-lowlevel';
import { RiverPathFs } from './river-path-fs';
import { SecurityXattrShortcut } from './security-xattr-shortcut';

export interface FuseOpObserver {
  /** Called once per FUSE call with its outcome ('ok' or the errno name) and duration. */
  (op: string, result: string, seconds: number): void;
}

/** How long `fusermount -u` may take before the unmount counts as failed. */
const UNMOUNT_COMMAND_TIMEOUT_MS = 10_000;
/** The kernel's read-ahead on the low-level mount: one request of libfuse 3's largest size (1 MiB). */
const KERNEL_READAHEAD_KIB = 1024;

export interface FuseServiceOptions extends MountOptionSettings {
  /** The FUSE API the mount speaks: the low-level one (by inode) or fuse-native's high-level one (by path). */
  fuseApi: FuseApi;
  mountpoint: string;
  log: {
    warn(message: string): void;
    error(message: string): void;
    debug?(message: string): void;
  };
  observe?: FuseOpObserver;
  /** Hears of every request, so background work can step aside while applications keep the mount busy. */
  activity?: { note(): void };
  /** Keeps fcntl and flock locks across gateways (low-level mount only); without it the kernel keeps them. */
  locks?: FileLockService;
}

/** A mount of either API, as FuseService drives it. */
interface ActiveMount {
  unmount(): Promise<void>;
  /**
   * Drops what the kernel caches of these inodes (attributes, pages), one notification each; the high-level API
   * caches nothing to drop.
   */
  invalidateInodes?(inos: readonly number[]): Promise<void>[];
  /** Drops the kernel's cached lookups of these names (a deleted one also tells inotify watchers). */
  invalidateNames?(names: readonly NameChange[]): Promise<void>[];
}

/**
 * Mounts a RiverFs through the FUSE low-level binding (RiverLowLevelFs, by inode) or through fuse-native's high-level
 * API (every FsOp adapted to fuse-native's callback style, by path), as `fuseApi` says. No exception ever reaches
 * either binding (one escaping a handler would crash the process and leave a dead mount): every failure is mapped to
 * an errno by the one errno mapper, and unexpected ones are logged. Both count calls in flight (the unmount drains
 * them) and report each call to `observe`.
 */
export class FuseService {
  private fuse: ActiveMount | undefined;
  private readonly pathFs: RiverPathFs;
  private accepting = true;
  private inFlight = 0;
  private readonly idleWaiters = new Set<() => void>();
  private readonly lostListeners = new Set<() => void>();
  private watch: MountWatch | undefined;
  private lost = false;
  private stopHearingPulls: (() => void) | undefined;
  /** The mount point as /proc/self/mountinfo spells it (symbolic links in its parents resolved). */
  private kernelPath: string;

  constructor(
    private readonly riverFs: RiverFs,
    private readonly options: FuseServiceOptions,
  ) {
    this.kernelPath = options.mountpoint;
    this.pathFs = new RiverPathFs(riverFs);
  }

  get fuseApi(): FuseApi {
    return this.options.fuseApi;
  }

  get mounted(): boolean {
    return this.fuse !== undefined;
  }

  get mountpoint(): string {
    return this.options.mountpoint;
  }

  /** Whether the kernel still lists this mount (false once an operator removed it with fusermount -u). */
  async listedByKernel(): Promise<boolean> {
    return (await mountedPaths()).has(this.kernelPath);
  }

  /**
   * Calls `listener` once if the mount disappears from under the running gateway (removed from outside, not by
   * unmount()); at once when that already happened.
   */
  onMountLost(listener: () => void): void {
    if (this.lost) {
      listener();
      return;
    }
    this.lostListeners.add(listener);
  }

  private handlers(): Record<string, (...args: never[]) => void> {
    const handlers: Record<string, (...args: never[]) => void> = {};
    for (const fsOp of FS_OPS) {
      handlers[fsOp.name] = (...args: unknown[]) => this.dispatch(fsOp, args);
    }
    return handlers;
  }

  private dispatch(fsOp: FsOp, raw: unknown[]): void {
    // fuse-native passes (...inputs, callback) and our patch adds the caller's context after the callback.
    const callbackIndex = raw.findIndex((value) => typeof value === 'function');
    const callback = raw[callbackIndex] as FuseReply;
    const inputs = raw.slice(0, callbackIndex);
    const context = raw[callbackIndex + 1] as FuseContext | undefined;
    const finish = this.beginCall(fsOp.name);
    let promise: Promise<unknown>;
    try {
      promise = this.accepting
        ? fsOp.run(this.pathFs, context, inputs)
        : Promise.reject(new FsError('EIO', 'the filesystem is being unmounted'));
    } catch (error) {
      promise = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    promise.then(
      (result) => {
        try {
          fsOp.reply(callback, result, inputs);
          finish('ok');
        } catch (error) {
          this.fail(fsOp, callback, error, inputs, finish);
        }
      },
      (error: unknown) => this.fail(fsOp, callback, error, inputs, finish),
    );
  }

  private fail(fsOp: FsOp, callback: FuseReply, error: unknown, inputs: unknown[], finish: (r: string) => void): void {
    const { errno, name, expected } = toErrno(error);
    if (!expected) {
      this.options.log.error(
        `${fsOp.name}(${String(inputs[0])}) failed unexpectedly: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
    } else {
      this.options.log.debug?.(`${fsOp.name}(${String(inputs[0])}) -> ${name}`);
    }
    try {
      callback(errno);
    } finally {
      finish(name);
    }
  }

  async mount(): Promise<void> {
    this.fuse = this.options.fuseApi === 'lowlevel' ? await this.mountLowLevel() : await this.mountHighLevel();
    this.accepting = true;
    this.stopHearingPulls = this.riverFs.events.on('remoteApplied', (event) => this.remoteApplied(event));
    // Resolved through the parent only: resolving the mount point itself would ask this very mount, synchronously.
    const target = this.options.mountpoint;
    this.kernelPath = path.join(fs.realpathSync(path.dirname(target)), path.basename(target));
    if (this.options.fuseApi === 'lowlevel' && !(await raiseKernelReadahead(this.kernelPath, KERNEL_READAHEAD_KIB))) {
      this.options.log.debug?.(`kernel read-ahead of ${this.kernelPath} left at its default (not root?)`);
    }
    this.watch = new MountWatch(
      () => this.listedByKernel(),
      () => this.mountLost(),
    );
    this.watch.start();
  }

  private async mountHighLevel(): Promise<ActiveMount> {
    const fuse = new Fuse(this.options.mountpoint, this.handlers(), {
      extraOptions: fuseMountOptions(this.options),
      bytePaths: true,
      // fuse-native would answer a call itself after 15 s; a write-through close may legitimately take longer.
      timeout: false,
      force: false,
    });
    await new Promise<void>((resolve, reject) => fuse.mount((error) => (error ? reject(error) : resolve())));
    return { unmount: () => this.fuseUnmount(fuse) };
  }

  private async mountLowLevel(): Promise<ActiveMount> {
    const securityXattrs = new SecurityXattrShortcut((among) => this.riverFs.anySecurityXattr(among));
    const filesystem = new RiverLowLevelFs(this.riverFs, {
      securityXattrs,
      attrTimeoutSeconds: this.options.attrTimeoutSeconds,
      entryTimeoutSeconds: this.options.entryTimeoutSeconds,
      run: this.runRequest,
      locks: this.options.locks,
      onBackgroundError: (error, what) =>
        this.options.log.error(
          `${what} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        ),
    });
    const mount = await LowLevelMount.mount(this.options.mountpoint, filesystem, {
      fuseOptions: lowLevelMountOptions(this.options),
      byteNames: true,
      maxReadahead: KERNEL_READAHEAD_KIB * 1024,
      onUnexpectedError: (error, operation) =>
        this.options.log.error(
          `${operation} failed unexpectedly: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        ),
    });
    await this.refreshSecurityXattrs(() => securityXattrs.attach((absent) => mount.setSecurityXattrsAbsent(absent)));
    return {
      invalidateInodes: (inos) => {
        filesystem.contentChangedOutsideKernel(inos);
        // A pull may have brought the first security.* xattr.
        void this.refreshSecurityXattrs(() => securityXattrs.refresh(inos));
        return inos.map((ino) => mount.notifyInvalInode(ino, 0, 0));
      },
      // Names travel as byte strings (byteNames): latin1 maps each byte to one character and back.
      invalidateNames: (names) =>
        names.map(({ parent, name, gone }) =>
          gone === undefined
            ? mount.notifyInvalEntry(parent, name.toString('latin1'))
            : mount.notifyDelete(parent, gone, name.toString('latin1')),
        ),
      unmount: () =>
        withTimeout(
          mount.unmount(),
          UNMOUNT_COMMAND_TIMEOUT_MS,
          `fusermount3 -u did not end the session within ${UNMOUNT_COMMAND_TIMEOUT_MS / 1000} s`,
        ),
    };
  }

  /** A failed look at the store leaves the shortcut off: every security.* getxattr is asked, as without it. */
  private async refreshSecurityXattrs(refresh: () => Promise<void>): Promise<void> {
    try {
      await refresh();
    } catch (error) {
      this.options.log.warn(
        `could not tell whether any security.* xattr exists (${error instanceof Error ? error.message : String(error)}): ` +
          'getxattr of such names is answered by the store',
      );
    }
  }

  /**
   * A pull from Tahoe changed inodes and names behind the kernel's back: open files take their new sizes first, then
   * the kernel drops what it cached of them (it asks again at once), and the names that went or appeared, so that the
   * next lookup of such a name comes here rather than waiting out the entry timeout.
   */
  private remoteApplied({ inos, names }: RemoteApplied): void {
    this.riverFs
      .remoteChanged(inos)
      .finally(() => {
        this.invalidateInodes(inos);
        this.settleNotifications(this.fuse?.invalidateNames?.(names) ?? [], (index) => {
          const change = names[index];
          return `kernel invalidation of name ${JSON.stringify(change.name.toString('latin1'))} in inode ${change.parent}`;
        });
      })
      .catch(() => undefined);
  }

  /**
   * Tells the kernel that these inodes changed behind its back (a pull from Tahoe replaced a file's content or
   * attributes, or a directory's entries): their cached attributes and pages go. Never waits, never fails: the
   * binding sends notifications off the event loop, and one that fails only leaves the kernel's cache to its timeout.
   */
  invalidateInodes(inos: readonly number[]): void {
    this.settleNotifications(
      this.fuse?.invalidateInodes?.(inos) ?? [],
      (index) => `kernel invalidation of inode ${inos[index]}`,
    );
  }

  /** A notification the kernel refused (nothing cached under it, or the mount going) only matters at debug level. */
  private settleNotifications(notifications: Promise<void>[], what: (index: number) => string): void {
    notifications.forEach((notification, index) => {
      notification.catch((error: unknown) =>
        this.options.log.debug?.(`${what(index)} failed: ${error instanceof Error ? error.message : String(error)}`),
      );
    });
  }

  /**
   * Counts a call in flight (the unmount drains them) until the returned function is called with its outcome ('ok'
   * or the errno name), which also reports it to `observe`.
   */
  private beginCall(op: string): (result: string) => void {
    const started = process.hrtime.bigint();
    this.options.activity?.note();
    this.inFlight++;
    return (result) => {
      this.inFlight--;
      if (this.inFlight === 0) {
        for (const wake of [...this.idleWaiters]) {
          wake();
        }
      }
      this.options.observe?.(op, result, Number(process.hrtime.bigint() - started) / 1e9);
    };
  }

  /** Runs one low-level request: counted in flight, refused while stopping, observed, its failure an errno. */
  private readonly runRequest: RequestRunner = <T>(op: string, subject: number, work: () => Promise<T>) => {
    const finish = this.beginCall(op);
    let promise: Promise<T>;
    try {
      promise = this.accepting ? work() : Promise.reject(new FsError('EIO', 'the filesystem is being unmounted'));
    } catch (error) {
      promise = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return promise.then(
      (value) => {
        finish('ok');
        return value;
      },
      (error: unknown) => {
        const { errno, name, expected } = toErrno(error);
        if (!expected) {
          this.options.log.error(
            `${op}(${subject}) failed unexpectedly: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
          );
        } else {
          this.options.log.debug?.(`${op}(${subject}) -> ${name}`);
        }
        finish(name);
        throw expected ? FuseError.answer(-errno, `${op}: ${name}`) : new FuseError(-errno, `${op}: ${name}`);
      },
    );
  };

  private mountLost(): void {
    this.lost = true;
    this.options.log.error(
      `the mount on ${this.options.mountpoint} was removed from outside (fusermount -u?): nothing can reach this ` +
        'gateway any more',
    );
    for (const listener of [...this.lostListeners]) {
      listener();
    }
    this.lostListeners.clear();
  }

  /**
   * Flushes open files, waits up to `graceMs` for calls in flight, and unmounts. A mount already removed from outside
   * is not an error: there is nothing left to unmount. Every wait has a bound; only a mount that stays listed after
   * a failed `fusermount -u` makes this fail.
   */
  async unmount(graceMs = 10_000): Promise<void> {
    const fuse = this.fuse;
    if (fuse === undefined) {
      return;
    }
    this.watch?.stop();
    this.stopHearingPulls?.();
    this.stopHearingPulls = undefined;
    await boundedStep('flushing open files before the unmount', graceMs, this.options.log, () =>
      this.riverFs.flushAll(),
    );
    await this.waitIdle(graceMs);
    if (await this.listedByKernel()) {
      try {
        await fuse.unmount();
      } catch (error) {
        if (await this.listedByKernel()) {
          throw error;
        }
      }
    } else {
      this.options.log.warn(
        `${this.options.mountpoint} is no longer mounted (removed from outside); nothing to unmount`,
      );
    }
    this.fuse = undefined;
  }

  private fuseUnmount(fuse: Fuse): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`fusermount -u did not return within ${UNMOUNT_COMMAND_TIMEOUT_MS / 1000} s`)),
        UNMOUNT_COMMAND_TIMEOUT_MS,
      );
      fuse.unmount((error) => {
        clearTimeout(timer);
        if (error) {
          reject(error);
        } else {
          resolve();
        }
      });
    });
  }

  /** Refuses new calls (EIO) from now on: used by a forced shutdown. */
  stopAccepting(): void {
    this.accepting = false;
  }

  private waitIdle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.idleWaiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      this.idleWaiters.add(wake);
    });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
