import { randomUUID } from 'node:crypto';
import { Injectable, Logger, type OnModuleDestroy, Optional } from '@nestjs/common';
import { problemFor } from '../http/problem.mapper';
import { RecentErrorsService } from '../status/recent-errors.service';
import { AdminError } from './admin.errors';

export const JOB_STATES = ['running', 'cancelling', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface JobProgress {
  done: number;
  /** Null while the amount of work is not known yet. */
  total: number | null;
  /** What `done` and `total` count: files, bytes, directories… */
  unit: string;
  message: string | null;
}

export interface JobFailure {
  /** The error's code, as a problem document would carry it (e.g. TAHOE_UNAVAILABLE, ENOENT). */
  code: string;
  /** The HTTP status the error maps to. */
  status: number;
  message: string;
}

export interface JobSnapshot {
  id: string;
  kind: string;
  state: JobState;
  /** What the job was asked to do (no caps). */
  params: Record<string, unknown>;
  createdAt: string;
  finishedAt: string | null;
  progress: JobProgress;
  result: Record<string, unknown> | null;
  error: JobFailure | null;
}

/** Handed to the work of a job: its cancellation signal and a way to report progress. */
export interface JobContext {
  readonly signal: AbortSignal;
  progress(update: Partial<JobProgress>): void;
  /** Throws the abort reason once the job was cancelled; call it between units of work. */
  throwIfCancelled(): void;
}

interface Job {
  snapshot: JobSnapshot;
  controller: AbortController;
  finished: Promise<void>;
}

/** Finished jobs kept for GET /admin/jobs/{id}; the oldest go first. */
export const JOB_HISTORY = 200;
/** Jobs running at once; more get TOO_MANY_JOBS (429). */
export const MAX_RUNNING_JOBS = 16;

function copy(snapshot: JobSnapshot): JobSnapshot {
  return structuredClone(snapshot);
}

/**
 * Long operations of the admin API (flush, sync, warmup) as jobs: started at once, observed through their id,
 * cancellable through an AbortSignal. In memory, with a bounded history: a job is a view of work in progress, not a
 * record to keep; what the work changes is recorded by the layers it calls.
 */
@Injectable()
export class JobsService implements OnModuleDestroy {
  private readonly logger = new Logger(JobsService.name);
  private readonly jobs = new Map<string, Job>();

  constructor(@Optional() private readonly recentErrors?: RecentErrorsService) {}

  start(
    kind: string,
    params: Record<string, unknown>,
    work: (context: JobContext) => Promise<Record<string, unknown>>,
  ): JobSnapshot {
    const running = [...this.jobs.values()].filter((job) => job.snapshot.finishedAt === null).length;
    if (running >= MAX_RUNNING_JOBS) {
      throw new AdminError('TOO_MANY_JOBS', `${running} jobs are running; wait for one to finish or cancel one`);
    }
    const controller = new AbortController();
    const snapshot: JobSnapshot = {
      id: randomUUID(),
      kind,
      state: 'running',
      params: structuredClone(params),
      createdAt: new Date().toISOString(),
      finishedAt: null,
      progress: { done: 0, total: null, unit: 'items', message: null },
      result: null,
      error: null,
    };
    const context: JobContext = {
      signal: controller.signal,
      progress: (update) => {
        if (snapshot.finishedAt === null) {
          snapshot.progress = { ...snapshot.progress, ...update };
        }
      },
      throwIfCancelled: () => controller.signal.throwIfAborted(),
    };
    // The work starts on the next tick, so the caller has the snapshot (and its id) before any progress is made.
    const finished = Promise.resolve()
      .then(() => {
        // Cancelled before it began: the work would only see an already-aborted signal, and might wait on it.
        controller.signal.throwIfAborted();
        return work(context);
      })
      .then(
        (result) => this.finish(snapshot, controller, { result }),
        (error: unknown) => this.finish(snapshot, controller, { error }),
      );
    this.jobs.set(snapshot.id, { snapshot, controller, finished });
    this.prune();
    return copy(snapshot);
  }

  private finish(
    snapshot: JobSnapshot,
    controller: AbortController,
    outcome: { result?: Record<string, unknown>; error?: unknown },
  ): void {
    snapshot.finishedAt = new Date().toISOString();
    if (controller.signal.aborted) {
      snapshot.state = 'cancelled';
    } else if ('error' in outcome) {
      snapshot.state = 'failed';
      const problem = problemFor(outcome.error, { instance: `/admin/jobs/${snapshot.id}`, correlationId: snapshot.id });
      snapshot.error = { code: problem.document.code, status: problem.status, message: problem.document.detail };
      if (problem.unexpected) {
        const error = outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error));
        this.logger.error({ msg: `job ${snapshot.kind} ${snapshot.id} failed: ${error.message}` }, error.stack);
      }
      this.recentErrors?.record({
        source: 'job',
        code: problem.document.code,
        message: `${snapshot.kind} job ${snapshot.id} failed: ${problem.document.detail}`,
      });
    } else {
      snapshot.state = 'succeeded';
      snapshot.result = outcome.result ?? {};
    }
    this.prune();
  }

  private prune(): void {
    const finished = [...this.jobs.values()].filter((job) => job.snapshot.finishedAt !== null);
    for (const job of finished.slice(0, Math.max(0, finished.length - JOB_HISTORY))) {
      this.jobs.delete(job.snapshot.id);
    }
  }

  private job(id: string): Job {
    const job = this.jobs.get(id);
    if (job === undefined) {
      throw new AdminError('JOB_NOT_FOUND', `no job ${id} (finished jobs are kept for the last ${JOB_HISTORY})`);
    }
    return job;
  }

  get(id: string): JobSnapshot {
    return copy(this.job(id).snapshot);
  }

  /** Whether the job is still running; false for no job, or one pruned from the history (long finished). */
  isRunning(id: string | undefined): boolean {
    return id !== undefined && this.jobs.get(id)?.snapshot.finishedAt === null;
  }

  /** Newest first. */
  list(filter: { kind?: string; state?: JobState; limit?: number } = {}): JobSnapshot[] {
    return [...this.jobs.values()]
      .map((job) => job.snapshot)
      .filter((snapshot) => filter.kind === undefined || snapshot.kind === filter.kind)
      .filter((snapshot) => filter.state === undefined || snapshot.state === filter.state)
      .reverse()
      .slice(0, filter.limit ?? JOB_HISTORY)
      .map(copy);
  }

  /** Asks the work to stop; the job is `cancelled` once it has. JOB_FINISHED if it already ended. */
  cancel(id: string): JobSnapshot {
    const job = this.job(id);
    if (job.snapshot.finishedAt !== null) {
      throw new AdminError('JOB_FINISHED', `job ${id} already ended (${job.snapshot.state})`);
    }
    if (!job.controller.signal.aborted) {
      job.snapshot.state = 'cancelling';
      job.controller.abort(new AdminError('JOB_FINISHED', `job ${id} was cancelled`));
    }
    return copy(job.snapshot);
  }

  /** The job once it has ended, or as it stands after `timeoutMs`. */
  async wait(id: string, timeoutMs: number): Promise<JobSnapshot> {
    const job = this.job(id);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      job.finished,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return copy(job.snapshot);
  }

  onModuleDestroy(): void {
    for (const job of this.jobs.values()) {
      if (job.snapshot.finishedAt === null) {
        job.controller.abort(new AdminError('JOB_FINISHED', 'the gateway is shutting down'));
      }
    }
  }
}
