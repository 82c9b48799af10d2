import type { BlockCacheStats } from '../cache/block-cache';
import { RiverFsMetrics } from './riverfs-metrics.service';

function cacheStats(overrides: Partial<BlockCacheStats> = {}): BlockCacheStats {
  return {
    usedBytes: 300,
    dirtyBytes: 100,
    cleanBytes: 200,
    files: 2,
    blocks: 3,
    hits: 10,
    misses: 4,
    evictions: 1,
    maxBytes: 1000,
    blockSize: 100,
    ...overrides,
  };
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('RiverFsMetrics', () => {
  it('should keep every sample out of the default registry, so two instances never clash', async () => {
    const first = new RiverFsMetrics({ defaultMetrics: false });
    const second = new RiverFsMetrics({ defaultMetrics: false });
    first.observeFuseOp('read', 'ok', 0.01);
    expect(value(await first.expose(), 'riverfs_fuse_ops_total{op="read",result="ok"}')).toBe(1);
    expect(value(await second.expose(), 'riverfs_fuse_ops_total{op="read",result="ok"}')).toBeUndefined();
  });

  it('should fold label values that are not identifiers into "other", so no cap or path becomes a label', async () => {
    const metrics = new RiverFsMetrics({ defaultMetrics: false });
    metrics.observeTahoeRequest({ operation: 'URI:DIR2:abc:def', status: '200', durationMs: 5 });
    metrics.observeTahoeRequest({ operation: 'getNode', status: '/etc/passwd', durationMs: 5 });
    metrics.observeFuseOp('read', '../x', 0.001);
    const text = await metrics.expose();
    expect(value(text, 'riverfs_tahoe_requests_total{op="other",status="200"}')).toBe(1);
    expect(value(text, 'riverfs_tahoe_requests_total{op="getNode",status="other"}')).toBe(1);
    expect(value(text, 'riverfs_fuse_ops_total{op="read",result="other"}')).toBe(1);
    expect(text).not.toMatch(/URI:|passwd|\.\.\//);
  });

  it('should follow running totals of a source, adding only what they grew by', async () => {
    const metrics = new RiverFsMetrics({ defaultMetrics: false });
    let stats = cacheStats();
    metrics.bindCache(() => stats);
    const first = await metrics.expose();
    expect(value(first, 'riverfs_cache_hits_total')).toBe(10);
    expect(value(first, 'riverfs_cache_bytes{state="dirty"}')).toBe(100);
    stats = cacheStats({ hits: 15, dirtyBytes: 50, cleanBytes: 250 });
    const second = await metrics.expose();
    expect(value(second, 'riverfs_cache_hits_total')).toBe(15);
    expect(value(second, 'riverfs_cache_bytes{state="clean"}')).toBe(250);
    // A source that restarted from zero: its new total is all new.
    stats = cacheStats({ hits: 3 });
    expect(value(await metrics.expose(), 'riverfs_cache_hits_total')).toBe(18);
  });

  it('should read a source once per scrape, however many metrics use it', async () => {
    const metrics = new RiverFsMetrics({ defaultMetrics: false });
    let reads = 0;
    metrics.bindCache(() => {
      reads += 1;
      return cacheStats();
    });
    await metrics.expose();
    expect(reads).toBe(1);
    await metrics.expose();
    expect(reads).toBe(2);
  });

  it('should show a grid that cannot be asked as nothing connected and not happy', async () => {
    const metrics = new RiverFsMetrics({ defaultMetrics: false });
    metrics.bindGrid(() => Promise.reject(new Error('node down')));
    const text = await metrics.expose();
    expect(value(text, 'riverfs_grid_happy')).toBe(0);
    expect(value(text, 'riverfs_grid_servers_connected')).toBe(0);
  });

  it('should show the sync queue by kind and sum the totals for the dashboard', async () => {
    const metrics = new RiverFsMetrics({ defaultMetrics: false });
    metrics.bindSyncQueue(() => ({ depth: { upload: 3, publish: 1 }, oldestDirtyAgeSeconds: 42 }));
    metrics.countSyncFailure('upload');
    metrics.tahoeObserver.request({ operation: 'upload', status: '200', durationMs: 10 });
    metrics.tahoeObserver.request({ operation: 'upload', status: 'UNAVAILABLE', durationMs: 10 });
    metrics.tahoeObserver.bytes('sent', 1000);
    metrics.tahoeObserver.bytes('received', 20);
    metrics.observeFuseOp('write', 'ENOSPC', 0.1);
    const text = await metrics.expose();
    expect(value(text, 'riverfs_sync_queue_depth{kind="upload"}')).toBe(3);
    expect(value(text, 'riverfs_sync_oldest_dirty_age_seconds')).toBe(42);
    expect(await metrics.snapshot()).toEqual({
      tahoeRequests: 2,
      tahoeFailures: 1,
      tahoeBytesSent: 1000,
      tahoeBytesReceived: 20,
      fuseOps: 1,
      fuseErrors: 1,
      syncFailures: 1,
    });
  });

  it('should time metadata transactions from the store listener', async () => {
    const metrics = new RiverFsMetrics({ defaultMetrics: false });
    metrics.metadataTransactionListener({ op: 'mkdir', durationMs: 12, attempts: 1, ok: true });
    const text = await metrics.expose();
    expect(value(text, 'riverfs_meta_txn_duration_seconds_count')).toBe(1);
    expect(value(text, 'riverfs_meta_txn_duration_seconds_sum')).toBeCloseTo(0.012);
  });
});
