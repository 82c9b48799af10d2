import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { servingPid } from '../../src/cli/heap-bound';
import { pollUntil } from '../../src/grid/process.util';
import { mountedPaths } from '../../src/fs-ops/mountpoint';
import { testTahoeUrl } from './tahoe.helper';
import { testVenvDir } from './test-grid';

const run = promisify(execFile);
const BIN = path.join(__dirname, '..', '..', 'bin', 'riverfs.js');

/**
 * Settings a test run may choose for every mount it starts (RIVERFS_FUSE_API=lowlevel runs the suites on the
 * low-level API); every other RIVERFS_* variable of the test process stays out of the mounts.
 */
export const PASSED_SETTINGS = new Set(['RIVERFS_FUSE_API', 'RIVERFS_ATTR_TIMEOUT', 'RIVERFS_ENTRY_TIMEOUT']);

export async function isMounted(mountpoint: string): Promise<boolean> {
  return (await mountedPaths()).has(mountpoint);
}

/** Unmounts, lazily if the mount is busy; never throws when nothing is mounted. */
export async function unmount(mountpoint: string): Promise<void> {
  if (!(await isMounted(mountpoint))) {
    return;
  }
  try {
    await run('fusermount3', ['-u', mountpoint]);
  } catch {
    await run('fusermount3', ['-uz', mountpoint]).catch(() => run('umount', ['-l', mountpoint]));
  }
}

/** A fresh, empty mountpoint directory; whatever `work` does, nothing stays mounted on it afterwards. */
export async function withTempMountpoint<T>(work: (mountpoint: string) => Promise<T>): Promise<T> {
  const mountpoint = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-mnt-'));
  try {
    return await work(mountpoint);
  } finally {
    await unmount(mountpoint);
    fs.rmSync(mountpoint, { recursive: true, force: true });
  }
}

export interface RiverFsProcessOptions {
  /** Data directory (SQLite database, cache); a new temporary one when absent. Reuse it to restart. */
  dataDir?: string;
  /** mysql://… of a test database; SQLite in the data directory when absent. */
  db?: string;
  /** redis://…; in-process state when absent. */
  redis?: string;
  /** More flags for `riverfs mount`. */
  args?: string[];
  /**
   * Let `riverfs mount` run its own embedded grid in `<data-dir>/grid` (from the test venv) instead of using the test
   * grid: slow (a new grid), for tests of the embedded default itself.
   */
  embeddedGrid?: boolean;
  /** The web API of another grid than the test run's (a suite's own grid). */
  tahoeUrl?: string;
  env?: NodeJS.ProcessEnv;
  /** The `riverfs` script to run: this checkout's bin/riverfs.js when absent (e.g. a globally installed copy). */
  bin?: string;
}

/**
 * RiverFS mounted by the real `riverfs mount` command in a child process, on the test grid. A child process
 * (not an in-process mount) because FUSE handlers run on the mounting process's event loop: a test that touched
 * its own mount synchronously would deadlock, and kill -9 tests need a process to kill.
 */
export class RiverFsProcess {
  private child: ChildProcess | undefined;
  private output = '';
  readonly dataDir: string;
  private readonly ownsDataDir: boolean;

  private constructor(
    readonly mountpoint: string,
    private readonly options: RiverFsProcessOptions,
  ) {
    this.ownsDataDir = options.dataDir === undefined;
    this.dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-data-'));
  }

  static async start(mountpoint: string, options: RiverFsProcessOptions = {}): Promise<RiverFsProcess> {
    const instance = new RiverFsProcess(mountpoint, options);
    await instance.start();
    return instance;
  }

  /** The process serving the mount (the launcher's child: see heap-bound.ts). */
  get pid(): number | undefined {
    return this.child?.pid === undefined ? undefined : servingPid(this.child.pid);
  }

  get log(): string {
    return this.output;
  }

  /** The admin HTTP server's base URL, as `riverfs mount` printed it. */
  get adminUrl(): string {
    const match = /admin: +(http:\/\/[^ /]+)\//.exec(this.output);
    if (!match) {
      throw new Error(`riverfs mount printed no admin URL:\n${this.output}`);
    }
    return match[1];
  }

  /** The admin token generated into the data directory on first start. */
  adminToken(): string {
    return fs.readFileSync(path.join(this.dataDir, 'admin-token'), 'utf8').trim();
  }

  async start(): Promise<void> {
    const args = [
      ...[this.options.bin ?? BIN, 'mount', this.mountpoint, '--data-dir', this.dataDir],
      ...(this.options.embeddedGrid
        ? ['--tahoe-venv', testVenvDir()]
        : ['--tahoe-url', this.options.tahoeUrl ?? testTahoeUrl()]),
    ];
    if (this.options.db) {
      args.push('--db', this.options.db);
    }
    if (this.options.redis) {
      args.push('--redis', this.options.redis);
    }
    args.push('--listen', '127.0.0.1:0', '--log-format', 'json', '--log-level', 'warn', ...(this.options.args ?? []));
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('RIVERFS_') || PASSED_SETTINGS.has(name)),
    );
    const child = spawn(process.execPath, args, {
      env: { ...env, ...this.options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    let exited: number | null | undefined;
    child.on('exit', (code) => (exited = code));
    await pollUntil(
      async () => {
        if (exited !== undefined) {
          throw new Error(`riverfs mount exited with ${exited} before mounting:\n${this.output}`);
        }
        return this.output.includes('RiverFS mounted on') && (await isMounted(this.mountpoint)) ? true : undefined;
      },
      {
        timeoutMs: 120_000,
        intervalMs: 50,
        describeTimeout: () => `riverfs mount did not mount within 120 s:\n${this.output}`,
      },
    );
  }

  /** Sends `signal` without waiting for anything (waitExit says how the process ended). */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Waits up to `timeoutMs` for the process to exit; its exit code (null when a signal killed it). */
  async waitExit(timeoutMs: number): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      return child?.exitCode ?? null;
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`riverfs did not exit within ${timeoutMs} ms:\n${this.output}`)),
        timeoutMs,
      );
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  /** SIGTERM: flush, unmount, exit. Returns the exit code. */
  async stop(): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) {
      return this.child?.exitCode ?? null;
    }
    this.child.kill('SIGTERM');
    return this.waitExit(60_000);
  }

  /**
   * kill -9: the mount stays behind, dead ("Transport endpoint is not connected"), as after a crash. The gateway
   * itself is killed: its launcher then ends the same way, and the mount is dead before it does (killing the launcher
   * first would leave the gateway a moment to answer calls).
   */
  async kill9(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      const gateway = this.pid;
      if (gateway !== undefined && gateway !== this.child.pid) {
        process.kill(gateway, 'SIGKILL');
        // The launcher ends once it has reaped the gateway: by then the mount is dead.
        if ((await this.waitExit(10_000).catch(() => 'timeout')) !== 'timeout') {
          return;
        }
      }
      this.child.kill('SIGKILL');
      await this.waitExit(10_000).catch(() => null);
    }
  }

  /** Stops (or kills) the process, unmounts whatever is left and removes a data directory it created. */
  async dispose(): Promise<void> {
    try {
      await this.stop();
    } catch {
      await this.kill9();
    }
    await unmount(this.mountpoint);
    if (this.ownsDataDir) {
      fs.rmSync(this.dataDir, { recursive: true, force: true });
    }
  }
}
