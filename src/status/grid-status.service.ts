import { Inject, Injectable } from '@nestjs/common';
import { RIVERFS_CONFIG } from '../config/config.module';
import type { RiverFsConfig } from '../config/config.schema';
import { TahoeClient } from '../tahoe/tahoe.client';
import { TahoeError } from '../tahoe/tahoe.errors';
import type { GridStatus } from '../tahoe/tahoe-json.util';

export interface GridSnapshot {
  status: GridStatus;
  /** At least `sharesHappy` connected servers that have sent data: an upload can succeed. */
  happy: boolean;
  sharesHappy: number;
  /** ms since the epoch. */
  checkedAt: number;
}

export interface GridQuery {
  /** Serve a snapshot up to this old (default 0: ask the node now, joining a request already in flight). */
  maxAgeMs?: number;
  /** Give up on the node after this long (default 5 s). */
  timeoutMs?: number;
}

/**
 * The Tahoe client node's view of the grid, shared by the admin API, the readiness check and the grid gauges, so
 * that a dashboard, a scraper and a load balancer polling at once cost one request to the node.
 */
@Injectable()
export class GridStatusService {
  private last: GridSnapshot | undefined;
  private inflight: Promise<GridSnapshot> | undefined;

  constructor(
    private readonly tahoe: TahoeClient,
    @Inject(RIVERFS_CONFIG) private readonly config: RiverFsConfig,
  ) {}

  async current(query: GridQuery = {}): Promise<GridSnapshot> {
    const maxAgeMs = query.maxAgeMs ?? 0;
    if (this.last !== undefined && maxAgeMs > 0 && Date.now() - this.last.checkedAt <= maxAgeMs) {
      return this.last;
    }
    this.inflight ??= this.fetch(query.timeoutMs ?? 5000).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** The latest snapshot fetched, if any, however old. */
  lastKnown(): GridSnapshot | undefined {
    return this.last;
  }

  private async fetch(timeoutMs: number): Promise<GridSnapshot> {
    const signal = AbortSignal.timeout(timeoutMs);
    let status: GridStatus;
    try {
      status = await this.tahoe.gridStatus({ signal });
    } catch (error) {
      if (signal.aborted && !(error instanceof TahoeError)) {
        throw new TahoeError({
          code: 'UNAVAILABLE',
          operation: 'gridStatus',
          detail: `the Tahoe node did not answer within ${timeoutMs} ms`,
          cause: error,
        });
      }
      throw error;
    }
    const sharesHappy = this.config.gridSharesHappy;
    this.last = { status, happy: status.isHappy(sharesHappy), sharesHappy, checkedAt: Date.now() };
    return this.last;
  }
}
