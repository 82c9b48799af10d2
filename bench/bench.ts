/**
 * `npm run bench [-- --quick] [-- --mysql]`: the same workloads, in one run on one machine, against
 *   local        a directory on the local disk (the physical reference);
 *   passthrough  a minimal fuse-native mount passing calls to a local directory (FUSE through Node's ceiling);
 *   riverfs      the RiverFS mount (embedded default: SQLite, in-process state; --mysql: MariaDB + Redis).
 * It starts what it needs itself (a local Tahoe grid for RiverFS), prints a table with progress, and writes
 * every figure (median, min, max of the repetitions) and the ratios to bench/results/.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { LocalGrid } from '../src/grid/local-grid';
import { defaultTahoeVenv } from '../src/config/config.schema';
import { mountedPaths } from '../src/fs-ops/mountpoint';
import { pollUntil } from '../src/grid/process.util';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..', '..');
const DIST_BENCH = __dirname;

interface Settings {
  quick: boolean;
  mysql: boolean;
  seqMiB: number;
  files: number;
  dirs: number;
  repetitions: number;
}

interface Target {
  name: string;
  dir: string;
  pid?: () => number | undefined;
  stop(): Promise<void>;
}

type Figures = Record<string, number>;

function parseArgs(argv: string[]): Settings {
  const quick = argv.includes('--quick');
  return {
    quick,
    mysql: argv.includes('--mysql'),
    seqMiB: quick ? 256 : 1024,
    files: quick ? 1000 : 10_000,
    dirs: quick ? 10 : 100,
    repetitions: quick ? 1 : 3,
  };
}

function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

async function unmount(mountpoint: string): Promise<void> {
  if ((await mountedPaths()).has(mountpoint)) {
    await run('fusermount3', ['-u', mountpoint]).catch(() => run('fusermount3', ['-uz', mountpoint]));
  }
}

async function startChild(command: string, args: string[], ready: string, label: string): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  await pollUntil(
    () => {
      if (exited !== undefined) {
        throw new Error(`${label} exited (${exited}) before it was ready:\n${output}`);
      }
      return output.includes(ready) ? true : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 50, describeTimeout: () => `${label} was not ready within 180 s:\n${output}` },
  );
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

function localTarget(work: string): Promise<Target> {
  const dir = path.join(work, 'local');
  fs.mkdirSync(dir, { recursive: true });
  return Promise.resolve({ name: 'local', dir, stop: () => Promise.resolve() });
}

async function passthroughTarget(work: string): Promise<Target> {
  const backing = path.join(work, 'passthrough-backing');
  const mountpoint = path.join(work, 'passthrough-mnt');
  fs.mkdirSync(backing, { recursive: true });
  fs.mkdirSync(mountpoint, { recursive: true });
  const child = await startChild(
    process.execPath,
    [path.join(DIST_BENCH, 'passthrough-fs.js'), backing, mountpoint],
    'mounted',
    'passthrough',
  );
  return {
    name: 'passthrough',
    dir: mountpoint,
    pid: () => child.pid,
    stop: async () => {
      await stopChild(child);
      await unmount(mountpoint);
    },
  };
}

async function riverfsTarget(work: string, tahoeUrl: string, settings: Settings): Promise<Target> {
  const mountpoint = path.join(work, 'riverfs-mnt');
  fs.mkdirSync(mountpoint, { recursive: true });
  const args = [
    path.join(ROOT, 'bin', 'riverfs.js'),
    'mount',
    mountpoint,
    '--data-dir',
    path.join(work, 'riverfs-data'),
    '--tahoe-url',
    tahoeUrl,
    '--log-level',
    'warn',
    '--listen',
    '127.0.0.1:0',
  ];
  let dropDatabase: (() => Promise<void>) | undefined;
  if (settings.mysql) {
    const name = `riverfs_bench_${process.pid}`;
    await run('mysql', ['-uroot', '-h127.0.0.1', '-e', `CREATE DATABASE ${name}`]);
    dropDatabase = async () => {
      await run('mysql', ['-uroot', '-h127.0.0.1', '-e', `DROP DATABASE IF EXISTS ${name}`]);
    };
    args.push('--db', `mysql://root@127.0.0.1:3306/${name}`, '--redis', 'redis://127.0.0.1:6379');
  }
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('RIVERFS_')));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  await pollUntil(
    async () => (output.includes('RiverFS mounted on') && (await mountedPaths()).has(mountpoint) ? true : undefined),
    {
      timeoutMs: 180_000,
      intervalMs: 50,
      describeTimeout: () => `riverfs did not mount within 180 s:\n${output}`,
    },
  );
  return {
    name: settings.mysql ? 'riverfs(mariadb)' : 'riverfs',
    dir: mountpoint,
    pid: () => child.pid,
    stop: async () => {
      await stopChild(child);
      await unmount(mountpoint);
      await dropDatabase?.();
    },
  };
}

async function seconds(work: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Sequential write of `mib` MiB with dd (time until close returns, data fsync'd), then a warm read. */
async function sequential(target: Target, mib: number): Promise<Figures> {
  const file = path.join(target.dir, 'sequential.bin');
  const write = await seconds(() =>
    run('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${mib}`, 'conv=fsync'], { maxBuffer: 1 << 20 }),
  );
  const read = await seconds(() => run('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M'], { maxBuffer: 1 << 20 }));
  await fs.promises.unlink(file);
  return { seqWriteMBps: (mib * 1.048576) / write, seqReadWarmMBps: (mib * 1.048576) / read };
}

async function smallFiles(target: Target, settings: Settings): Promise<Figures> {
  const dir = path.join(target.dir, 'small');
  await fs.promises.mkdir(dir, { recursive: true });
  const { stdout } = await run(process.execPath, [
    path.join(DIST_BENCH, 'small-files-workload.js'),
    dir,
    String(settings.files),
    String(settings.dirs),
    '4096',
  ]);
  await fs.promises.rm(dir, { recursive: true, force: true });
  return JSON.parse(stdout) as Figures;
}

interface Summary {
  median: number;
  min: number;
  max: number;
}

function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted[sorted.length - 1] };
}

function machine(): Record<string, unknown> {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
    kernel: os.release(),
    tahoe: 'tahoe-lafs 1.20.0',
  };
}

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-bench-'));
  const grid = new LocalGrid({
    gridDir: path.join(work, 'grid'),
    venvDir: defaultTahoeVenv(process.env),
    storageNodes: 3,
    sharesNeeded: 2,
    sharesHappy: 3,
    sharesTotal: 3,
  });
  const results: Record<string, Record<string, Summary>> = {};
  try {
    progress(`starting a local Tahoe grid in ${work}/grid`);
    const status = await grid.start();
    const targets: (() => Promise<Target>)[] = [
      () => localTarget(work),
      () => passthroughTarget(work),
      () => riverfsTarget(work, status.webUrl!, settings),
    ];
    for (const makeTarget of targets) {
      const target = await makeTarget();
      progress(`${target.name}: ${target.dir}`);
      const samples: Record<string, number[]> = {};
      try {
        for (let repetition = 1; repetition <= settings.repetitions; repetition++) {
          progress(`${target.name}: sequential ${settings.seqMiB} MiB (${repetition}/${settings.repetitions})`);
          const figures = { ...(await sequential(target, settings.seqMiB)) };
          progress(`${target.name}: ${settings.files} small files in ${settings.dirs} directories`);
          Object.assign(figures, await smallFiles(target, settings));
          for (const [name, value] of Object.entries(figures)) {
            (samples[name] ??= []).push(value);
          }
        }
      } finally {
        await target.stop();
      }
      results[target.name] = Object.fromEntries(
        Object.entries(samples).map(([name, values]) => [name, summarize(values)]),
      );
    }
  } finally {
    await grid.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }

  const riverfs = results.riverfs ?? results['riverfs(mariadb)'];
  const ratios: Record<string, Record<string, number>> = {};
  for (const reference of ['local', 'passthrough']) {
    const base = results[reference];
    if (!riverfs || !base) {
      continue;
    }
    ratios[`riverfs/${reference}`] = Object.fromEntries(
      Object.keys(riverfs).map((name) => [name, riverfs[name].median / base[name].median]),
    );
  }
  const metrics = Object.keys(results.local ?? {});
  const names = Object.keys(results);
  const lines = [
    ['workload', ...names, ...Object.keys(ratios)]
      .map((cell, index) => (index === 0 ? cell.padEnd(18) : cell.padStart(20)))
      .join(''),
    ...metrics.map((metric) =>
      [
        metric.padEnd(18),
        ...names.map((name) => (results[name][metric]?.median ?? NaN).toFixed(1).padStart(20)),
        ...Object.values(ratios).map((ratio) => `${((ratio[metric] ?? NaN) * 100).toFixed(0)}%`.padStart(20)),
      ].join(''),
    ),
  ];
  process.stdout.write(
    `\n${lines.join('\n')}\n(MB/s for seq*, operations/s for the rest; medians of ${settings.repetitions})\n`,
  );
  const outDir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(
    outDir,
    `bench-${settings.quick ? 'quick' : 'full'}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  );
  fs.writeFileSync(file, JSON.stringify({ settings, machine: machine(), results, ratios }, null, 2) + '\n');
  process.stdout.write(`figures written to ${path.relative(ROOT, file)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
