/**
 * The workloads, each for a mounted target (ordinary calls and tools on the mount point) and, where it has a
 * meaning, for the raw web API (the same data moved with direct calls). Each returns the figures of one repetition.
 */
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TahoeClient } from '../src/tahoe/tahoe.client';
import type { ChildSpec, TahoeNode } from '../src/tahoe/tahoe.types';
import { pollUntil } from '../src/grid/process.util';
import type { BenchSettings } from './settings';
import type { ApiTarget, MountedTarget, Target } from './targets';
import { s3Workload } from './s3-bench';
import { RUN_NONCE, randomChunks, smallFilePayload, uniqueTreeCopy, writeRandomFile } from './unique-data';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const MB = 1e6;

export type Figures = Record<string, number>;

/** A tarball of real packages, with the counts the rates are computed from. */
export interface Tree {
  tarball: string;
  files: number;
  entries: number;
  /** The same tree extracted on local disk, for the web-API target to upload from. */
  extracted: string;
}

export interface WorkloadContext {
  settings: BenchSettings;
  tree: Tree;
  slowTree: Tree;
  /** Drops the kernel's page cache (root only); false when it could not. */
  dropCaches: () => Promise<boolean>;
  /** A directory on local disk for the sources of timed writes (bench/unique-data.ts). */
  scratch: string;
  progress: (message: string) => void;
}

export interface Workload {
  name: string;
  /** Repeated `settings.repetitions` times, or run once. */
  once?: boolean;
  applies(target: Target): boolean;
  /** Records into `figures` as it goes: what was measured before a failure is kept. */
  run(target: Target, context: WorkloadContext, figures: Figures): Promise<void>;
}

async function seconds(work: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** No command may stall the run: one that hangs on a mount is killed after this long (the workload then fails). */
const COMMAND_TIMEOUT_MS = 20 * 60_000;

async function fsWorkload(...args: (string | number)[]): Promise<number> {
  const { stdout } = await run(process.execPath, [path.join(__dirname, 'fs-workload.js'), ...args.map(String)], {
    maxBuffer: 1 << 20,
    timeout: COMMAND_TIMEOUT_MS,
  });
  return (JSON.parse(stdout) as { seconds: number }).seconds;
}

async function sh(script: string, ...args: string[]): Promise<void> {
  await run('sh', ['-c', script, 'sh', ...args], { maxBuffer: 1 << 20, timeout: COMMAND_TIMEOUT_MS });
}

/** Tahoe's SFTP frontend has no fsync (dd fails with ENOSYS); its uploads start at close and are awaited via the web API. */
function fsyncFlag(target: MountedTarget): string[] {
  return target.name === 'sshfs' ? [] : ['conv=fsync'];
}

/** `dd` of `mib` MiB from `source` (default zeros) into `file`: the time until close returned. */
async function ddWrite(target: MountedTarget, file: string, mib: number, source = '/dev/zero'): Promise<number> {
  return seconds(() =>
    run('dd', [`if=${source}`, `of=${file}`, 'bs=1M', `count=${mib}`, ...fsyncFlag(target)], {
      timeout: COMMAND_TIMEOUT_MS,
    }),
  );
}

async function ddRead(file: string): Promise<number> {
  return seconds(() => run('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M'], { timeout: COMMAND_TIMEOUT_MS }));
}

async function drained(target: MountedTarget, context: WorkloadContext): Promise<void> {
  await target.admin?.waitDrained(context.settings.drainTimeoutMs);
}

async function resolvePath(client: TahoeClient, rootCap: string, relative: string): Promise<TahoeNode | undefined> {
  let node: TahoeNode | undefined;
  let dircap = rootCap;
  for (const name of relative.split('/')) {
    try {
      node = await client.getChild(dircap, name);
    } catch {
      return undefined;
    }
    dircap = node.type === 'directory' ? (node.rwUri ?? node.roUri ?? '') : '';
  }
  return node;
}

/**
 * Waits until what was just written under `relative` is in Tahoe: RiverFS drained; for sshfs, the file linked with
 * its full size, or the directory holding `entries` entries below it (read back through the web API, as sshfs
 * caches what it lists).
 */
async function inTahoe(
  target: MountedTarget,
  context: WorkloadContext,
  relative: string,
  expect: { size: number } | { entries: number },
): Promise<void> {
  if (target.admin) {
    await target.admin.waitDrained(context.settings.drainTimeoutMs);
    return;
  }
  const tahoe = target.tahoe;
  if (!tahoe) {
    return;
  }
  let seen = 'nothing';
  await pollUntil(
    async () => {
      const node = await resolvePath(tahoe.client, tahoe.rootCap, relative);
      if ('size' in expect) {
        seen = node?.type === 'file' ? `${node.size} bytes` : 'no file';
        return node?.type === 'file' && node.size === expect.size ? true : undefined;
      }
      const dircap = node?.type === 'directory' ? node.rwUri : undefined;
      const entries = dircap === undefined ? 0 : await apiWalk(tahoe.client, dircap);
      seen = `${entries} entries`;
      return entries >= expect.entries ? true : undefined;
    },
    {
      timeoutMs: context.settings.drainTimeoutMs,
      intervalMs: 100,
      describeTimeout: () =>
        `${relative} did not reach Tahoe within ${context.settings.drainTimeoutMs / 1000} s (${seen})`,
    },
  );
}

/** Cold: nothing of the file in RiverFS's block cache (it must be clean, so drained first) nor in the page cache. */
async function makeCold(target: MountedTarget, context: WorkloadContext): Promise<void> {
  await drained(target, context);
  await target.admin?.evictAll();
  await dropCachesOrFail(context);
}

async function dropCachesOrFail(context: WorkloadContext): Promise<void> {
  if (!(await context.dropCaches())) {
    throw new Error('cannot drop the page cache (needs root): cold figures would be warm');
  }
}

/**
 * The web-API target moves as much data as RiverFS wherever the two are compared on their way to Tahoe (issue 15
 * wants RiverFS at 90% of it): a rate over 256 MiB or 500 files against one over 1 GiB or 10,000 says little.
 * The other slow targets (sshfs, write-through) keep the smaller sizes.
 */
function sizedAsRiverFs(target: Target): boolean {
  return !target.slow || target.kind === 'api';
}

function seqMiB(target: Target, settings: BenchSettings): number {
  return sizedAsRiverFs(target) ? settings.seqMiB : settings.slowSeqMiB;
}

/** Writes `mib` MiB of content unique to this run and target into `file` with dd (random source made untimed first). */
async function ddWriteUnique(
  target: MountedTarget,
  context: WorkloadContext,
  file: string,
  mib: number,
): Promise<number> {
  const source = path.join(context.scratch, `source-${target.name}-${path.basename(file)}`);
  await writeRandomFile(source, mib);
  try {
    return await ddWrite(target, file, mib, source);
  } finally {
    await fs.promises.rm(source, { force: true });
  }
}

async function consume(client: TahoeClient, cap: string): Promise<number> {
  const { stream } = await client.read(cap);
  let bytes = 0;
  for await (const chunk of stream) {
    bytes += (chunk as Buffer).length;
  }
  return bytes;
}

async function apiUploadLinked(target: ApiTarget, name: string, bytes: number): Promise<string> {
  const cap = await target.client.upload(randomChunks(bytes), { length: bytes });
  await target.client.setChildren(target.rootCap, { [name]: { type: 'file', roUri: cap } });
  return cap;
}

const sequential: Workload = {
  name: 'sequential',
  applies: () => true,
  async run(target, context, figures) {
    const mib = seqMiB(target, context.settings);
    const megabytes = (mib * MiB) / MB;
    if (target.kind === 'api') {
      const write = await seconds(() => apiUploadLinked(target, 'sequential.bin', mib * MiB));
      const cap = (await target.client.getChild(target.rootCap, 'sequential.bin')).roUri!;
      const warm = await seconds(() => consume(target.client, cap));
      // Cold as for the mounts: their cold figures drop the page cache, which Tahoe's nodes read shares (and their
      // own code) through too; measured here without the drop, first bytes came 55 ms after the request, not 65-120.
      await dropCachesOrFail(context);
      const cold = await seconds(() => consume(target.client, cap));
      await target.client.unlink(target.rootCap, 'sequential.bin');
      Object.assign(figures, {
        'seqWrite.closeMBps': megabytes / write,
        'seqWrite.inTahoeMBps': megabytes / write,
        'seqRead.warmMBps': megabytes / warm,
        'seqRead.coldMBps': megabytes / cold,
      });
      return;
    }
    const file = path.join(target.dir, 'sequential.bin');
    const write = await ddWriteUnique(target, context, file, mib);
    figures['seqWrite.closeMBps'] = megabytes / write;
    if (target.admin || target.tahoe) {
      const arrival = await seconds(() => inTahoe(target, context, 'sequential.bin', { size: mib * MiB }));
      figures['seqWrite.inTahoeMBps'] = megabytes / (write + arrival);
    } else if (target.inTahoeAtClose) {
      figures['seqWrite.inTahoeMBps'] = megabytes / write;
    }
    figures['seqRead.warmMBps'] = megabytes / (await ddRead(file));
    await makeCold(target, context);
    const pid = target.kind === 'mounted' ? target.pid : undefined;
    if (pid !== undefined) {
      // "5" resets the peak (VmHWM) to the current RSS, so the figure is the cold read's (issue 15: ≤ 300 MiB).
      fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    }
    figures['seqRead.coldMBps'] = megabytes / (await ddRead(file));
    if (pid !== undefined) {
      figures['seqRead.coldPeakRssMiB'] = peakRssMiB(pid);
    }
    await fs.promises.unlink(file);
    await drained(target, context);
  },
};

const RANDOM_BLOCK = 4096;

const randomReads: Workload = {
  name: 'random 4 KiB reads',
  applies: () => true,
  async run(target, context, figures) {
    const { randomFileMiB } = context.settings;
    // Every read of the Tahoe-bound targets is a round trip to the grid: fewer of them give the same rate.
    const reads = target.slow ? Math.ceil(context.settings.randomReads / 10) : context.settings.randomReads;
    if (target.kind === 'api') {
      const cap = await apiUploadLinked(target, 'random.bin', randomFileMiB * MiB);
      const blocks = (randomFileMiB * MiB) / RANDOM_BLOCK;
      let state = 42;
      const time = await seconds(async () => {
        for (let i = 0; i < reads; i++) {
          state = (state * 1103515245 + 12345) % 2147483648;
          await target.client.readRange(cap, (state % blocks) * RANDOM_BLOCK, RANDOM_BLOCK);
        }
      });
      await target.client.unlink(target.rootCap, 'random.bin');
      figures['random4k.readsPerS'] = reads / time;
      return;
    }
    const file = path.join(target.dir, 'random.bin');
    await ddWriteUnique(target, context, file, randomFileMiB);
    await inTahoe(target, context, 'random.bin', { size: randomFileMiB * MiB });
    // Warm: the figure is the FUSE/SFTP round trip per read, not the grid's download speed. The file is read once
    // (into RiverFS's block cache), then the kernel's page cache is dropped: a mount that keeps pages across opens
    // (RiverFS's keep_cache) would otherwise answer every read from memory and the figure would not be FUSE's.
    await ddRead(file);
    if (!(await context.dropCaches())) {
      throw new Error('cannot drop the page cache (needs root): the random reads would not reach the mount');
    }
    const time = await fsWorkload('random', file, reads, RANDOM_BLOCK, 42);
    await fs.promises.unlink(file);
    await drained(target, context);
    figures['random4k.readsPerS'] = reads / time;
  },
};

const firstByte: Workload = {
  name: 'time to first byte (cold)',
  applies: () => true,
  async run(target, context, figures) {
    const bytes = context.settings.ttfbFileMiB * MiB;
    if (target.kind === 'api') {
      const cap = await apiUploadLinked(target, 'ttfb.bin', bytes);
      await dropCachesOrFail(context);
      const time = await seconds(() => target.client.readRange(cap, 0, RANDOM_BLOCK));
      await target.client.unlink(target.rootCap, 'ttfb.bin');
      figures['ttfb.coldMs'] = time * 1000;
      return;
    }
    const file = path.join(target.dir, 'ttfb.bin');
    await ddWriteUnique(target, context, file, context.settings.ttfbFileMiB);
    await inTahoe(target, context, 'ttfb.bin', { size: bytes });
    await makeCold(target, context);
    const time = await seconds(async () => {
      const handle = await fs.promises.open(file, 'r');
      try {
        await handle.read(Buffer.alloc(RANDOM_BLOCK), 0, RANDOM_BLOCK, 0);
      } finally {
        await handle.close();
      }
    });
    await fs.promises.unlink(file);
    await drained(target, context);
    figures['ttfb.coldMs'] = time * 1000;
  },
};

const SMALL_SIZE = 4096;

/**
 * Creates `files` files in `dirs` directories as RiverFS is asked to; stat, read and unlink then time the first
 * `sampled` of them (each is a call to the grid: 10,000 unlinks one at a time per dirnode take ten minutes).
 */
async function apiSmallFiles(target: ApiTarget, files: number, dirs: number, sampled: number): Promise<Figures> {
  const { client } = target;
  const dirNames = Array.from({ length: dirs }, (_, d) => `d${d}`);
  const fileName = (i: number): string => `f${i}`;
  const filesOf = (d: number, count = files): number[] =>
    Array.from({ length: count }, (_, i) => i).filter((i) => i % dirs === d);
  const root = await client.mkdirChild(target.rootCap, 'small');
  const dircaps: string[] = [];
  const caps: string[] = [];
  // The client bounds requests in flight (8, as RiverFS does); one set_children per directory, as RiverFS publishes.
  const create = await seconds(async () => {
    dircaps.push(...(await Promise.all(dirNames.map(() => client.mkdir()))));
    await client.setChildren(
      root,
      Object.fromEntries(
        dirNames.map((name, d): [string, ChildSpec] => [name, { type: 'directory', rwUri: dircaps[d] }]),
      ),
    );
    await Promise.all(
      Array.from({ length: files }, async (_, i) => {
        caps[i] = await client.upload(smallFilePayload(SMALL_SIZE, `${RUN_NONCE}-${target.name}`, i));
      }),
    );
    await Promise.all(
      dirNames.map((_, d) =>
        client.setChildren(
          dircaps[d],
          Object.fromEntries(
            filesOf(d).map((i): [string, ChildSpec] => [fileName(i), { type: 'file', roUri: caps[i] }]),
          ),
        ),
      ),
    );
  });
  const sample = Math.min(sampled, files);
  const stat = await seconds(() =>
    Promise.all(Array.from({ length: sample }, (_, i) => client.getChild(dircaps[i % dirs], fileName(i)))),
  );
  const read = await seconds(() => Promise.all(caps.slice(0, sample).map((cap) => client.readAll(cap))));
  // Unlinks of one dirnode must not overlap (each rewrites it): one at a time per directory, directories in parallel.
  const unlink = await seconds(() =>
    Promise.all(
      dirNames.map(async (_, d) => {
        for (const i of filesOf(d, sample)) {
          await client.unlink(dircaps[d], fileName(i));
        }
      }),
    ),
  );
  await client.unlink(target.rootCap, 'small');
  return {
    'small.createPerS': files / create,
    'small.inTahoePerS': files / create,
    'small.statPerS': sample / stat,
    'small.readPerS': sample / read,
    'small.unlinkPerS': sample / unlink,
  };
}

const smallFiles: Workload = {
  name: 'small files',
  applies: () => true,
  async run(target, context, figures) {
    const { settings } = context;
    const files = sizedAsRiverFs(target) ? settings.smallFiles : settings.slowSmallFiles;
    const dirs = sizedAsRiverFs(target) ? settings.smallDirs : settings.slowSmallDirs;
    if (target.kind === 'api') {
      Object.assign(figures, await apiSmallFiles(target, files, dirs, settings.slowSmallFiles));
      return;
    }
    const root = path.join(target.dir, 'small');
    await fs.promises.mkdir(root, { recursive: true });
    const create = await fsWorkload('small', root, 'create', files, dirs, SMALL_SIZE, `${RUN_NONCE}-${target.name}`);
    figures['small.createPerS'] = files / create;
    if (target.admin || target.tahoe) {
      const arrival = await seconds(() => inTahoe(target, context, 'small', { entries: files + dirs }));
      figures['small.inTahoePerS'] = files / (create + arrival);
    } else if (target.inTahoeAtClose) {
      figures['small.inTahoePerS'] = files / create;
    }
    figures['small.statPerS'] = files / (await fsWorkload('small', root, 'stat', files, dirs, SMALL_SIZE));
    figures['small.readPerS'] = files / (await fsWorkload('small', root, 'read', files, dirs, SMALL_SIZE));
    figures['small.unlinkPerS'] = files / (await fsWorkload('small', root, 'unlink', files, dirs, SMALL_SIZE));
    await fs.promises.rm(root, { recursive: true, force: true });
    await drained(target, context);
  },
};

/**
 * Uploads a local directory tree as a Tahoe one: files in parallel (bounded by the client), one publish per directory.
 * Files with the same bytes are uploaded once and linked under each name, as RiverFS does: two uploads of one
 * content at once meet on Tahoe's convergent storage index and fail with UNHAPPY_UPLOAD (the tree has 84 copies of
 * one compiled interface module in @nestjs/core alone; the run of 2026-12-07T16:38 lost its tree figures to it).
 */
async function apiUploadTree(
  client: TahoeClient,
  local: string,
  uploads: Map<string, Promise<string>> = new Map(),
): Promise<string> {
  const entries = await fs.promises.readdir(local, { withFileTypes: true });
  const children = await Promise.all(
    entries.map(async (entry): Promise<[string, ChildSpec]> => {
      const full = path.join(local, entry.name);
      if (entry.isDirectory()) {
        return [entry.name, { type: 'directory', rwUri: await apiUploadTree(client, full, uploads) }];
      }
      const bytes = await fs.promises.readFile(full);
      const digest = crypto.createHash('sha256').update(bytes).digest('hex');
      let cap = uploads.get(digest);
      if (cap === undefined) {
        cap = client.upload(bytes);
        uploads.set(digest, cap);
      }
      return [entry.name, { type: 'file', roUri: await cap }];
    }),
  );
  const dircap = await client.mkdir();
  await client.setChildren(dircap, Object.fromEntries(children));
  return dircap;
}

async function apiWalk(client: TahoeClient, dircap: string): Promise<number> {
  const listing = await client.listDirectory(dircap);
  const below = await Promise.all(
    [...listing.children.values()].map((child) =>
      child.type === 'directory' && child.rwUri ? apiWalk(client, child.rwUri) : Promise.resolve(0),
    ),
  );
  return listing.children.size + below.reduce((sum, count) => sum + count, 0);
}

const realTree: Workload = {
  name: 'real tree',
  applies: () => true,
  async run(target, context, figures) {
    const base = sizedAsRiverFs(target) ? context.tree : context.slowTree;
    // Every target that uploads the tree gets a copy of its own (bench/unique-data.ts); the others the tarball as is.
    const uploads = target.kind === 'api' || target.admin !== undefined || target.tahoe !== undefined;
    const copy = uploads ? await uniqueTreeCopy(base.extracted, context.scratch, target.name) : undefined;
    const tree: Tree = copy ? { ...base, ...copy } : base;
    try {
      await runRealTree(target, context, figures, tree);
    } finally {
      if (copy) {
        await fs.promises.rm(copy.extracted, { recursive: true, force: true });
        await fs.promises.rm(copy.tarball, { force: true });
      }
    }
  },
};

async function runRealTree(target: Target, context: WorkloadContext, figures: Figures, tree: Tree): Promise<void> {
  if (target.kind === 'api') {
    let dircap = '';
    const extract = await seconds(async () => {
      dircap = await apiUploadTree(target.client, tree.extracted);
      await target.client.setChildren(target.rootCap, { tree: { type: 'directory', rwUri: dircap } });
    });
    let walked = 0;
    const walk = await seconds(async () => (walked = await apiWalk(target.client, dircap)));
    await target.client.unlink(target.rootCap, 'tree');
    Object.assign(figures, {
      'tree.extractFilesPerS': tree.files / extract,
      'tree.inTahoeFilesPerS': tree.files / extract,
      'tree.lsLREntriesPerS': walked / walk,
    });
    return;
  }
  const dir = path.join(target.dir, 'tree');
  await fs.promises.mkdir(dir);
  const extract = await seconds(() =>
    // -m: no futimens on the open file. On RiverFS that clears the pending size/mtime without the cache fsync, so
    // close skips it and the upload is postponed for ever (RiverFs.utimens → persist; see bench/README.md).
    run('tar', ['-xmf', tree.tarball, '--no-same-owner', '-C', dir], { timeout: COMMAND_TIMEOUT_MS }),
  );
  figures['tree.extractFilesPerS'] = tree.files / extract;
  if (target.admin || target.tahoe) {
    const arrival = await seconds(() => inTahoe(target, context, 'tree', { entries: tree.entries }));
    figures['tree.inTahoeFilesPerS'] = tree.files / (extract + arrival);
  } else if (target.inTahoeAtClose) {
    figures['tree.inTahoeFilesPerS'] = tree.files / extract;
  }
  figures['tree.lsLREntriesPerS'] = tree.entries / (await seconds(() => sh('ls -lR "$1" > /dev/null', dir)));
  figures['tree.findEntriesPerS'] = tree.entries / (await seconds(() => sh('find "$1" > /dev/null', dir)));
  figures['tree.duEntriesPerS'] = tree.entries / (await seconds(() => sh('du -s "$1" > /dev/null', dir)));
  if (target.slow) {
    // Through Tahoe's SFTP frontend `git add` hung for good in an open(O_CREAT) under .git while index.lock was
    // open (tiny run of 2026-12-04): not measurable there.
    context.progress(`${target.name}: git skipped (hangs in Tahoe's SFTP frontend)`);
  } else {
    const git = await seconds(() =>
      sh(
        'cd "$1" && git init -q && git -c user.name=bench -c user.email=bench@localhost add -A && ' +
          'git -c user.name=bench -c user.email=bench@localhost commit -qm tree',
        dir,
      ),
    );
    figures['tree.gitCommitFilesPerS'] = tree.files / git;
  }
  await fs.promises.rm(dir, { recursive: true, force: true });
  await drained(target, context);
}

const growth: Workload = {
  name: 'growth with entries in one directory',
  once: true,
  applies: (target) => !target.slow,
  async run(target, context, figures) {
    const mounted = target as MountedTarget;
    const root = path.join(mounted.dir, 'growth');
    for (const count of context.settings.scaleCounts) {
      context.progress(`${target.name}: ${count} entries in one directory`);
      const dir = path.join(root, `n${count}`);
      const create = await fsWorkload('scale-create', dir, count);
      figures[`scale.create.${count}.usPerEntry`] = (create * 1e6) / count;
      if (mounted.admin) {
        const drain = await seconds(() => drained(mounted, context));
        figures[`scale.drain.${count}.usPerEntry`] = (drain * 1e6) / count;
      }
      const list = await fsWorkload('scale-list', dir);
      figures[`scale.list.${count}.usPerEntry`] = (list * 1e6) / count;
    }
    await fs.promises.rm(root, { recursive: true, force: true });
    await drained(mounted, context);
  },
};

function peakRssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  if (!match) {
    throw new Error(`no VmHWM in /proc/${pid}/status`);
  }
  return Number(match[1]) / 1024;
}

const bigCopy: Workload = {
  name: 'big copy (server memory)',
  once: true,
  applies: (target) => target.kind === 'mounted' && target.pid !== undefined,
  async run(target, context, figures) {
    const mounted = target as MountedTarget;
    const pid = mounted.pid!;
    const mib = context.settings.memoryCopyMiB;
    // "5" resets the peak (VmHWM) to the current RSS, so the figure is this copy's, not startup's.
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    const file = path.join(mounted.dir, 'big.bin');
    const time = await ddWrite(mounted, file, mib);
    figures['memory.copyMBps'] = (mib * MiB) / MB / time;
    figures['memory.peakRssMiB'] = peakRssMiB(pid);
    await fs.promises.unlink(file);
    await drained(mounted, context);
  },
};

export const WORKLOADS: Workload[] = [
  sequential,
  randomReads,
  firstByte,
  smallFiles,
  realTree,
  growth,
  bigCopy,
  s3Workload,
];
