import { Injectable, type OnModuleInit, Optional } from '@nestjs/common';
import { SyncControl } from '../admin/sync-control';
import { BlockCache } from '../cache/block-cache';
import { FileLockService } from '../locks/file-lock.service';
import { MetadataStore } from '../metadata/metadata.store';
import { StateStore } from '../state/state-store';
import { GridStatusService } from '../status/grid-status.service';
import { RiverFsMetrics } from './riverfs-metrics.service';

/** How stale the grid gauges may be: a scrape must not wait on, or add load to, the Tahoe node every time. */
const GRID_MAX_AGE_MS = 10_000;
const GRID_TIMEOUT_MS = 2_000;

/** Connects the scrape-time sources that exist in this application to the metrics. */
@Injectable()
export class MetricsSources implements OnModuleInit {
  constructor(
    private readonly metrics: RiverFsMetrics,
    private readonly grid: GridStatusService,
    @Optional() private readonly cache?: BlockCache,
    @Optional() private readonly store?: MetadataStore,
    @Optional() private readonly state?: StateStore,
    @Optional() private readonly sync?: SyncControl,
    @Optional() private readonly locks?: FileLockService,
  ) {}

  onModuleInit(): void {
    const { cache, store, state, sync, locks } = this;
    if (locks !== undefined) {
      this.metrics.bindFileLockWaits(() => locks.waiting);
    }
    if (cache !== undefined) {
      this.metrics.bindCache(() => cache.stats());
    }
    if (store !== undefined) {
      this.metrics.bindMetadata(() => store.stats());
      store.events.on('remoteApplied', ({ inos }) => this.metrics.countPulledInodes(inos.length));
    }
    if (state !== undefined) {
      this.metrics.bindStateStore(() => state.health());
    }
    if (sync?.available === true) {
      this.metrics.bindSyncQueue(async () => {
        const page = await sync.queue({ offset: 0, limit: 1 });
        return { depth: page.depth, oldestDirtyAgeSeconds: page.oldestDirtyAgeSeconds };
      });
      sync.onFailure((kind) => this.metrics.countSyncFailure(kind));
    }
    this.metrics.bindGrid(async () => {
      const snapshot = await this.grid.current({ maxAgeMs: GRID_MAX_AGE_MS, timeoutMs: GRID_TIMEOUT_MS });
      return { connected: snapshot.status.connectedCount, happy: snapshot.happy };
    });
  }
}
