export interface BackgroundRefreshesOptions {
  /** Refreshes running at once. */
  concurrency: number;
  /** While the mount is busy a refresh waits, but never longer than this from when it was asked for. */
  maxWaitMs: number;
  /** How often a refresh held back by a busy mount looks again. */
  recheckMs: number;
  now?: () => number;
}

export const DEFAULT_BACKGROUND_REFRESHES: BackgroundRefreshesOptions = {
  concurrency: 2,
  maxWaitMs: 30_000,
  recheckMs: 250,
};

/**
 * The refreshes of directory listings that lookups ask for once a listing is older than the TTL (the lookup itself is
 * answered from SQL at once). A tree walk (`ls -lR`, `find`, `du`, a build) asks for one per directory it enters; run
 * as they came, 215 of them at once listed dirnodes beside the walk and took the CPU it needed (measured, a tree of
 * 5,289 entries just uploaded: `ls -lR` 1.08 s, `du` 0.63 s, against 0.60 s and 0.33 s with no refresh). So they run
 * a few at a time, and wait while applications keep the mount busy (ForegroundActivity, as background pushes do), at
 * most `maxWaitMs`: a listing is then refreshed late, never forgotten.
 */
export class BackgroundRefreshes {
  private readonly queued = new Map<number, number>();
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(
    private readonly refresh: (dir: number) => Promise<unknown>,
    private readonly busy: () => boolean,
    private readonly options: BackgroundRefreshesOptions = DEFAULT_BACKGROUND_REFRESHES,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Asks for a refresh of `dir` (one already waiting keeps its place). */
  request(dir: number): void {
    if (this.stopped || this.queued.has(dir)) {
      return;
    }
    this.queued.set(dir, this.now());
    this.pump();
  }

  /** Refreshes waiting to run (tests and diagnostics). */
  get waiting(): number {
    return this.queued.size;
  }

  /** Drops what waits; refreshes under way finish on their own. */
  stop(): void {
    this.stopped = true;
    this.queued.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private pump(): void {
    while (this.running < this.options.concurrency && this.queued.size > 0) {
      // A Map iterates in insertion order: the first is the oldest.
      const [dir, askedAt] = this.queued.entries().next().value!;
      if (this.busy() && askedAt + this.options.maxWaitMs > this.now()) {
        if (this.timer === undefined) {
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.pump();
          }, this.options.recheckMs);
          this.timer.unref();
        }
        return;
      }
      this.queued.delete(dir);
      this.running += 1;
      // The refresh reports its own failures (the puller warns); here it only frees its slot.
      void this.refresh(dir)
        .catch(() => undefined)
        .finally(() => {
          this.running -= 1;
          this.pump();
        });
    }
  }
}
