import fs from 'node:fs';
import path from 'node:path';
import Fuse from 'fuse-native';
import { FsError } from '../common/errors/fs-error';
import { boundedStep } from '../common/lifecycle/bounded-step';
import { FS_OPS, type FsOp, type FuseContext, type FuseReply } from './fs-ops';
import { toErrno } from './errno.mapper';
import { fuseMountOptions, type MountOptionSettings } from './mount-options';
import { mountedPaths } from './mountpoint';
import { MountWatch } from './mount-watch';
import type { RiverFs } from './river-fs';

export interface FuseOpObserver {
  /** Called once per FUSE call with its outcome ('ok' or the errno name) and duration. */
  (op: string, result: string, seconds: number): void;
}

/** How long `fusermount -u` may take before the unmount counts as failed. */
const UNMOUNT_COMMAND_TIMEOUT_MS = 10_000;

export interface FuseServiceOptions extends MountOptionSettings {
  mountpoint: string;
  log: {
    warn(message: string): void;
    error(message: string): void;
    debug?(message: string): void;
  };
  observe?: FuseOpObserver;
}

/**
 * Mounts a RiverFs through fuse-native and adapts every FsOp to fuse-native's callback style. No exception ever
 * reaches fuse-native (one escaping a handler would crash the process and leave a dead mount): every failure is
 * mapped to an errno by the one errno mapper, and unexpected ones are logged.
 */
export class FuseService {
  private fuse: Fuse | undefined;
  private accepting = true;
  private inFlight = 0;
  private readonly idleWaiters = new Set<() => void>();
  private readonly lostListeners = new Set<() => void>();
  private watch: MountWatch | undefined;
  private lost = false;
  /** The mount point as /proc/self/mountinfo spells it (symbolic links in its parents resolved). */
  private kernelPath: string;

  constructor(
    private readonly riverFs: RiverFs,
    private readonly options: FuseServiceOptions,
  ) {
    this.kernelPath = options.mountpoint;
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
    const started = process.hrtime.bigint();
    this.inFlight++;
    const finish = (result: string): void => {
      this.inFlight--;
      if (this.inFlight === 0) {
        for (const wake of [...this.idleWaiters]) {
          wake();
        }
      }
      this.options.observe?.(fsOp.name, result, Number(process.hrtime.bigint() - started) / 1e9);
    };
    let promise: Promise<unknown>;
    try {
      promise = this.accepting
        ? fsOp.run(this.riverFs, context, inputs)
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
    const fuse = new Fuse(this.options.mountpoint, this.handlers(), {
      extraOptions: fuseMountOptions(this.options),
      bytePaths: true,
      // fuse-native would answer a call itself after 15 s; a write-through close may legitimately take longer.
      timeout: false,
      force: false,
    });
    await new Promise<void>((resolve, reject) => fuse.mount((error) => (error ? reject(error) : resolve())));
    this.fuse = fuse;
    this.accepting = true;
    // Resolved through the parent only: resolving the mount point itself would ask this very mount, synchronously.
    const target = this.options.mountpoint;
    this.kernelPath = path.join(fs.realpathSync(path.dirname(target)), path.basename(target));
    this.watch = new MountWatch(
      () => this.listedByKernel(),
      () => this.mountLost(),
    );
    this.watch.start();
  }

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
    await boundedStep('flushing open files before the unmount', graceMs, this.options.log, () =>
      this.riverFs.flushAll(),
    );
    await this.waitIdle(graceMs);
    if (await this.listedByKernel()) {
      try {
        await this.fuseUnmount(fuse);
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
