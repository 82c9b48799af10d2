import type { LeaseRenewalProgress } from '../metadata/tahoe-lease-ledger';
import v8 from 'node:v8';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BlockCacheStats } from '../cache/block-cache';
import type { MetadataStats } from '../metadata/metadata.types';
import type { TransactionEvent } from '../metadata/sql-metadata.store';
import type { StateHealth } from '../state/state-store';
import type { TahoeRequestEvent, TahoeRequestObserver } from '../tahoe/tahoe.types';
import { FuseOpMetrics } from './fuse-op-metrics';

/** What the sync worker reports at scrape time (`riverfs_sync_queue_depth{kind}` and the oldest dirty age). */
export interface SyncQueueStats {
  /** Items waiting or running, by kind of work (e.g. `upload`, `publish`, `pull`). */
  depth: Record<string, number>;
  /** Age of the oldest unsynced change, in seconds; null when nothing is dirty. */
  oldestDirtyAgeSeconds: number | null;
}

export interface GridGaugeSource {
  connected: number;
  happy: boolean;
}

/** Totals the dashboard turns into rates. */
export interface MetricsSnapshot {
  tahoeRequests: number;
  tahoeFailures: number;
  tahoeBytesSent: number;
  tahoeBytesReceived: number;
  fuseOps: number;
  fuseErrors: number;
  syncFailures: number;
}

type Source<T> = () => T | Promise<T>;

// Label values come from code (operation names, errno names, status codes), never from data; anything else is
// folded into "other" so that neither a cap nor a path can ever become a label.
const LABEL = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const STATUS_LABEL = /^[A-Za-z0-9_]{1,32}$/;

function label(value: string): string {
  return LABEL.test(value) ? value : 'other';
}

function statusLabel(value: string): string {
  return STATUS_LABEL.test(value) ? value : 'other';
}

/**
 * Every RiverFS metric of DESIGN.md §9 in one registry of its own, plus the default Node.js process metrics. The
 * layers feed it through the methods below (FsOps, sync, the Tahoe client's observer, the metadata store's
 * transaction listener) or are read at scrape time through the `bind*` sources (cache, metadata, state, grid).
 */
export class RiverFsMetrics {
  readonly registry = new Registry();

  private readonly fuseOps = new FuseOpMetrics(
    [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
    label,
  );
  private readonly tahoeRequests: Counter<'op' | 'status'>;
  private readonly tahoeRequestDuration: Histogram<'op'>;
  private readonly tahoeBytes: Counter<'direction'>;
  private readonly syncFailures: Counter<'kind'>;
  private readonly pulledInodes: Counter;
  private readonly metaTxnDuration: Histogram;
  private readonly leaseRenewals: Counter<'result'>;
  private leaseSource: Source<LeaseRenewalProgress> | undefined;
  private checkSource: Source<{ unhealthy: number; unrecoverable: number; checked: number }> | undefined;

  private cacheSource: Source<BlockCacheStats> | undefined;
  private metadataSource: Source<MetadataStats> | undefined;
  private syncSource: Source<SyncQueueStats> | undefined;
  private gridSource: Source<GridGaugeSource> | undefined;
  private stateSource: Source<StateHealth> | undefined;
  private lockWaitsSource: (() => number) | undefined;
  /** One read of each source per scrape: prom-client collects every metric of a scrape concurrently. */
  private readonly reads = new Map<string, Promise<unknown>>();

  /** Pass to TahoeClientOptions.observer (TahoeModule does, through TAHOE_REQUEST_OBSERVER). */
  readonly tahoeObserver: TahoeRequestObserver = {
    request: (event) => this.observeTahoeRequest(event),
    bytes: (direction, count) => this.countTahoeBytes(direction, count),
  };

  /** Pass as MetadataModuleOptions.onTransaction. */
  readonly metadataTransactionListener = (event: TransactionEvent): void => {
    this.metaTxnDuration.observe(event.durationMs / 1000);
  };

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.fuseOps.register(this.registry);

    const cacheBytes: Gauge<'state'> = new Gauge({
      name: 'riverfs_cache_bytes',
      help: 'Bytes held by the block cache, by state (clean: evictable; dirty: not yet uploaded)',
      labelNames: ['state'],
      registers,
      collect: async () => {
        const stats = await this.read('cache', this.cacheSource);
        if (stats !== undefined) {
          cacheBytes.set({ state: 'clean' }, stats.cleanBytes);
          cacheBytes.set({ state: 'dirty' }, stats.dirtyBytes);
        }
      },
    });
    this.followTotal('riverfs_cache_hits_total', 'Block reads served by the cache', async () => {
      return (await this.read('cache', this.cacheSource))?.hits;
    });
    this.followTotal('riverfs_cache_misses_total', 'Block reads the cache had to fetch', async () => {
      return (await this.read('cache', this.cacheSource))?.misses;
    });
    this.followTotal('riverfs_cache_evictions_total', 'Clean blocks evicted from the cache', async () => {
      return (await this.read('cache', this.cacheSource))?.evictions;
    });

    this.tahoeRequests = new Counter({
      name: 'riverfs_tahoe_requests_total',
      help: 'Requests to the Tahoe client node, by client operation and HTTP status (or failure code)',
      labelNames: ['op', 'status'],
      registers,
    });
    this.tahoeRequestDuration = new Histogram({
      name: 'riverfs_tahoe_request_duration_seconds',
      help: 'Time from sending a request to the Tahoe node until its response headers (or its failure)',
      labelNames: ['op'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.tahoeBytes = new Counter({
      name: 'riverfs_tahoe_bytes_total',
      help: 'Body bytes exchanged with the Tahoe node (sent: request bodies; received: response bodies)',
      labelNames: ['direction'],
      registers,
    });

    const queueDepth: Gauge<'kind'> = new Gauge({
      name: 'riverfs_sync_queue_depth',
      help: 'Sync work waiting or running, by kind',
      labelNames: ['kind'],
      registers,
      collect: async () => {
        const stats = await this.read('sync', this.syncSource);
        if (stats !== undefined) {
          queueDepth.reset();
          for (const [kind, depth] of Object.entries(stats.depth)) {
            queueDepth.set({ kind: label(kind) }, depth);
          }
        }
      },
    });
    const oldestDirty: Gauge = new Gauge({
      name: 'riverfs_sync_oldest_dirty_age_seconds',
      help: 'Age of the oldest change not yet in Tahoe (0 when everything is synced)',
      registers,
      collect: async () => {
        const stats = await this.read('sync', this.syncSource);
        if (stats !== undefined) {
          oldestDirty.set(stats.oldestDirtyAgeSeconds ?? 0);
        }
      },
    });
    this.syncFailures = new Counter({
      name: 'riverfs_sync_failures_total',
      help: 'Failed sync attempts (each is retried), by kind',
      labelNames: ['kind'],
      registers,
    });

    this.pulledInodes = new Counter({
      name: 'riverfs_pulled_inodes_total',
      help: "Inodes changed here by pulls from Tahoe (other writers' changes applied to this gateway)",
      registers,
    });

    this.metaTxnDuration = new Histogram({
      name: 'riverfs_meta_txn_duration_seconds',
      help: 'Duration of metadata write transactions, retries included',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.followTotal(
      'riverfs_meta_txn_retries_total',
      'Metadata transaction attempts rolled back and retried (deadlock, lock wait timeout, busy database)',
      async () => (await this.read('metadata', this.metadataSource))?.retries,
    );

    const connected: Gauge = new Gauge({
      name: 'riverfs_grid_servers_connected',
      help: 'Storage servers the Tahoe client node is connected to',
      registers,
      collect: async () => {
        const grid = await this.readGrid();
        if (grid !== undefined) {
          connected.set(grid.connected);
        }
      },
    });
    const happy: Gauge = new Gauge({
      name: 'riverfs_grid_happy',
      help: '1 when enough servers are connected for an upload to reach shares.happy, else 0',
      registers,
      collect: async () => {
        const grid = await this.readGrid();
        if (grid !== undefined) {
          happy.set(grid.happy ? 1 : 0);
        }
      },
    });

    const stateUp: Gauge<'backend'> = new Gauge({
      name: 'riverfs_state_store_up',
      help: '1 when the state store (Redis or in-process) is reachable, else 0',
      labelNames: ['backend'],
      registers,
      collect: async () => {
        const health = await this.read('state', this.stateSource);
        if (health !== undefined) {
          stateUp.reset();
          stateUp.set({ backend: health.backend }, health.status === 'up' ? 1 : 0);
        }
      },
    });

    const lockWaits: Gauge = new Gauge({
      name: 'riverfs_file_lock_waits',
      help: 'fcntl (F_SETLKW) and flock requests of applications on this mount waiting for a lock now',
      registers,
      collect: () => {
        if (this.lockWaitsSource !== undefined) {
          lockWaits.set(this.lockWaitsSource());
        }
      },
    });

    this.leaseRenewals = new Counter({
      name: 'riverfs_tahoe_lease_renewals_total',
      help: 'Caps whose Tahoe lease a renewal run handled, by result (renewed; failed: too few servers hold it, or no answer)',
      labelNames: ['result'],
      registers,
    });
    const lastRenewal = new Gauge({
      name: 'riverfs_tahoe_lease_last_complete_renewal_timestamp_seconds',
      help: 'When the last complete renewal of every referenced cap ended (Unix time); 0 before the first',
      registers,
      collect: async () => {
        const progress = await this.read('leases', this.leaseSource);
        if (progress !== undefined) {
          lastRenewal.set(progress.lastCompleteAt === null ? 0 : progress.lastCompleteAt / 1000);
        }
      },
    });
    const lastFailed = new Gauge({
      name: 'riverfs_tahoe_lease_last_renewal_failed_caps',
      help: 'Caps the last complete renewal could not renew',
      registers,
      collect: async () => {
        const progress = await this.read('leases', this.leaseSource);
        if (progress !== undefined) {
          lastFailed.set(progress.lastCompleteFailed);
        }
      },
    });

    const checked: Gauge<'state'> = new Gauge({
      name: 'riverfs_tahoe_checked_caps',
      help: 'Files and directories by the state their last check found (kept in the metadata database): unhealthy (shares missing), unrecoverable (too few to read), checked (all)',
      labelNames: ['state'],
      registers,
      collect: async () => {
        const counts = await this.read('checks', this.checkSource);
        if (counts !== undefined) {
          checked.set({ state: 'unhealthy' }, counts.unhealthy);
          checked.set({ state: 'unrecoverable' }, counts.unrecoverable);
          checked.set({ state: 'checked' }, counts.checked);
        }
      },
    });

    if (options.defaultMetrics !== false) {
      // RSS (process_resident_memory_bytes) and the heap in use (nodejs_heap_size_used_bytes) come from here.
      collectDefaultMetrics({ register: this.registry });
      const heapLimit: Gauge = new Gauge({
        name: 'riverfs_heap_limit_bytes',
        help: "Most bytes the JavaScript heap may grow to (V8's limit: the maxHeap setting when the launcher set it)",
        registers,
        collect: () => heapLimit.set(v8.getHeapStatistics().heap_size_limit),
      });
      // Gauges named *_total break Prometheus's naming rules (promtool check metrics rejects them); the same
      // counts are in nodejs_active_{handles,requests,resources}, by type.
      for (const name of [
        'nodejs_active_handles_total',
        'nodejs_active_requests_total',
        'nodejs_active_resources_total',
      ]) {
        this.registry.removeSingleMetric(name);
      }
    }
  }

  // ---- feeding -----------------------------------------------------------------------------------------------

  /** FsOps: one call per answered FUSE operation; `result` is "ok" or the errno name. */
  observeFuseOp(op: string, result: string, seconds: number): void {
    this.fuseOps.observe(op, result, seconds);
  }

  observeTahoeRequest(event: TahoeRequestEvent): void {
    const op = label(event.operation);
    this.tahoeRequests.inc({ op, status: statusLabel(event.status) });
    this.tahoeRequestDuration.observe({ op }, event.durationMs / 1000);
  }

  countTahoeBytes(direction: 'sent' | 'received', count: number): void {
    if (count > 0) {
      this.tahoeBytes.inc({ direction }, count);
    }
  }

  /** Sync: one call per failed attempt of a piece of work. */
  countSyncFailure(kind: string): void {
    this.syncFailures.inc({ kind: label(kind) });
  }

  countPulledInodes(count: number): void {
    this.pulledInodes.inc(count);
  }

  bindCache(source: Source<BlockCacheStats>): void {
    this.cacheSource = source;
  }

  bindMetadata(source: Source<MetadataStats>): void {
    this.metadataSource = source;
  }

  bindSyncQueue(source: Source<SyncQueueStats>): void {
    this.syncSource = source;
  }

  /** `source` may reject (the node is down): the gauges then read 0 connected, not happy. */
  bindGrid(source: Source<GridGaugeSource>): void {
    this.gridSource = source;
  }

  bindChecks(source: Source<{ unhealthy: number; unrecoverable: number; checked: number }>): void {
    this.checkSource = source;
  }

  bindLeaseRenewal(source: Source<LeaseRenewalProgress>): void {
    this.leaseSource = source;
  }

  /** One cap's lease renewal: renewed, or failed (too few servers hold it, or Tahoe did not answer). */
  countLeaseRenewal(result: 'renewed' | 'failed'): void {
    this.leaseRenewals.inc({ result });
  }

  bindStateStore(source: Source<StateHealth>): void {
    this.stateSource = source;
  }

  bindFileLockWaits(source: () => number): void {
    this.lockWaitsSource = source;
  }

  // ---- reading -----------------------------------------------------------------------------------------------

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition. */
  async expose(): Promise<string> {
    // A new scrape reads every source afresh, even when the previous one ended a moment ago.
    this.reads.clear();
    return this.registry.metrics();
  }

  async snapshot(): Promise<MetricsSnapshot> {
    const sum = async (metric: Counter<string>, keep: (labels: Record<string, unknown>) => boolean = () => true) =>
      (await metric.get()).values
        .filter((value) => keep(value.labels))
        .reduce((total, value) => total + value.value, 0);
    const fuse = this.fuseOps.totals();
    return {
      tahoeRequests: await sum(this.tahoeRequests),
      tahoeFailures: await sum(this.tahoeRequests, (labels) => !/^[23]\d\d$/.test(String(labels.status))),
      tahoeBytesSent: await sum(this.tahoeBytes, (labels) => labels.direction === 'sent'),
      tahoeBytesReceived: await sum(this.tahoeBytes, (labels) => labels.direction === 'received'),
      fuseOps: fuse.ops,
      fuseErrors: fuse.errors,
      syncFailures: await sum(this.syncFailures),
    };
  }

  /**
   * A counter whose value lives elsewhere as a running total (BlockCache's hits, MetadataStore's retries): at scrape
   * time it adds what the total grew by since the last scrape. A total that went down was restarted (a new cache
   * after a restart of that layer): its whole value is new.
   */
  private followTotal(name: string, help: string, readTotal: () => Promise<number | undefined>): void {
    let last = 0;
    const counter: Counter = new Counter({
      name,
      help,
      registers: [this.registry],
      collect: async () => {
        const value = await readTotal();
        if (value === undefined) {
          return;
        }
        const delta = value >= last ? value - last : value;
        if (delta > 0) {
          counter.inc(delta);
        }
        last = value;
      },
    });
  }

  private async read<T>(key: string, source: Source<T> | undefined): Promise<T | undefined> {
    if (source === undefined) {
      return undefined;
    }
    let value = this.reads.get(key);
    if (value === undefined) {
      value = Promise.resolve().then(source);
      this.reads.set(key, value);
      // prom-client starts every collect of a scrape in one synchronous pass: they all share this read. It is
      // dropped once that pass is over, for scrapes that go to the registry directly rather than through expose().
      setImmediate(() => {
        if (this.reads.get(key) === value) {
          this.reads.delete(key);
        }
      });
    }
    return (await value) as T;
  }

  /** A grid that cannot be asked reads as nothing connected, not happy. */
  private async readGrid(): Promise<GridGaugeSource | undefined> {
    try {
      return await this.read('grid', this.gridSource);
    } catch {
      return { connected: 0, happy: false };
    }
  }
}
