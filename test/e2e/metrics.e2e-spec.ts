import v8 from 'node:v8';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import request from 'supertest';
import { ROOT_INO } from '../../src/metadata/metadata.types';
import { TahoeClient } from '../../src/tahoe/tahoe.client';
import { createTestHttpApp, type TestHttpApp } from '../support/http-app.helper';

const PROMTOOL = '/usr/bin/promtool';
// Well-formed (the client sends it), but no such directory exists on the grid.
const DIRCAP = 'URI:DIR2:' + 'q'.repeat(26) + ':' + 'q'.repeat(52);

/** DESIGN.md §9, exactly: name, type and labels. */
const DESIGN_METRICS: [string, string, string[]][] = [
  ['riverfs_fuse_ops_total', 'counter', ['op', 'result']],
  ['riverfs_fuse_op_duration_seconds', 'histogram', ['op']],
  ['riverfs_cache_bytes', 'gauge', ['state']],
  ['riverfs_cache_hits_total', 'counter', []],
  ['riverfs_cache_misses_total', 'counter', []],
  ['riverfs_cache_evictions_total', 'counter', []],
  ['riverfs_tahoe_requests_total', 'counter', ['op', 'status']],
  ['riverfs_tahoe_request_duration_seconds', 'histogram', ['op']],
  ['riverfs_tahoe_bytes_total', 'counter', ['direction']],
  ['riverfs_sync_queue_depth', 'gauge', ['kind']],
  ['riverfs_sync_oldest_dirty_age_seconds', 'gauge', []],
  ['riverfs_sync_failures_total', 'counter', ['kind']],
  ['riverfs_meta_txn_duration_seconds', 'histogram', []],
  ['riverfs_meta_txn_retries_total', 'counter', []],
  ['riverfs_grid_servers_connected', 'gauge', []],
  ['riverfs_grid_happy', 'gauge', []],
];

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics', () => {
  let t: TestHttpApp;
  const scrape = async (): Promise<string> => {
    const response = await request(t.url).get('/metrics');
    expect(response.status).toBe(200);
    return response.text;
  };

  beforeAll(async () => {
    t = await createTestHttpApp();
  });

  afterAll(async () => {
    await t?.close();
  });

  it('should be served without a token on loopback, in the Prometheus text format', async () => {
    const response = await request(t.url).get('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain;/);
    expect(response.headers['content-type']).toContain('version=0.0.4');
  });

  it('should be accepted by promtool check metrics', async () => {
    expect(fs.existsSync(PROMTOOL)).toBe(true);
    t.metrics.observeFuseOp('getattr', 'ok', 0.0004);
    t.metrics.observeFuseOp('lookup', 'ENOENT', 0.0002);
    t.metrics.countSyncFailure('upload');
    const text = await scrape();
    expect(text.length).toBeGreaterThan(1000);
    const result = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect({ status: result.status, output: `${result.stdout}${result.stderr}` }).toEqual({ status: 0, output: '' });
  });

  it.each(DESIGN_METRICS)('should expose %s as a %s with labels %j', async (name, type, labels) => {
    const text = await scrape();
    expect(text).toContain(`# TYPE ${name} ${type}\n`);
    const series = text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
    for (const line of series) {
      const labelNames = [...(/^[^{ ]+\{([^}]*)\}/.exec(line)?.[1] ?? '').matchAll(/(\w+)="/g)].map((m) => m[1]);
      expect(labelNames.filter((label) => label !== 'le')).toEqual(labels);
    }
  });

  it('should include the default Node.js process metrics', async () => {
    const text = await scrape();
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).toMatch(/^process_resident_memory_bytes /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
    expect(sample(text, 'riverfs_heap_limit_bytes')).toBe(v8.getHeapStatistics().heap_size_limit);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it('should count the Tahoe requests the admin API makes, with their bytes', async () => {
    const series = 'riverfs_tahoe_requests_total{op="gridStatus",status="200"}';
    const before = await scrape();
    const beforeRequests = sample(before, series) ?? 0;
    const beforeBytes = sample(before, 'riverfs_tahoe_bytes_total{direction="received"}') ?? 0;
    expect((await request(t.url).get('/admin/grid').set('authorization', `Bearer ${t.adminToken}`)).status).toBe(200);
    const after = await scrape();
    expect(sample(after, series)).toBeGreaterThan(beforeRequests);
    expect(sample(after, 'riverfs_tahoe_bytes_total{direction="received"}')).toBeGreaterThan(beforeBytes);
    expect(sample(after, 'riverfs_tahoe_request_duration_seconds_count{op="gridStatus"}')).toBeGreaterThan(0);
    expect(sample(after, 'riverfs_grid_happy')).toBe(1);
    expect(sample(after, 'riverfs_grid_servers_connected')).toBeGreaterThanOrEqual(t.config.gridSharesHappy);
  });

  it('should read the cache, the metadata store and the state store at scrape time', async () => {
    const owner = { uid: 0, gid: 0, mode: 0o644 };
    const before = await scrape();
    const file = await t.store.create(ROOT_INO, 'metered.bin', owner);
    await t.cache.write(file.ino, 0, Buffer.alloc(5000, 1));
    await t.cache.read(file.ino, 0, 100, 5000);
    const after = await scrape();
    expect(sample(after, 'riverfs_cache_bytes{state="dirty"}')).toBe(t.cache.stats().dirtyBytes);
    expect(sample(after, 'riverfs_cache_hits_total')).toBe((sample(before, 'riverfs_cache_hits_total') ?? 0) + 1);
    expect(sample(after, 'riverfs_meta_txn_duration_seconds_count')).toBeGreaterThan(
      sample(before, 'riverfs_meta_txn_duration_seconds_count') ?? 0,
    );
    expect(sample(after, 'riverfs_meta_txn_retries_total')).toBe(t.store.stats().retries);
    expect(sample(after, 'riverfs_state_store_up{backend="redis"}')).toBe(1);
  });

  it('should never put a cap into a label, even from a failing request on one', async () => {
    await expect(t.app.get(TahoeClient).listDirectory(DIRCAP)).rejects.toMatchObject({ name: 'TahoeError' });
    const text = await scrape();
    expect(text).toMatch(/^riverfs_tahoe_requests_total\{op="listDirectory",status="\w+"\} 1$/m);
    expect(text).not.toMatch(/URI:|q{26}/);
  });
});
