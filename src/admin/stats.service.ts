import { Inject, Injectable } from '@nestjs/common';
import v8 from 'node:v8';
import { packageVersion } from '../cli/package-version';
import { RiverFsMetrics } from '../metrics/riverfs-metrics.service';
import { GridStatusService } from '../status/grid-status.service';
import { RecentErrorsService } from '../status/recent-errors.service';
import { redactCapsInText } from '../tahoe/cap.util';
import { CacheAdminService } from './cache-admin.service';
import type { GridSummaryDto, MemoryStatsDto, RecentErrorsDto, StatsDto, SyncSummaryDto } from './dto/stats.dto';
import { ACTIVE_SYNC_CONTROL } from './sync-admin.service';
import { SyncControl } from './sync-control';

/** What the dashboard polls: a bit of everything, each part degrading on its own instead of failing the answer. */
@Injectable()
export class StatsService {
  private readonly started = Date.now();

  constructor(
    private readonly grid: GridStatusService,
    private readonly cache: CacheAdminService,
    private readonly metrics: RiverFsMetrics,
    private readonly errors: RecentErrorsService,
    @Inject(ACTIVE_SYNC_CONTROL) private readonly sync: SyncControl,
  ) {}

  async stats(): Promise<StatsDto> {
    const [grid, cache, sync, totals] = await Promise.all([
      this.gridSummary(),
      this.cache.stats(),
      this.syncSummary(),
      this.metrics.snapshot(),
    ]);
    return {
      time: new Date().toISOString(),
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      version: packageVersion(),
      grid,
      cache,
      sync,
      memory: memoryStats(),
      totals,
      recentErrors: this.recentErrors(20),
    };
  }

  recentErrors(limit: number): RecentErrorsDto {
    return { total: this.errors.total, errors: this.errors.list(limit) };
  }

  private async gridSummary(): Promise<GridSummaryDto> {
    try {
      const snapshot = await this.grid.current({ maxAgeMs: 5000, timeoutMs: 3000 });
      return {
        reachable: true,
        happy: snapshot.happy,
        connectedServers: snapshot.status.connectedCount,
        sharesHappy: snapshot.sharesHappy,
        availableSpace: snapshot.status.availableSpace,
        error: null,
      };
    } catch (error) {
      return {
        reachable: false,
        happy: false,
        connectedServers: 0,
        sharesHappy: 0,
        availableSpace: 0,
        error: redactCapsInText(error instanceof Error ? error.message : String(error)),
      };
    }
  }

  private async syncSummary(): Promise<SyncSummaryDto> {
    if (!this.sync.available) {
      return { available: false, queued: null, oldestDirtyAgeSeconds: null };
    }
    try {
      const page = await this.sync.queue({ offset: 0, limit: 1 });
      return { available: true, queued: page.total, oldestDirtyAgeSeconds: page.oldestDirtyAgeSeconds };
    } catch {
      return { available: true, queued: null, oldestDirtyAgeSeconds: null };
    }
  }
}

function memoryStats(): MemoryStatsDto {
  const { rss, heapUsed } = process.memoryUsage();
  return { rssBytes: rss, heapUsedBytes: heapUsed, heapLimitBytes: v8.getHeapStatistics().heap_size_limit };
}
