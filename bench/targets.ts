/** The filesystems under test, each started by the bench and stopped (unmounted) by it. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { servingPid } from '../src/cli/heap-bound';
import { mountedPaths } from '../src/fs-ops/mountpoint';
import { pollUntil } from '../src/grid/process.util';
import { TahoeClient } from '../src/tahoe/tahoe.client';
import { PASSTHROUGH_TIMEOUT_SECONDS, passthroughMountOptions } from './passthrough-options';
import { RiverFsAdmin } from './riverfs-admin';
import type { SftpFrontend } from './tahoe-sftp';

const run = promisify(execFile);
export const REPO_ROOT = path.join(__dirname, '..', '..', '..');
const DIST_BENCH = __dirname;

/** Thrown by a target that cannot run here (a tool missing or not installable): the bench reports and skips it. */
export class TargetUnavailable extends Error {}

/** A target reached through a mount point with ordinary file calls and tools. */
export interface MountedTarget {
  kind: 'mounted';
  name: string;
  dir: string;
  /** The process serving the mount (for its peak memory), when there is one. */
  pid?: number;
  /** RiverFS only: drain to Tahoe, evict the cache. */
  admin?: RiverFsAdmin;
  /** Data is in Tahoe once close returns (sshfs through Tahoe's SFTP frontend, RiverFS in writethrough mode). */
  inTahoeAtClose: boolean;
  /** sshfs: where its files land in Tahoe, to see when a write has arrived (Tahoe's SFTP close does not wait). */
  tahoe?: { client: TahoeClient; rootCap: string };
  /** Every call goes to Tahoe: the workloads move less data here (see BenchSettings.slow*). */
  slow: boolean;
  /** RiverFS: the last lines its process wrote (warnings and errors), shown when a workload fails. */
  recentLog?: () => string;
  stop(): Promise<void>;
}

/** The same data moved with direct web-API calls to the same grid. */
export interface ApiTarget {
  kind: 'api';
  name: 'tahoe-api';
  client: TahoeClient;
  rootCap: string;
  slow: true;
  stop(): Promise<void>;
}

export type Target = MountedTarget | ApiTarget;

export async function unmount(mountpoint: string): Promise<void> {
  if ((await mountedPaths()).has(mountpoint)) {
    await run('fusermount3', ['-u', mountpoint]).catch(() => run('fusermount3', ['-uz', mountpoint]));
  }
}

export interface Child {
  process: ChildProcess;
  output: () => string;
}

/** Starts a server process and waits until `isReady(output)`; its output is drained (kept) so it never blocks on a full pipe. */
export async function startChild(
  command: string,
  args: string[],
  label: string,
  isReady: (output: string) => Promise<boolean> | boolean,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Child> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  const keep = (chunk: string): void => {
    output = (output + chunk).slice(-200_000);
  };
  child.stdout?.setEncoding('utf8').on('data', keep);
  child.stderr?.setEncoding('utf8').on('data', keep);
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  try {
    await pollUntil(
      async () => {
        if (exited !== undefined) {
          throw new Error(`${label} exited (${exited}) before it was ready:\n${output}`);
        }
        return (await isReady(output)) ? true : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 50, describeTimeout: () => `${label} was not ready within 180 s:\n${output}` },
    );
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return { process: child, output: () => output };
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

export function localTarget(work: string): Promise<MountedTarget> {
  const dir = path.join(work, 'local');
  fs.mkdirSync(dir, { recursive: true });
  return Promise.resolve({
    kind: 'mounted',
    name: 'local',
    dir,
    inTahoeAtClose: false,
    slow: false,
    stop: () => Promise.resolve(),
  });
}

/**
 * The limit "FUSE through Node on this machine": `passthrough` is the low-level binding (libfuse 3) with RiverFS's
 * default mount options and timeouts (passthrough-lowlevel.ts); `passthrough-highlevel` is fuse-native with the
 * options of RiverFS's `--fuse-api highlevel` (passthrough-fs.ts).
 */
export async function passthroughTarget(work: string, api: 'lowlevel' | 'highlevel'): Promise<MountedTarget> {
  const name = api === 'lowlevel' ? 'passthrough' : 'passthrough-highlevel';
  const backing = path.join(work, `${name}-backing`);
  const mountpoint = path.join(work, `${name}-mnt`);
  fs.mkdirSync(backing, { recursive: true });
  fs.mkdirSync(mountpoint, { recursive: true });
  const script = api === 'lowlevel' ? 'passthrough-lowlevel.js' : 'passthrough-fs.js';
  const child = await startChild(
    process.execPath,
    [path.join(DIST_BENCH, script), backing, mountpoint],
    name,
    (output) => output.includes('mounted'),
  );
  return {
    kind: 'mounted',
    name,
    dir: mountpoint,
    pid: child.process.pid,
    inTahoeAtClose: false,
    slow: false,
    stop: async () => {
      await stopChild(child.process);
      await unmount(mountpoint);
    },
  };
}

/** Lines of a target's output (RiverFS, passthrough-c) shown with a failed workload. */
const RECENT_LOG_LINES = 30;

/**
 * Compiles bench/passthrough-c/passthrough_ll.c into the work directory with the system's libfuse 3 (the one the
 * binding links). Without a C compiler or libfuse 3's development files the target is unavailable, not an error.
 */
async function buildPassthroughC(work: string): Promise<string> {
  const failure = (error: unknown): { missing: boolean; detail: string } => {
    const { code, stderr, message } = error as { code?: unknown; stderr?: string; message: string };
    return { missing: code === 'ENOENT', detail: (stderr?.trim() || message).slice(0, 2000) };
  };
  let flags: string[];
  try {
    flags = (await run('pkg-config', ['--cflags', '--libs', 'fuse3'])).stdout.trim().split(/\s+/);
  } catch (error) {
    throw new TargetUnavailable(
      `libfuse 3's development files were not found (pkg-config --cflags --libs fuse3: ${failure(error).detail.split('\n')[0]}); ` +
        'on Debian: apt-get install pkg-config libfuse3-dev',
    );
  }
  const binary = path.join(work, 'passthrough-c');
  const source = path.join(REPO_ROOT, 'bench', 'passthrough-c', 'passthrough_ll.c');
  try {
    await run('cc', ['-std=gnu11', '-O2', '-Wall', '-Wextra', source, '-o', binary, ...flags], { timeout: 120_000 });
  } catch (error) {
    const { missing, detail } = failure(error);
    if (missing) {
      throw new TargetUnavailable('no C compiler (cc) to build passthrough-c; on Debian: apt-get install gcc');
    }
    throw new Error(`passthrough-c did not compile:\n${detail}`, { cause: error });
  }
  return binary;
}

/**
 * The same pass-through in C on libfuse 3's low-level API (passthrough-c/passthrough_ll.c), built at run time, with
 * the Node one's mount options and timeouts (passthrough-options.ts): the limit of any FUSE filesystem on this
 * machine, so that `passthrough` beside it shows what Node and the binding cost. Served by libfuse's multi-threaded
 * loop (the Node one is serial).
 */
export async function passthroughCTarget(work: string): Promise<MountedTarget> {
  const name = 'passthrough-c';
  const binary = await buildPassthroughC(work);
  const backing = path.join(work, `${name}-backing`);
  const mountpoint = path.join(work, `${name}-mnt`);
  fs.mkdirSync(backing, { recursive: true });
  fs.mkdirSync(mountpoint, { recursive: true });
  let child: Child;
  try {
    child = await startChild(
      binary,
      [`--timeout=${PASSTHROUGH_TIMEOUT_SECONDS}`, '-o', passthroughMountOptions().join(','), backing, mountpoint],
      name,
      (output) => /^mounted$/m.test(output),
    );
  } catch (error) {
    await unmount(mountpoint);
    throw error;
  }
  return {
    kind: 'mounted',
    name,
    dir: mountpoint,
    pid: child.process.pid,
    recentLog: () => child.output().split('\n').slice(-RECENT_LOG_LINES).join('\n'),
    inTahoeAtClose: false,
    slow: false,
    stop: async () => {
      try {
        await stopChild(child.process);
      } finally {
        await unmount(mountpoint);
      }
    },
  };
}

export interface RiverFsTargetOptions {
  name: string;
  tahoeUrl: string;
  mode: 'writeback' | 'writethrough';
  mysql: boolean;
  /** Extra node flags for the RiverFS process, e.g. --cpu-prof (RIVERFS_BENCH_NODE_FLAGS). */
  nodeFlags: string[];
  /** Extra `riverfs mount` options, e.g. `--upload-concurrency 8` to compare settings (RIVERFS_BENCH_MOUNT_ARGS). */
  mountArgs: string[];
  /** --fuse-api; the default's when absent. */
  fuseApi?: 'lowlevel' | 'highlevel';
}

export async function riverfsTarget(work: string, options: RiverFsTargetOptions): Promise<MountedTarget> {
  const mountpoint = path.join(work, `${options.name}-mnt`);
  const dataDir = path.join(work, `${options.name}-data`);
  fs.mkdirSync(mountpoint, { recursive: true });
  const args = [
    ...options.nodeFlags,
    path.join(REPO_ROOT, 'bin', 'riverfs.js'),
    'mount',
    mountpoint,
    '--data-dir',
    dataDir,
    '--tahoe-url',
    options.tahoeUrl,
    '--mode',
    options.mode,
    '--log-level',
    'warn',
    '--listen',
    '127.0.0.1:0',
    ...(options.fuseApi === undefined ? [] : ['--fuse-api', options.fuseApi]),
    ...options.mountArgs,
  ];
  let dropDatabase: (() => Promise<void>) | undefined;
  if (options.mysql) {
    const database = `riverfs_bench_${process.pid}`;
    await run('mysql', ['-uroot', '-h127.0.0.1', '-e', `CREATE DATABASE ${database}`]);
    dropDatabase = async () => {
      await run('mysql', ['-uroot', '-h127.0.0.1', '-e', `DROP DATABASE IF EXISTS ${database}`]);
    };
    args.push('--db', `mysql://root@127.0.0.1:3306/${database}`, '--redis', 'redis://127.0.0.1:6379');
  }
  // The user's own RIVERFS_* settings must not leak into the bench's mount.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('RIVERFS_')));
  let child: Child;
  try {
    child = await startChild(
      process.execPath,
      args,
      options.name,
      async (output) => output.includes('RiverFS mounted on') && (await mountedPaths()).has(mountpoint),
      env,
    );
  } catch (error) {
    await unmount(mountpoint);
    await dropDatabase?.();
    throw error;
  }
  const adminUrl = /admin:\s+(http:\/\/[^\s/]+)/.exec(child.output())?.[1];
  if (adminUrl === undefined) {
    await stopChild(child.process);
    await unmount(mountpoint);
    throw new Error(`no admin URL in the output of riverfs mount:\n${child.output()}`);
  }
  const token = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  return {
    kind: 'mounted',
    name: options.name,
    dir: mountpoint,
    // The process serving the mount (the launcher's child), whose memory the big copy watches.
    pid: child.process.pid === undefined ? undefined : servingPid(child.process.pid),
    admin: new RiverFsAdmin(adminUrl, token),
    recentLog: () => child.output().split('\n').slice(-RECENT_LOG_LINES).join('\n'),
    inTahoeAtClose: options.mode === 'writethrough',
    // Every close waits for Tahoe in writethrough: sized like the other Tahoe-bound targets (10,000 small files at
    // about 2 per second would take 80 minutes of a full run); its figures are rates, so they still compare.
    slow: options.mode === 'writethrough',
    stop: async () => {
      try {
        await stopChild(child.process);
      } finally {
        await unmount(mountpoint);
        await dropDatabase?.();
      }
    },
  };
}

export async function sshfsTarget(work: string, sftp: SftpFrontend, api: ApiTarget): Promise<MountedTarget> {
  const mountpoint = path.join(work, 'sshfs-mnt');
  fs.mkdirSync(mountpoint, { recursive: true });
  const options = [
    `IdentityFile=${sftp.identityFile}`,
    'StrictHostKeyChecking=no',
    'UserKnownHostsFile=/dev/null',
    `port=${sftp.port}`,
    'LogLevel=ERROR',
  ].join(',');
  // sshfs daemonizes once mounted; the mount table, not the process, is the sign that it is up.
  await run('sshfs', [`${sftp.user}@127.0.0.1:/`, mountpoint, '-o', options], { timeout: 60_000 });
  await pollUntil(async () => ((await mountedPaths()).has(mountpoint) ? true : undefined), {
    timeoutMs: 30_000,
    intervalMs: 50,
    describeTimeout: () => `sshfs did not mount ${mountpoint} within 30 s`,
  });
  return {
    kind: 'mounted',
    name: 'sshfs',
    dir: mountpoint,
    inTahoeAtClose: false,
    tahoe: { client: api.client, rootCap: api.rootCap },
    slow: true,
    stop: async () => {
      try {
        await unmount(mountpoint);
      } finally {
        await api.stop();
      }
    },
  };
}

export async function tahoeApiTarget(tahoeUrl: string): Promise<ApiTarget> {
  // Requests in flight at once: RiverFS's own default (--tahoe-concurrency), so both move data with the same parallelism.
  const client = new TahoeClient({
    url: tahoeUrl,
    connectTimeout: 10_000,
    headersTimeout: 600_000,
    bodyTimeout: 120_000,
    concurrency: 8,
    retries: 3,
  });
  const rootCap = await client.mkdir();
  return { kind: 'api', name: 'tahoe-api', client, rootCap, slow: true, stop: () => client.close() };
}
