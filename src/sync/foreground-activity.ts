export interface ForegroundActivityOptions {
  /** Requests per second from applications above which the mount counts as busy. */
  busyRequestsPerSecond: number;
  /** Length of one counting window (the rate is read over the current and the previous one). */
  windowMs: number;
  now?: () => number;
}

export const DEFAULT_FOREGROUND_ACTIVITY: ForegroundActivityOptions = {
  // An interactive user (ls, an editor, a shell) stays far below this; tar, cp -r, git, a build go far above it.
  busyRequestsPerSecond: 300,
  windowMs: 500,
};

/**
 * How busy applications keep the mount: the FUSE adapter counts every request here, and background pushes step aside
 * while the mount is busy (TahoeSyncWorker.pump), as the work of both competes for the same CPU. Measured on 4,000
 * small files written one after another on this 2-core machine: 8.1 s with no push running meanwhile, 11.5 s with one
 * upload at a time, 15.2 s with the default concurrency (Tahoe's encoder and our journal work beside each create).
 */
export class ForegroundActivity {
  private readonly now: () => number;
  private windowStart = 0;
  private current = 0;
  private previous = 0;

  constructor(private readonly options: ForegroundActivityOptions = DEFAULT_FOREGROUND_ACTIVITY) {
    this.now = options.now ?? Date.now;
  }

  /** One request from an application. */
  note(): void {
    this.roll();
    this.current += 1;
  }

  /** Whether requests arrived faster than the busy rate over the last window or the current one. */
  busy(): boolean {
    this.roll();
    const perWindow = (this.options.busyRequestsPerSecond * this.options.windowMs) / 1000;
    return this.current >= perWindow || this.previous >= perWindow;
  }

  private roll(): void {
    const now = this.now();
    const elapsed = now - this.windowStart;
    if (elapsed < this.options.windowMs) {
      return;
    }
    // The window just ended becomes the previous one; after a longer pause there was no request in it.
    this.previous = elapsed < 2 * this.options.windowMs ? this.current : 0;
    this.current = 0;
    this.windowStart = now - (elapsed % this.options.windowMs);
  }
}
