/**
 * Inodes shown free by statfs. RiverFS has no inode table to fill (inode numbers are 64-bit database keys), so any
 * free count is a convention; this one is large, and small enough that used + free fits the 32-bit field fuse-native
 * passes statfs through.
 */
export const FREE_INODES_SHOWN = 2 ** 31;
const MAX_STATFS_FIELD = 2 ** 32 - 1;

export interface InodeFigures {
  files: number;
  ffree: number;
}

/** statfs's inode figures: `used` inodes plus the conventional free count, capped to what fits the field. */
export function inodeFigures(used: number): InodeFigures {
  const files = Math.min(used + FREE_INODES_SHOWN, MAX_STATFS_FIELD);
  return { files, ffree: files - Math.min(used, files) };
}

export interface InodeUsageOptions {
  count: () => Promise<number>;
  refreshMs?: number;
  onError?: (error: unknown) => void;
}

/** How often the inode count is taken; `df -i` never waits for it. */
export const INODE_USAGE_REFRESH_MS = 60_000;

/**
 * The number of inodes in use, counted in the background (the count scans the table) and read by statfs without
 * waiting: at most a refresh period old, 0 until the first count answers.
 */
export class InodeUsage {
  private used = 0;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;

  constructor(private readonly options: InodeUsageOptions) {}

  current(): number {
    return this.used;
  }

  start(): void {
    if (this.timer !== undefined) {
      return;
    }
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs ?? INODE_USAGE_REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One count (joining one in flight); a failed one keeps the previous figure and goes to onError. */
  refresh(): Promise<void> {
    this.inflight ??= this.options
      .count()
      .then(
        (used) => {
          this.used = used;
        },
        (error: unknown) => this.options.onError?.(error),
      )
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }
}
