import { request } from 'undici';
import type { LocalGrid } from '../../src/grid/local-grid';
import { createTestGrid, TEST_GRID_SHAPE } from './test-grid';

/**
 * The grid of this test run is started once by global-setup.ts, which publishes its web-API URL in
 * RIVERFS_TEST_TAHOE_URL and its directory in RIVERFS_TEST_GRID_DIR for every worker.
 */
export function testTahoeUrl(): string {
  const url = process.env.RIVERFS_TEST_TAHOE_URL;
  if (!url) {
    throw new Error(
      'No test grid: RIVERFS_TEST_TAHOE_URL is unset. Run tests through jest.config.js (its global setup starts ' +
        'the grid), and do not set RIVERFS_TEST_GRID=off for suites that need Tahoe.',
    );
  }
  return url;
}

export function testGridDir(): string {
  const dir = process.env.RIVERFS_TEST_GRID_DIR;
  if (!dir) {
    throw new Error('No test grid directory: RIVERFS_TEST_GRID_DIR is unset (see testTahoeUrl).');
  }
  return dir;
}

/** A new, empty, unlinked mutable directory: each test gets its own root. */
export async function freshRootDircap(): Promise<string> {
  const response = await request(`${testTahoeUrl()}/uri?t=mkdir`, {
    method: 'POST',
    headers: { accept: 'text/plain' },
  });
  const body = await response.body.text();
  if (response.statusCode !== 200 || !body.startsWith('URI:DIR2')) {
    throw new Error(`mkdir on the test grid failed: HTTP ${response.statusCode}: ${body.slice(0, 300)}`);
  }
  return body.trim();
}

/**
 * The running test grid, for tests that stop and start storage nodes. Stopping a node affects every suite that
 * runs at the same time, so such tests must restart it in `finally` and wait until the grid is happy again.
 */
export function testGrid(): LocalGrid {
  return createTestGrid(testGridDir());
}

/**
 * The test grid's usable free space as the client node reports it: the free space its connected storage servers
 * announce (welcome JSON), × k/N of the test grid's shape. What statfs on a mount of it should say.
 */
export async function testGridUsableBytes(): Promise<number> {
  const response = await request(`${testTahoeUrl()}/?t=json`, { headers: { accept: 'application/json' } });
  const welcome = (await response.body.json()) as {
    servers?: { connection_status?: string; available_space?: number | null }[];
  };
  const raw = (welcome.servers ?? [])
    .filter((server) => /^connected/i.test(server.connection_status ?? ''))
    .reduce((sum, server) => sum + (server.available_space ?? 0), 0);
  return Math.floor((raw * TEST_GRID_SHAPE.sharesNeeded) / TEST_GRID_SHAPE.sharesTotal);
}
