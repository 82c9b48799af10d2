import { setTimeout as sleep } from 'node:timers/promises';
import type { JobDto } from '../admin/dto/job.dto';
import { type AdminApiClient, RequestInterrupted } from './admin-api.client';
import { countOf, formatBytes, formatDuration } from './admin-output';

/** Shows a job's progress while the CLI waits for it. */
export interface ProgressReporter {
  update(job: JobDto): void;
  /** The wait is over (the job ended, or the wait was interrupted): leave the terminal clean. */
  finish(job: JobDto): void;
}

function amount(job: JobDto): string {
  const { done, total, unit } = job.progress;
  // Nothing done and no total yet (a job just started, or one that ends at once): nothing to show, not "0/?".
  if (done === 0 && total === null && (job.state === 'running' || job.state === 'cancelling')) {
    return '';
  }
  // A job that ended without ever learning its total (one that had nothing to do) did what it did: no "/?".
  const ended = job.state !== 'running' && job.state !== 'cancelling';
  if (unit === 'bytes') {
    return total === null && ended
      ? formatBytes(done)
      : `${formatBytes(done)}/${total === null ? '?' : formatBytes(total)}`;
  }
  return total === null && ended ? countOf(done, unit) : `${done}/${total ?? '?'} ${unit}`;
}

function percent(job: JobDto): number | null {
  const { done, total } = job.progress;
  return total === null || total <= 0 ? null : Math.min(100, Math.floor((done / total) * 100));
}

/** "warmup running: 1/3 files (33%) inode 12 [4.2 s]": one line of plain progress. */
export function progressLine(job: JobDto, elapsedSeconds: number): string {
  const pct = percent(job);
  const message = job.progress.message === null ? '' : ` ${job.progress.message}`;
  const done = amount(job);
  return `${job.kind} ${job.state}${done === '' ? '' : `: ${done}`}${pct === null ? '' : ` (${pct}%)`}${message} [${formatDuration(elapsedSeconds)}]`;
}

/** "[#########...........]  1/3 files  33%  inode 12  4.2 s", fitted to `columns`. */
export function progressBar(job: JobDto, elapsedSeconds: number, columns: number): string {
  const width = 24;
  const pct = percent(job);
  let bar: string;
  if (pct === null) {
    // Total unknown: a marker that moves, so the terminal shows the job is alive.
    const position = Math.floor(elapsedSeconds * 4) % width;
    bar = '.'.repeat(position) + '#' + '.'.repeat(width - position - 1);
  } else {
    const filled = Math.round((pct / 100) * width);
    bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  }
  const message = job.progress.message === null ? '' : `  ${job.progress.message}`;
  const line = `${job.kind} [${bar}] ${amount(job)}${pct === null ? '' : `  ${pct}%`}  ${formatDuration(elapsedSeconds)}${message}`;
  return line.length >= columns ? line.slice(0, Math.max(0, columns - 1)) : line;
}

/** A progress bar redrawn in place on a terminal (stderr). */
export class TerminalProgress implements ProgressReporter {
  private readonly started = Date.now();
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(job: JobDto): void {
    const columns = this.stream.columns > 0 ? this.stream.columns : 80;
    this.stream.write(`\r\x1b[2K${progressBar(job, (Date.now() - this.started) / 1000, columns)}`);
    this.drawn = true;
  }

  finish(): void {
    if (this.drawn) {
      this.stream.write('\r\x1b[2K');
      this.drawn = false;
    }
  }
}

/**
 * Plain lines for logs and pipes: one when the progress changes (at most one per `minIntervalMs`) and one every
 * `heartbeatMs` while nothing changes, so a log shows the wait is alive.
 */
export class LineProgress implements ProgressReporter {
  private readonly started = Date.now();
  private lastKey: string | undefined;
  private lastAt = 0;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly minIntervalMs = 1000,
    private readonly heartbeatMs = 10_000,
  ) {}

  update(job: JobDto): void {
    const key = JSON.stringify([job.state, job.progress]);
    const now = Date.now();
    const changed = key !== this.lastKey;
    if ((changed && now - this.lastAt >= this.minIntervalMs) || now - this.lastAt >= this.heartbeatMs) {
      this.stream.write(`${progressLine(job, (now - this.started) / 1000)}\n`);
      this.lastKey = key;
      this.lastAt = now;
    }
  }

  finish(): void {
    // The outcome is reported by the caller.
  }
}

/** Shows nothing (--json: only the final result, on stdout). */
export class SilentProgress implements ProgressReporter {
  update(): void {}
  finish(): void {}
}

export function reporterFor(json: boolean, stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  if (json) {
    return new SilentProgress();
  }
  return stream.isTTY ? new TerminalProgress(stream) : new LineProgress(stream);
}

export interface FollowOptions {
  /** Aborting it (Ctrl-C) ends the wait with RequestInterrupted; the job is not touched here. */
  interrupt: AbortSignal;
  /** First delay between two polls; it grows to `maxIntervalMs`. */
  intervalMs?: number;
  maxIntervalMs?: number;
}

/** Polls GET /admin/jobs/{id} until the job has ended, reporting its progress; throws RequestInterrupted. */
export async function followJob(
  client: AdminApiClient,
  job: JobDto,
  reporter: ProgressReporter,
  options: FollowOptions,
): Promise<JobDto> {
  let current = job;
  let delay = options.intervalMs ?? 100;
  const maxDelay = options.maxIntervalMs ?? 1000;
  try {
    while (current.finishedAt === null) {
      reporter.update(current);
      try {
        await sleep(delay, undefined, { signal: options.interrupt });
      } catch {
        throw new RequestInterrupted();
      }
      delay = Math.min(maxDelay, Math.round(delay * 1.5));
      current = await client.job(current.id, options.interrupt);
    }
    return current;
  } finally {
    reporter.finish(current);
  }
}

/** Seconds the job ran, from the server's own timestamps. */
export function jobSeconds(job: JobDto): number | null {
  if (job.finishedAt === null) {
    return null;
  }
  return Math.max(0, (Date.parse(job.finishedAt) - Date.parse(job.createdAt)) / 1000);
}
