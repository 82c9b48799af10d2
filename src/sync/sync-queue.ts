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
  /**
   * When the task was queued (or, for a run asked for while it ran, when that run ended); the coalescing delay never
   * pushes it further than `maxDelayMs` from here.
   */
  queuedAt: number;
  /** When the task entered its state. */
  since: number;
  /** Failed attempts since the last success. */
  tries: number;
  lastError: string | null;
  /** Asked for again while it ran: it runs once more after this run (not before `rerunAt`). */
  rerunAt: number | undefined;
  /** For an upload: the bytes it has to send, once known (the file's size when last seen). */
  bytes?: number;
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

interface HeapEntry {
  dueAt: number;
  /** Breaks ties in the order the entries were made. */
  order: number;
  task: SyncTask;
  /** The task's version when the entry was made: an entry whose task changed since is stale and skipped. */
  version: number;
}

function earlier(a: HeapEntry, b: HeapEntry): boolean {
  return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.order < b.order);
}

/** A binary min-heap of due times. Entries are never updated in place: a change pushes a new one (lazy deletion). */
class DueHeap {
  entries: HeapEntry[] = [];

  push(entry: HeapEntry): void {
    const { entries } = this;
    entries.push(entry);
    let index = entries.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!earlier(entries[index], entries[parent])) {
        break;
      }
      [entries[index], entries[parent]] = [entries[parent], entries[index]];
      index = parent;
    }
  }

  peek(): HeapEntry | undefined {
    return this.entries[0];
  }

  pop(): HeapEntry | undefined {
    const { entries } = this;
    const top = entries[0];
    const last = entries.pop();
    if (entries.length > 0 && last !== undefined) {
      entries[0] = last;
      let index = 0;
      for (;;) {
        const left = 2 * index + 1;
        const right = left + 1;
        let smallest = index;
        if (left < entries.length && earlier(entries[left], entries[smallest])) {
          smallest = left;
        }
        if (right < entries.length && earlier(entries[right], entries[smallest])) {
          smallest = right;
        }
        if (smallest === index) {
          break;
        }
        [entries[index], entries[smallest]] = [entries[smallest], entries[index]];
        index = smallest;
      }
    }
    return top;
  }
}

/**
 * The sync worker's queue: at most one task per (kind, inode), each due at a time, with a coalescing delay for new
 * work and an exponential backoff for failures. It only keeps the books; the worker runs the tasks.
 */
export class SyncQueue {
  private readonly tasks = new Map<string, SyncTask>();
  private readonly now: () => number;
  /**
   * Per kind, the waiting tasks by due time. `take` and `nextDueAt` run after every finished push: a scan of the
   * whole queue there made draining N queued files cost O(N²) (100k files in one directory, issue 7's growth run).
   */
  private readonly heaps: Record<SyncTaskKind, DueHeap> = { upload: new DueHeap(), publish: new DueHeap() };
  private readonly versions = new WeakMap<SyncTask, number>();
  private order = 0;

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
      this.index(task);
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
    const before = existing.dueAt;
    if (mode === 'debounce') {
      existing.dueAt = Math.min(Math.max(existing.dueAt, dueAt), existing.queuedAt + this.options.maxDelayMs);
    } else {
      existing.dueAt = Math.min(existing.dueAt, dueAt);
    }
    if (existing.dueAt !== before) {
      this.index(existing);
    }
    return existing;
  }

  /** Takes the due task of `kind` that is due first, marking it running; undefined when none is due. */
  take(kind: SyncTaskKind): SyncTask | undefined {
    const now = this.now();
    const heap = this.heaps[kind];
    const top = this.validTop(heap);
    if (top === undefined || top.dueAt > now) {
      return undefined;
    }
    heap.pop();
    const { task } = top;
    task.state = 'running';
    task.since = now;
    this.versions.set(task, (this.versions.get(task) ?? 0) + 1);
    return task;
  }

  /** The waiting task of `kind` that is due first, left waiting; undefined when there is none. */
  first(kind: SyncTaskKind): SyncTask | undefined {
    return this.validTop(this.heaps[kind])?.task;
  }

  /** When the next task of `kind` that is not running becomes due; undefined when there is none. */
  nextDueAt(kind: SyncTaskKind): number | undefined {
    return this.validTop(this.heaps[kind])?.dueAt;
  }

  /** The heap's first entry that still stands for a waiting task, dropping the stale ones above it. */
  private validTop(heap: DueHeap): HeapEntry | undefined {
    for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
      const { task } = top;
      if (
        this.tasks.get(task.key) === task &&
        task.state !== 'running' &&
        this.versions.get(task) === top.version &&
        task.dueAt === top.dueAt
      ) {
        return top;
      }
      heap.pop();
    }
    return undefined;
  }

  /** Records a waiting task's due time (after any change to it); rebuilds a heap grown mostly stale. */
  private index(task: SyncTask): void {
    if (task.state === 'running') {
      return;
    }
    const version = (this.versions.get(task) ?? 0) + 1;
    this.versions.set(task, version);
    const heap = this.heaps[task.kind];
    heap.push({ dueAt: task.dueAt, order: this.order++, task, version });
    if (heap.entries.length > 2 * this.tasks.size + 1024) {
      this.rebuild(task.kind);
    }
  }

  private rebuild(kind: SyncTaskKind): void {
    const heap = new DueHeap();
    for (const task of this.tasks.values()) {
      if (task.kind === kind && task.state !== 'running') {
        heap.push({ dueAt: task.dueAt, order: this.order++, task, version: this.versions.get(task) ?? 0 });
      }
    }
    this.heaps[kind] = heap;
  }

  /**
   * The run succeeded: the task leaves the queue, unless it was asked for again meanwhile; that next run starts no
   * sooner than `notBefore`.
   */
  complete(task: SyncTask, notBefore = 0): void {
    if (this.tasks.get(task.key) !== task) {
      return;
    }
    if (task.rerunAt !== undefined) {
      task.state = 'pending';
      task.dueAt = Math.max(task.rerunAt, notBefore);
      task.rerunAt = undefined;
      task.since = this.now();
      task.queuedAt = task.since;
      task.tries = 0;
      task.lastError = null;
      this.index(task);
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
    this.index(task);
  }

  /** The run could not start yet (e.g. the file is still being written): back to pending, due at `dueAt`. */
  postpone(task: SyncTask, dueAt: number): void {
    task.state = 'pending';
    task.dueAt = Math.min(task.rerunAt ?? Infinity, dueAt);
    task.rerunAt = undefined;
    task.since = this.now();
    this.index(task);
  }

  /** Makes every waiting task due now (shutdown drain, or the grid is back after failures). */
  expedite(filter: (task: SyncTask) => boolean = () => true): void {
    const now = this.now();
    for (const task of this.tasks.values()) {
      if (task.state !== 'running' && filter(task) && task.dueAt > now) {
        task.dueAt = now;
        this.index(task);
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

/** The first `count` items in `compare` order, without sorting them all (O(n·log count)). */
export function firstBy<T>(items: readonly T[], count: number, compare: (a: T, b: T) => number): T[] {
  if (count <= 0) {
    return [];
  }
  if (items.length <= count * 4) {
    return [...items].sort(compare).slice(0, count);
  }
  const kept: T[] = [];
  for (const item of items) {
    if (kept.length === count && compare(item, kept[count - 1]) >= 0) {
      continue;
    }
    let low = 0;
    let high = kept.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (compare(kept[middle], item) <= 0) {
        low = middle + 1;
      } else {
        high = middle;
      }
    }
    kept.splice(low, 0, item);
    if (kept.length > count) {
      kept.pop();
    }
  }
  return kept;
}
