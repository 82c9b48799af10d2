import { Command } from 'commander';
import type { JobDto } from '../admin/dto/job.dto';
import type { StatsDto } from '../admin/dto/stats.dto';
import type { SyncQueueDto } from '../admin/dto/sync.dto';
import type { ApiProblem } from './admin-api.client';
import { addAdminApiOptions, adminContext, runAdminAction } from './admin-command.util';
import { formatBytes, formatDuration, formatPercent, keyValueTable, printJson } from './admin-output';
import { progressLine } from './job-progress';
import { EXIT } from './exit-codes';

type Check = { status?: string; message?: string; [detail: string]: unknown };

export interface StatusReport {
  url: string;
  ready: boolean;
  /** Each readiness check by name (database, stateStore, grid, mount) with its status and details. */
  checks: Record<string, Check>;
  /** Why it is not ready (the readiness problem), when it is not. */
  notReady: ApiProblem | null;
  stats: StatsDto;
  /** The sync queue's total, depth by kind and oldest age; null when the gateway has no sync worker. */
  syncQueue: Pick<SyncQueueDto, 'total' | 'depth' | 'oldestDirtyAgeSeconds'> | null;
  runningJobs: JobDto[];
}

function describeCheck(name: string, check: Check): string {
  const state = check.status ?? '?';
  const detail =
    typeof check.message === 'string'
      ? ` (${check.message})`
      : typeof check.backend === 'string'
        ? ` (${check.backend})`
        : '';
  return `${name} ${state}${detail}`;
}

function mountLine(checks: Record<string, Check>): string {
  const mount = checks.mount;
  if (mount === undefined) {
    return '?';
  }
  if (mount.expected === false) {
    return 'none (this process serves the admin API only)';
  }
  const mountpoint = typeof mount.mountpoint === 'string' ? mount.mountpoint : '?';
  return mount.mounted === true
    ? `mounted on ${mountpoint}`
    : `NOT mounted on ${mountpoint}${typeof mount.message === 'string' ? ` (${mount.message})` : ''}`;
}

function syncLine(report: StatusReport): string {
  const sync = report.stats.sync;
  if (!sync.available) {
    return 'not available in this gateway (no sync worker)';
  }
  const queue = report.syncQueue;
  const queued = queue?.total ?? sync.queued;
  const depth = Object.entries(queue?.depth ?? {})
    .filter(([, count]) => count > 0)
    .map(([kind, count]) => `${kind} ${count}`)
    .join(', ');
  const oldest = queue?.oldestDirtyAgeSeconds ?? sync.oldestDirtyAgeSeconds;
  return (
    `${queued ?? '?'} queued${depth === '' ? '' : ` (${depth})`}` +
    (oldest === null ? '' : `, oldest dirty data ${formatDuration(oldest)} old`)
  );
}

/** RSS and the heap against its bound; a gateway older than the memory figures has none. */
function memoryLine(memory: StatusReport['stats']['memory'] | undefined): string {
  if (memory === undefined) {
    return '?';
  }
  return (
    `${formatBytes(memory.rssBytes)} resident; heap ${formatBytes(memory.heapUsedBytes)} used of ` +
    formatBytes(memory.heapLimitBytes)
  );
}

/** The report as a human reads it: one line per part. */
export function formatStatus(report: StatusReport): string {
  const { stats } = report;
  const { grid, cache } = stats;
  const failing = Array.isArray(report.notReady?.failing) ? (report.notReady.failing as string[]) : [];
  const rows: [string, string][] = [
    ['state', report.ready ? 'ready' : `NOT READY${failing.length > 0 ? `: ${failing.join(', ')} failing` : ''}`],
    ['mount', mountLine(report.checks)],
    [
      'checks',
      Object.entries(report.checks)
        .map(([name, check]) => describeCheck(name, check))
        .join(', '),
    ],
    [
      'grid',
      grid.reachable
        ? `${grid.connectedServers} servers connected, ${grid.sharesHappy} needed for happy uploads ` +
          `(${grid.happy ? 'happy' : 'NOT happy'}); ${formatBytes(grid.availableSpace)} available`
        : `Tahoe node not reachable${grid.error === null ? '' : `: ${grid.error}`}`,
    ],
    [
      'cache',
      `${formatBytes(cache.usedBytes)} used of ${formatBytes(cache.limits.maxBytes)} ` +
        `(${formatBytes(cache.dirtyBytes)} dirty in ${cache.dirtyFiles} files, ${cache.files} files cached)` +
        (cache.disk === null ? '' : `; disk ${formatBytes(cache.disk.freeBytes)} free`),
    ],
    [
      'hits',
      `${formatPercent(cache.hitRatio)} hit ratio (${cache.hits} hits, ${cache.misses} misses), ${cache.evictions} evictions`,
    ],
    ['sync', syncLine(report)],
    ['memory', memoryLine(stats.memory)],
    [
      'jobs',
      report.runningJobs.length === 0
        ? 'none running'
        : report.runningJobs
            .map((job) => `${job.id.slice(0, 8)} ${progressLine(job, (Date.now() - Date.parse(job.createdAt)) / 1000)}`)
            .join('\n          '),
    ],
    [
      'errors',
      stats.recentErrors.total === 0
        ? 'none since start'
        : `${stats.recentErrors.total} since start; newest ${stats.recentErrors.errors[0]?.time ?? '?'} ` +
          `[${stats.recentErrors.errors[0]?.source ?? '?'} ${stats.recentErrors.errors[0]?.code ?? '?'}] ` +
          (stats.recentErrors.errors[0]?.message ?? ''),
    ],
  ];
  return `RiverFS ${stats.version} at ${report.url}, up ${formatDuration(stats.uptimeSeconds)}\n` + keyValueTable(rows);
}

export function statusCommand(): Command {
  return addAdminApiOptions(
    new Command('status').description(
      'Show a running RiverFS: readiness, mount, grid, cache, sync queue and running jobs; exits 0 when ready, 3 when not',
    ),
  ).action(async (_options: unknown, command: Command) => {
    await runAdminAction(command, async () => {
      const { client, json } = adminContext(command);
      const readiness = await client.ready();
      const stats = await client.stats();
      const [syncQueue, runningJobs] = await Promise.all([
        stats.sync.available ? client.syncQueue(1) : Promise.resolve(null),
        client.jobs({ state: 'running', limit: 20 }),
      ]);
      const report: StatusReport = {
        url: client.baseUrl,
        ready: readiness.ready,
        checks: (readiness.ready
          ? readiness.health.details
          : ((readiness.problem.checks as Record<string, unknown> | undefined) ?? {})) as Record<string, Check>,
        notReady: readiness.ready ? null : readiness.problem,
        stats,
        syncQueue:
          syncQueue === null
            ? null
            : {
                total: syncQueue.total,
                depth: syncQueue.depth,
                oldestDirtyAgeSeconds: syncQueue.oldestDirtyAgeSeconds,
              },
        runningJobs,
      };
      if (json) {
        printJson(report);
      } else {
        process.stdout.write(formatStatus(report));
      }
      return report.ready ? EXIT.OK : EXIT.NOT_RUNNING;
    });
  });
}
