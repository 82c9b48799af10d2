import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LocalGrid } from '../../src/grid/local-grid';
import { isProcessAlive, pollUntil } from '../../src/grid/process.util';
import { runCli, spawnCli } from '../support/cli.helper';
import { tahoeProcessesUnder } from '../support/process.helper';
import { testGrid, testGridDir } from '../support/tahoe.helper';
import { testVenvDir } from '../support/test-grid';

function processGone(pid: number): boolean {
  return !isProcessAlive(pid);
}

describe('stopping and restarting nodes of the shared test grid', () => {
  const grid: LocalGrid = testGrid();

  afterEach(async () => {
    // Leave the grid whole for the next suite, whatever happened.
    for (const name of grid.storageNodeNames()) {
      await grid.startNode(name, { waitReady: false });
    }
    await grid.waitUntilHappy();
  });

  it('should stop one storage node by pid and bring it back to a happy grid', async () => {
    const pid = grid.nodePid('storage2')!;
    await grid.stopNode('storage2');
    expect(processGone(pid)).toBe(true);
    const degraded = await grid.status();
    expect(degraded.nodes.find((node) => node.name === 'storage2')!.running).toBe(false);
    expect(degraded.ready).toBe(false);
    const newPid = await grid.startNode('storage2');
    expect(newPid).not.toBe(pid);
    expect((await grid.status()).ready).toBe(true);
  });

  it('should restart a node killed with -9, keeping its data and never running it twice', async () => {
    const storageDir = path.join(testGridDir(), 'storage1', 'storage');
    const pid = grid.nodePid('storage1')!;
    process.kill(pid, 'SIGKILL');
    await pollUntil(() => (isProcessAlive(pid) ? undefined : true), {
      timeoutMs: 10_000,
      describeTimeout: () => `storage1 (pid ${pid}) survived SIGKILL`,
    });
    // Tahoe's pid file still names the dead process: start must see through it.
    expect(fs.existsSync(path.join(testGridDir(), 'storage1', 'running.process'))).toBe(true);
    await grid.startNode('storage1');
    expect(tahoeProcessesUnder(path.join(testGridDir(), 'storage1'))).toHaveLength(1);
    expect(fs.existsSync(storageDir)).toBe(true);
  });
});

describe('riverfs grid start | status | stop on a fresh directory', () => {
  let gridDir: string;
  beforeAll(() => {
    gridDir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-cli-grid-'));
  });
  afterAll(async () => {
    // Whatever the test did, never leave a node behind.
    await runCli(['grid', 'stop', '--grid-dir', gridDir]);
    for (const pid of tahoeProcessesUnder(gridDir)) {
      process.kill(pid, 'SIGKILL');
    }
    fs.rmSync(gridDir, { recursive: true, force: true });
  });

  it('should survive a starter killed with -9 mid-start, then report ready and stop every process', async () => {
    const env = { RIVERFS_GRID_DIR: gridDir, RIVERFS_TAHOE_VENV: testVenvDir() };
    // A first start killed with -9 while nodes are coming up, holding the grid lock, as a crashed RiverFS would.
    const doomed = spawnCli(['grid', 'start'], env);
    await pollUntil(() => (tahoeProcessesUnder(gridDir).length >= 2 ? true : undefined), {
      timeoutMs: 120_000,
      describeTimeout: () => 'the first grid start never started two nodes',
    });
    doomed.kill('SIGKILL');

    const started = await runCli(['grid', 'start'], env);
    expect(started.stderr).not.toMatch(/Error/);
    expect(started.code).toBe(0);
    const webUrl = started.stdout.trim();
    expect(webUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const pids = tahoeProcessesUnder(gridDir);
    expect(pids).toHaveLength(5);

    const status = await runCli(['grid', 'status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`web API:        ${webUrl}`);
    expect(status.stdout).toMatch(/state: +ready/);

    // Starting again adopts the same processes.
    const again = await runCli(['grid', 'start'], env);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe(webUrl);
    expect(tahoeProcessesUnder(gridDir)).toEqual(pids);

    const stopped = await runCli(['grid', 'stop'], env);
    expect(stopped.code).toBe(0);
    expect(tahoeProcessesUnder(gridDir)).toEqual([]);
    expect(pids.every(processGone)).toBe(true);

    const after = await runCli(['grid', 'status'], env);
    expect(after.code).toBe(3);
    expect(after.stdout).toMatch(/state: +NOT ready/);
  });
});
