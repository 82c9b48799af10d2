import fs from 'node:fs';
import { assertMariaDbReachable } from './mariadb.helper';
import { assertRedisReachable } from './redis.helper';
import { createTestGrid, newTestGridDir } from './test-grid';
import type { LocalGrid } from '../../src/grid/local-grid';

declare global {
  var __RIVERFS_TEST_GRID__: { grid: LocalGrid; removeDir: boolean } | undefined;
}

/**
 * Runs once per `jest` run, before any worker starts: checks that MariaDB and Redis answer (failing with how to
 * start them), then starts one local Tahoe grid for the whole run and publishes its URL to every worker through
 * the environment. RIVERFS_TEST_GRID=off skips the grid for suites that do not need it (a developer convenience:
 * tests that need Tahoe then fail with a message saying so, they are never skipped).
 */
export default async function globalSetup(): Promise<void> {
  await Promise.all([assertMariaDbReachable(), assertRedisReachable()]);
  if (process.env.RIVERFS_TEST_GRID === 'off') {
    return;
  }
  const reuseDir = process.env.RIVERFS_TEST_GRID_DIR;
  const gridDir = reuseDir ?? newTestGridDir();
  const started = Date.now();
  const grid = createTestGrid(gridDir, (message) => {
    if (process.env.RIVERFS_TEST_VERBOSE) {
      process.stderr.write(`[test grid] ${message}\n`);
    }
  });
  process.stderr.write(`\n[test grid] starting a local Tahoe grid in ${gridDir}\n`);
  try {
    await grid.start();
  } catch (error) {
    await grid.stop().catch(() => undefined);
    throw error;
  }
  process.env.RIVERFS_TEST_TAHOE_URL = grid.webUrl();
  process.env.RIVERFS_TEST_GRID_DIR = gridDir;
  process.stderr.write(`[test grid] ready at ${grid.webUrl()} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  // A grid in a directory given by the caller belongs to the caller (scripts/run-tests.js shares one grid between
  // its phases); only a grid this setup placed itself is stopped and removed by the teardown.
  globalThis.__RIVERFS_TEST_GRID__ = reuseDir === undefined ? { grid, removeDir: true } : undefined;
}

export function removeGridDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
