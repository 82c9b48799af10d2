import os from 'node:os';
import path from 'node:path';
import { LocalGrid } from '../../src/grid/local-grid';
import { defaultTahoeVenv } from '../../src/config/config.schema';

/** The one shape of grid every test run uses: 3 storage nodes, 2-of-3 shares, happy = 3 (so stopping a node makes uploads unhappy). */
export const TEST_GRID_SHAPE = { storageNodes: 3, sharesNeeded: 2, sharesHappy: 3, sharesTotal: 3 } as const;

export function testVenvDir(): string {
  return process.env.RIVERFS_TEST_TAHOE_VENV ?? defaultTahoeVenv(process.env);
}

export function createTestGrid(gridDir: string, log?: (message: string) => void): LocalGrid {
  return new LocalGrid({ gridDir, venvDir: testVenvDir(), ...TEST_GRID_SHAPE, log });
}

export function newTestGridDir(): string {
  return path.join(os.tmpdir(), `riverfs-test-grid-${process.pid}-${Date.now().toString(36)}`);
}
