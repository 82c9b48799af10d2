import { removeGridDir } from './global-setup';

/** Stops every node the global setup started (by pid) and removes the grid it created. */
export default async function globalTeardown(): Promise<void> {
  const state = globalThis.__RIVERFS_TEST_GRID__;
  if (!state) {
    return;
  }
  globalThis.__RIVERFS_TEST_GRID__ = undefined;
  await state.grid.stop();
  if (state.removeDir) {
    removeGridDir(state.grid.gridDir);
  }
}
