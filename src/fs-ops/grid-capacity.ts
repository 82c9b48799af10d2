import type { GridStatus } from '../tahoe/tahoe-json.util';

export interface CapacityFigures {
  totalBytes: number;
  freeBytes: number;
}

export interface GridCapacityOptions {
  /** The client node's view of the grid (welcome JSON). */
  fetchStatus: (signal: AbortSignal) => Promise<GridStatus>;
  /** k and N: every byte stored costs N/k bytes of the servers' space. */
  sharesNeeded: number;
  sharesTotal: number;
  /** Until the first refresh answers: the cache's limits. */
  fallback: () => CapacityFigures;
  /** Bytes written locally and not uploaded yet: they will take grid space, so they count as used now. */
  pendingBytes?: () => number;
  refreshMs?: number;
  timeoutMs?: number;
  onError?: (error: unknown) => void;
}

/** How often the grid's figures are asked for; `df` never waits for them. */
export const GRID_CAPACITY_REFRESH_MS = 60_000;

/**
 * The grid's capacity for statfs: the free space the storage servers the client node is connected to announce,
 * divided by the expansion factor N/k (what a file of that size would take). Tahoe announces only free space, not
 * a server's size, so the total is the same figure: `df` shows the grid's usable free space as its size, and as
 * used only the data written here that has not reached the grid yet.
 * Refreshed in the background; statfs reads the last figures and never waits on Tahoe.
 */
export class GridCapacity {
  private figures: CapacityFigures | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly options: GridCapacityOptions) {}

  /**
   * The last grid figures less what waits for upload, or the cache's limits before the first refresh (or when no
   * server announces space).
   */
  current(): CapacityFigures {
    if (this.figures === undefined) {
      return this.options.fallback();
    }
    const pending = this.options.pendingBytes?.() ?? 0;
    return { totalBytes: this.figures.totalBytes, freeBytes: Math.max(0, this.figures.freeBytes - pending) };
  }

  /** Whether the figures come from the grid. */
  get fromGrid(): boolean {
    return this.figures !== undefined;
  }

  start(): void {
    if (this.timer !== undefined) {
      return;
    }
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs ?? GRID_CAPACITY_REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.abort.abort();
  }

  /** One refresh (joining one in flight); failures keep the previous figures and are reported to onError. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetch().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetch(): Promise<void> {
    try {
      const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.timeoutMs ?? 10_000)]);
      const status = await this.options.fetchStatus(signal);
      const announced = status.servers.some((server) => server.connected && server.availableSpace !== null);
      if (!announced) {
        return;
      }
      const usable = gridUsableBytes(status.availableSpace, this.options.sharesNeeded, this.options.sharesTotal);
      this.figures = { totalBytes: usable, freeBytes: usable };
    } catch (error) {
      if (!this.abort.signal.aborted) {
        this.options.onError?.(error);
      }
    }
  }
}

/** Raw server bytes → file bytes they can hold: × k / N. */
export function gridUsableBytes(rawBytes: number, sharesNeeded: number, sharesTotal: number): number {
  return Math.floor((rawBytes * sharesNeeded) / sharesTotal);
}
