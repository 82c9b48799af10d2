/** The two kinds of upstream work: a file's content to upload, a directory to reconcile with its dirnode. */
export type SyncTaskKind = 'upload' | 'publish';

export type SyncTaskState = 'pending' | 'running' | 'failed';

export interface SyncTask {
  readonly key: string;
  readonly kind: SyncTaskKind;
  readonly ino: number;
  state: SyncTaskState;
  /** Not run before this (ms since the epoch): a coalescing delay or a retry backoff. */
  dueAt: number;
  /** When the task was first queued; the coalescing delay never pushes it further than `maxDelayMs` from here. */
  readonly queuedAt: number;
  /** When the task entered its state. */
  since: number;
  /** Failed attempts since the last success. */
  tries: number;
  lastError: string | null;
  /** Asked for again while it ran: it runs once more after this run (not before `rerunAt`). */
  rerunAt: number | undefined;
}

export interface SyncQueueOptions {
  /** A task debounced over and over still runs this long after it was first queued. */
  maxDelayMs: number;
  now?: () => number;
}

/** How a request changes a task that is already queued. */
export type ScheduleMode =
  /** Coalesce: push the task back to `dueAt` (a file closed again), bounded by `maxDelayMs`. */
  | 'debounce'
  /** Run it no later than `dueAt` (explicit flush, a dependency that is ready); a retry backoff still applies. */
  | 'soon'
  /** Run it no later than `dueAt`, backoff or not (an operator asked). */
  | 'now';

function keyOf(kind: SyncTaskKind, ino: number): string {
  return `${kind}:${ino}`;
}

/**
 * The sync worker's queue: at most one task per (kind, inode), each due at a time, with a coalescing delay for new
 * work and an exponential backoff for failures. It only keeps the books; the worker runs the tasks.
 */
export class SyncQueue {
  private readonly tasks = new Map<string, SyncTask>();
  private readonly now: () => number;

  constructor(private readonly options: SyncQueueOptions) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.tasks.size;
  }

  get(kind: SyncTaskKind, ino: number): SyncTask | undefined {
    return this.tasks.get(keyOf(kind, ino));
  }

  /** Queues work, or moves the task already queued for it (see ScheduleMode). */
  schedule(kind: SyncTaskKind, ino: number, dueAt: number, mode: ScheduleMode): SyncTask {
    const key = keyOf(kind, ino);
    const now = this.now();
    const existing = this.tasks.get(key);
    if (existing === undefined) {
      const task: SyncTask = {
        key,
        kind,
        ino,
        state: 'pending',
        dueAt,
        queuedAt: now,
        since: now,
        tries: 0,
        lastError: null,
        rerunAt: undefined,
      };
      this.tasks.set(key, task);
      return task;
    }
    if (existing.state === 'running') {
      existing.rerunAt = Math.min(existing.rerunAt ?? Infinity, dueAt);
      return existing;
    }
    if (existing.state === 'failed' && mode !== 'now') {
      // A retry waits out its backoff: new work for a failing task must not hammer the grid.
      return existing;
    }
    if (mode === 'debounce') {
      existing.dueAt = Math.min(Math.max(existing.dueAt, dueAt), existing.queuedAt + this.options.maxDelayMs);
    } else {
      existing.dueAt = Math.min(existing.dueAt, dueAt);
    }
    return existing;
  }

  /** Takes the due task of `kind` that is due first, marking it running; undefined when none is due. */
  take(kind: SyncTaskKind): SyncTask | undefined {
    const now = this.now();
    let best: SyncTask | undefined;
    for (const task of this.tasks.values()) {
      if (task.kind === kind && task.state !== 'running' && task.dueAt <= now && (!best || task.dueAt < best.dueAt)) {
        best = task;
      }
    }
    if (best) {
      best.state = 'running';
      best.since = now;
    }
    return best;
  }

  /** When the next task of `kind` that is not running becomes due; undefined when there is none. */
  nextDueAt(kind: SyncTaskKind): number | undefined {
    let next: number | undefined;
    for (const task of this.tasks.values()) {
      if (task.kind === kind && task.state !== 'running' && (next === undefined || task.dueAt < next)) {
        next = task.dueAt;
      }
    }
    return next;
  }

  /** The run succeeded: the task leaves the queue, unless it was asked for again meanwhile. */
  complete(task: SyncTask): void {
    if (this.tasks.get(task.key) !== task) {
      return;
    }
    if (task.rerunAt !== undefined) {
      task.state = 'pending';
      task.dueAt = task.rerunAt;
      task.rerunAt = undefined;
      task.since = this.now();
      task.tries = 0;
      task.lastError = null;
      return;
    }
    this.tasks.delete(task.key);
  }

  /** The run failed: the task waits `backoffMs` (retries keep their backoff even when asked for again). */
  fail(task: SyncTask, error: string, backoffMs: number): void {
    const now = this.now();
    task.state = 'failed';
    task.tries += 1;
    task.lastError = error;
    task.since = now;
    task.dueAt = now + backoffMs;
    task.rerunAt = undefined;
    this.tasks.set(task.key, task);
  }

  /** The run could not start yet (e.g. the file is still being written): back to pending, due at `dueAt`. */
  postpone(task: SyncTask, dueAt: number): void {
    task.state = 'pending';
    task.dueAt = Math.min(task.rerunAt ?? Infinity, dueAt);
    task.rerunAt = undefined;
    task.since = this.now();
  }

  /** Makes every waiting task due now (shutdown drain, or the grid is back after failures). */
  expedite(filter: (task: SyncTask) => boolean = () => true): void {
    const now = this.now();
    for (const task of this.tasks.values()) {
      if (task.state !== 'running' && filter(task)) {
        task.dueAt = Math.min(task.dueAt, now);
      }
    }
  }

  list(): SyncTask[] {
    return [...this.tasks.values()];
  }
}

/** Exponential backoff with jitter: base × 2^(tries−1), at most `maxMs`, scaled by a factor in [0.5, 1]. */
export function backoffDelay(tries: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.max(0, tries - 1));
  return Math.round(raw * (0.5 + random() / 2));
}
