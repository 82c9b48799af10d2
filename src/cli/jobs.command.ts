import { Command, Option } from 'commander';
import type { JobDto } from '../admin/dto/job.dto';
import { AdminApiError, type AdminTarget, type JobKind, RequestInterrupted } from './admin-api.client';
import { addAdminApiOptions, type AdminContext, adminContext, runAdminAction } from './admin-command.util';
import { formatBytes, formatDuration, formatSummary, keyValueTable, printJson } from './admin-output';
import { describeTarget } from './admin-target';
import { followJob, jobSeconds, progressLine, reporterFor } from './job-progress';
import { EXIT, UsageError } from './exit-codes';

/** Reports a job that has ended and gives the exit code: 0 when it succeeded, 1 when it failed or was cancelled. */
function reportEnded(context: AdminContext, job: JobDto): number {
  if (context.json) {
    printJson(job);
  }
  if (job.state === 'succeeded') {
    if (!context.json) {
      const summary = formatSummary(job.result);
      process.stdout.write(
        `${job.kind} succeeded in ${formatDuration(jobSeconds(job))}${summary === '' ? '' : `: ${summary}`}\n`,
      );
    }
    return EXIT.OK;
  }
  const why =
    job.state === 'failed' && job.error !== null
      ? `failed: ${job.error.message} [${job.error.code}]`
      : job.state === 'cancelled'
        ? 'was cancelled'
        : `ended ${job.state}`;
  process.stderr.write(`riverfs: ${job.kind} job ${job.id} ${why}\n`);
  return EXIT.FAILURE;
}

/** After Ctrl-C: asks the server to cancel the job (a second Ctrl-C exits at once) and reports where it stands. */
async function cancelAfterInterrupt(context: AdminContext, job: JobDto): Promise<number> {
  const forceExit = (): void => process.exit(EXIT.INTERRUPTED);
  process.once('SIGINT', forceExit);
  try {
    process.stderr.write(`interrupted: asking the server to cancel ${job.kind} job ${job.id}\n`);
    let after: JobDto;
    try {
      after = await context.client.cancelJob(job.id);
    } catch (error) {
      // 409: it ended before the request arrived; show how.
      if (!(error instanceof AdminApiError) || error.status !== 409) {
        throw error;
      }
      after = await context.client.job(job.id);
    }
    if (context.json) {
      printJson(after);
    } else {
      process.stderr.write(`${job.kind} job ${job.id} is ${after.state}\n`);
    }
    return EXIT.INTERRUPTED;
  } finally {
    process.off('SIGINT', forceExit);
  }
}

/**
 * Starts a flush, sync or warmup job and, when asked to, waits for it: progress on stderr (a bar on a terminal,
 * plain lines otherwise, nothing with --json), the result on stdout. Ctrl-C while waiting asks the server to cancel
 * the job and exits 130.
 */
export async function runJob(
  context: AdminContext,
  kind: JobKind,
  body: AdminTarget & { recursive?: boolean; repair?: boolean; deep?: boolean },
  wait: boolean,
): Promise<number> {
  const interrupt = new AbortController();
  const onInterrupt = (): void => interrupt.abort();
  // Installed before the job is asked for, so that Ctrl-C at any point reaches the job once its id is known.
  process.on('SIGINT', onInterrupt);
  let job: JobDto | undefined;
  try {
    job = await context.client.startJob(kind, body);
    if (!wait && !interrupt.signal.aborted) {
      if (context.json) {
        printJson(job);
      } else {
        process.stdout.write(`${job.id}\n`);
        process.stderr.write(
          `${kind} job started for ${describeTarget(body)}; see it with: riverfs job ${job.id} [--wait]\n`,
        );
      }
      return EXIT.OK;
    }
    if (!context.json) {
      process.stderr.write(`${kind} job ${job.id} started for ${describeTarget(body)}\n`);
    }
    if (interrupt.signal.aborted) {
      throw new RequestInterrupted();
    }
    const ended = await followJob(context.client, job, reporterFor(context.json), { interrupt: interrupt.signal });
    return reportEnded(context, ended);
  } catch (error) {
    if (error instanceof RequestInterrupted && job !== undefined) {
      return cancelAfterInterrupt(context, job);
    }
    throw error;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

interface WaitOption {
  wait: boolean;
}

function jobCommand(
  name: JobKind,
  description: string,
  argument: string,
  waitByDefault: boolean,
  bodyOf: (
    target: AdminTarget,
    options: Record<string, unknown>,
  ) => AdminTarget & { recursive?: boolean; direction?: string },
  configure: (command: Command) => Command = (command) => command,
): Command {
  const command = configure(
    new Command(name)
      .description(description)
      .argument(argument, 'a path (see Paths below) or an inode number')
      .option('--wait', `wait for the job to end, showing its progress${waitByDefault ? ' (the default)' : ''}`)
      .option('--no-wait', `only start the job and print its id${waitByDefault ? '' : ' (the default)'}`),
  );
  return addAdminApiOptions(command, { paths: true }).action(
    async (target: string | undefined, options: Partial<WaitOption> & Record<string, unknown>, self: Command) => {
      await runAdminAction(self, async () => {
        const context = adminContext(self);
        const parsed = await context.target(target);
        return runJob(context, name, bodyOf(parsed, options), options.wait ?? waitByDefault);
      });
    },
  );
}

function printJobDetails(job: JobDto): void {
  const params = Object.entries(job.params)
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join(' ');
  const rows: [string, string][] = [
    ['job', job.id],
    ['kind', job.kind],
    ['state', job.state],
    ['params', params],
    ['created', job.createdAt],
    ['finished', job.finishedAt ?? '-'],
    [
      'progress',
      progressLine(job, (Date.parse(job.finishedAt ?? new Date().toISOString()) - Date.parse(job.createdAt)) / 1000),
    ],
  ];
  if (job.result !== null) {
    rows.push(['result', formatSummary(job.result)]);
  }
  if (job.error !== null) {
    rows.push(['error', `${job.error.message} [${job.error.code}, ${job.error.status}]`]);
  }
  process.stdout.write(keyValueTable(rows));
}

function printJobList(jobs: JobDto[]): void {
  if (jobs.length === 0) {
    process.stdout.write('no jobs since the gateway started\n');
    return;
  }
  const lines = jobs.map(
    (job) =>
      `${job.id}  ${job.kind.padEnd(7)} ${job.state.padEnd(10)} ${job.createdAt}  ` +
      `${job.progress.done}/${job.progress.total ?? '?'} ${job.progress.unit}`,
  );
  process.stdout.write(
    `${'id'.padEnd(36)}  ${'kind'.padEnd(7)} ${'state'.padEnd(10)} ${'created'.padEnd(24)}  progress\n${lines.join('\n')}\n`,
  );
}

/** `riverfs job [id] [--wait] [--cancel]`: recent jobs, one job, or one job followed to its end. */
function jobsCommand(): Command {
  return addAdminApiOptions(
    new Command('job')
      .description('Show recent jobs, or one job; --wait follows it to its end (Ctrl-C stops watching, not the job)')
      .argument('[id]', 'the job id (flush, sync and warmup print it)')
      .option('--wait', 'wait for the job to end, showing its progress; exit code as for flush/sync/warmup')
      .option('--cancel', 'ask the server to cancel the job'),
  ).action(async (id: string | undefined, options: { wait?: boolean; cancel?: boolean }, command: Command) => {
    await runAdminAction(command, async () => {
      const context = adminContext(command);
      if (id === undefined) {
        if (options.wait || options.cancel) {
          throw new UsageError('--wait and --cancel need a job id');
        }
        const jobs = await context.client.jobs({ limit: 50 });
        if (context.json) {
          printJson(jobs);
        } else {
          printJobList(jobs);
        }
        return EXIT.OK;
      }
      let job = options.cancel ? await context.client.cancelJob(id) : await context.client.job(id);
      if (!options.wait) {
        if (context.json) {
          printJson(job);
        } else {
          printJobDetails(job);
        }
        return EXIT.OK;
      }
      const interrupt = new AbortController();
      const onInterrupt = (): void => interrupt.abort();
      process.on('SIGINT', onInterrupt);
      try {
        job = await followJob(context.client, job, reporterFor(context.json), { interrupt: interrupt.signal });
        return reportEnded(context, job);
      } catch (error) {
        if (error instanceof RequestInterrupted) {
          process.stderr.write(`stopped watching ${job.kind} job ${job.id}; it goes on\n`);
          return EXIT.INTERRUPTED;
        }
        throw error;
      } finally {
        process.off('SIGINT', onInterrupt);
      }
    });
  });
}

function evictCommand(): Command {
  return addAdminApiOptions(
    new Command('evict')
      .description('Drop clean cached data of a path, an inode, or everything; dirty data is never dropped')
      .argument('[path|ino]', 'a path (see Paths below) or an inode number; everything when absent'),
    { paths: true },
  ).action(async (argument: string | undefined, _options: unknown, command: Command) => {
    await runAdminAction(command, async () => {
      const context = adminContext(command);
      const target = await context.target(argument);
      const result = await context.client.evict(target);
      if (context.json) {
        printJson(result);
      } else {
        process.stdout.write(
          `evicted ${describeTarget(target)}: freed ${formatBytes(result.freedBytes)}` +
            `${target.path !== undefined || target.ino !== undefined ? ` from ${result.files} files` : ''}; ` +
            `${formatBytes(result.dirtyBytesKept)} dirty kept (dirty data is never evicted)\n`,
        );
      }
      return EXIT.OK;
    });
  });
}

/** flush, sync, warmup, evict and job: the cache and sync operations of a running RiverFS. */
export function jobCommands(): Command[] {
  return [
    jobCommand(
      'flush',
      'Upload dirty data now: of a path, an inode, or everything; waits for it unless --no-wait',
      '[path|ino]',
      true,
      (target) => target,
    ),
    jobCommand(
      'sync',
      'Reconcile with Tahoe now, both ways: push what is dirty and pull the listings of a path or inode (a directory: its whole tree), or of everything; starts the job and prints its id, --wait waits for it',
      '[path|ino]',
      false,
      (target, options) => ({ ...target, direction: options.direction as string }),
      (command) =>
        command.addOption(
          new Option('--direction <direction>', 'push: local changes to Tahoe; pull: remote changes here; both')
            .choices(['push', 'pull', 'both'])
            .default('both'),
        ),
    ),
    jobCommand(
      'warmup',
      'Fetch file data into the cache ahead of use: a file, or the files of a directory; waits for it unless --no-wait',
      '<path|ino>',
      true,
      (target, options) => ({ ...target, recursive: options.recursive !== false }),
      (command) => command.option('--no-recursive', 'for a directory: only its own files, not those of subdirectories'),
    ),
    evictCommand(),
    jobsCommand(),
  ];
}
