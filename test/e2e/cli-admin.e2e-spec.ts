import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { EvictResultDto } from '../../src/admin/dto/cache.dto';
import type { InodeDto } from '../../src/admin/dto/inode.dto';
import type { JobDto } from '../../src/admin/dto/job.dto';
import { pollUntil } from '../../src/grid/process.util';
import { ROOT_INO } from '../../src/metadata/metadata.types';
import { TahoeError } from '../../src/tahoe/tahoe.errors';
import type { StatusReport } from '../../src/cli/status.command';
import { type CliResult, runCli, type RunningCli, startCli } from '../support/cli.helper';
import { RiverFsProcess, unmount } from '../support/fuse-mount.helper';
import { GatedSyncControl } from '../support/gated-sync-control';
import { createTestHttpApp, type TestHttpApp } from '../support/http-app.helper';

function json<T>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}):\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
}

/** A local port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Waits (with a deadline) until the running command has printed `pattern` on stderr. */
function stderrShows(cli: RunningCli, pattern: RegExp): Promise<true> {
  return pollUntil(() => (pattern.test(cli.stderr) ? true : undefined), {
    timeoutMs: 30_000,
    intervalMs: 50,
    describeTimeout: () => `riverfs printed no ${String(pattern)} on stderr:\n${cli.stderr}\nstdout:\n${cli.stdout}`,
  });
}

describe('riverfs status, inode and evict against a real mount', () => {
  let mountpoint: string;
  let riverfs: RiverFsProcess | undefined;
  /** The address of the mount's admin API, and its data directory, where the command finds the token files. */
  const at = () => ['--url', riverfs!.adminUrl, '--data-dir', riverfs!.dataDir];

  beforeAll(async () => {
    mountpoint = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-mnt-'));
    riverfs = await RiverFsProcess.start(mountpoint);
    fs.mkdirSync(path.join(mountpoint, 'docs'));
    fs.writeFileSync(path.join(mountpoint, 'docs', 'report.txt'), 'quarterly numbers\n');
  });

  afterAll(async () => {
    try {
      await riverfs?.dispose();
    } finally {
      await unmount(mountpoint);
      fs.rmSync(mountpoint, { recursive: true, force: true });
    }
  });

  it('should show the status as a table, and as JSON for scripts, exiting 0 when ready', async () => {
    const table = await runCli(['status', ...at()]);
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^state: +ready$/m);
    expect(table.stdout).toContain(`mounted on ${mountpoint}`);
    expect(table.stdout).toMatch(/^grid: +\d+ servers connected/m);
    expect(table.stdout).toMatch(/^cache: +.* used of /m);

    const result = await runCli(['status', '--json', ...at()]);
    expect(result.code).toBe(0);
    const report = json<StatusReport>(result);
    expect(report).toMatchObject({ url: riverfs!.adminUrl, ready: true, notReady: null });
    expect(report.checks.mount).toMatchObject({ status: 'up', mounted: true, mountpoint });
    expect(report.stats.grid.happy).toBe(true);
    expect(report.stats.grid.connectedServers).toBeGreaterThanOrEqual(report.stats.grid.sharesHappy);
    expect(report.stats.cache.limits.maxBytes).toBeGreaterThan(0);
    expect(Array.isArray(report.runningJobs)).toBe(true);
  });

  it("should report the gateway's memory, its heap bounded by the launcher at the maxHeap setting (512 MiB) and malloc held to two arenas", async () => {
    const table = await runCli(['status', ...at()]);
    expect(table.stdout).toMatch(/^memory: +[\d.]+ \w+ resident; heap [\d.]+ \w+ used of [\d.]+ \w+$/m);
    const { memory } = json<StatusReport>(await runCli(['status', '--json', ...at()])).stats;
    // V8's limit is the old space the flag sets plus the young generation (48 MiB at this size).
    expect(memory.heapLimitBytes).toBeGreaterThanOrEqual(512 * 1024 * 1024);
    expect(memory.heapLimitBytes).toBeLessThanOrEqual(576 * 1024 * 1024);
    expect(memory.heapUsedBytes).toBeGreaterThan(0);
    expect(memory.heapUsedBytes).toBeLessThan(memory.heapLimitBytes);
    expect(memory.rssBytes).toBeGreaterThan(memory.heapUsedBytes);
    // The serving process is the launcher's child, started with the bound.
    expect(fs.readFileSync(`/proc/${riverfs!.pid!}/cmdline`, 'utf8').split('\0')).toContain('--max-old-space-size=512');
    expect(fs.readFileSync(`/proc/${riverfs!.pid!}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2');
  });

  it('should inspect a file by path from the root, by its path in the mount, and by inode number', async () => {
    const hostFile = path.join(mountpoint, 'docs', 'report.txt');
    const byPath = await runCli(['inode', '/docs/report.txt', '--json', ...at()]);
    expect(byPath.code).toBe(0);
    const inode = json<InodeDto>(byPath);
    expect(inode).toMatchObject({ type: 'file', size: 18, nlink: 1, paths: ['/docs/report.txt'] });
    expect(inode.ino).toBe(fs.statSync(hostFile).ino);
    expect(inode.caps.revealed).toBe(false);

    const byHostPath = await runCli(['inode', hostFile, '--json', ...at()]);
    expect(json<InodeDto>(byHostPath).ino).toBe(inode.ino);

    const table = await runCli(['inode', String(inode.ino), ...at()]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^inode: +${inode.ino} \\(file\\)$`, 'm'));
    expect(table.stdout).toMatch(/^names: +\/docs\/report\.txt$/m);
    expect(table.stdout).toMatch(/^mode: +0644 /m);
    expect(table.stdout).toMatch(/^sync: +\S+/m);
    expect(table.stdout).toMatch(/^cache: +.* cached \(/m);
  });

  it('should reveal caps only with the cap-revealing token', async () => {
    const revealed = await runCli(['inode', '/', '--reveal', '--json', ...at()]);
    expect(revealed.code).toBe(0);
    const root = json<InodeDto>(revealed);
    expect(root).toMatchObject({ ino: ROOT_INO, type: 'dir', caps: { revealed: true } });
    expect(root.caps.writeCap ?? '').not.toContain('<redacted');

    const refused = await runCli(['inode', '/', '--reveal', ...at(), '--token', riverfs!.adminToken()]);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('[REVEAL_FORBIDDEN]');
    expect(refused.stdout).toBe('');
  });

  it('should evict the cached data of a path and of everything, and report what it freed', async () => {
    expect(fs.readFileSync(path.join(mountpoint, 'docs', 'report.txt'), 'utf8')).toBe('quarterly numbers\n');
    const before = json<InodeDto>(await runCli(['inode', '/docs/report.txt', '--json', ...at()]));
    const evicted = await runCli(['evict', '/docs/report.txt', '--json', ...at()]);
    expect(evicted.code).toBe(0);
    const result = json<EvictResultDto>(evicted);
    expect(result).toEqual({
      freedBytes: expect.any(Number) as unknown,
      files: expect.any(Number) as unknown,
      dirtyBytesKept: expect.any(Number) as unknown,
    });
    // Only clean blocks that can be fetched again go (dirty ones never; without sync, none can be fetched again).
    const after = json<InodeDto>(await runCli(['inode', '/docs/report.txt', '--json', ...at()]));
    expect(after.cache!.cachedBytes).toBe(before.cache!.cachedBytes - result.freedBytes);
    expect(after.cache!.dirtyBytes).toBe(result.dirtyBytesKept);

    const all = await runCli(['evict', ...at()]);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^evicted everything: freed .*; .* dirty kept/m);
    expect(fs.readFileSync(path.join(mountpoint, 'docs', 'report.txt'), 'utf8')).toBe('quarterly numbers\n');
  });

  it('should exit 5 with the reason and a correlation id when the token is wrong', async () => {
    const result = await runCli(['inode', '/docs/report.txt', ...at(), '--token', 'not-the-token-0123456789']);
    expect(result.code).toBe(5);
    expect(result.stderr).toContain('the token is not valid');
    expect(result.stderr).toContain('[UNAUTHORIZED]');
    expect(result.stderr).toMatch(/correlation id: [0-9a-f-]{36}/);
    expect(result.stderr).toContain('token: --token');
    expect(result.stdout).toBe('');

    const scripted = await runCli(['status', '--json', ...at(), '--token', 'not-the-token-0123456789']);
    expect(scripted.code).toBe(5);
    expect(json<{ error: { exitCode: number; status: number } }>(scripted).error).toMatchObject({
      exitCode: 5,
      status: 401,
    });
  });

  it('should exit 4 for a path or inode that does not exist, and 2 for a path the server refuses', async () => {
    const noPath = await runCli(['inode', '/docs/missing.txt', ...at()]);
    expect(noPath.code).toBe(4);
    expect(noPath.stderr).toContain('Not Found');
    expect(noPath.stderr).toContain('[ENOENT]');

    const noInode = await runCli(['evict', '999999999', ...at()]);
    expect(noInode.code).toBe(4);

    const invalid = await runCli(['inode', '/docs/../report.txt', ...at()]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('Bad Request');

    const relative = await runCli(['inode', 'docs/report.txt', ...at()]);
    expect(relative.code).toBe(2);
    expect(relative.stderr).toContain('is relative');
  });
});

describe('riverfs commands when nothing answers', () => {
  it('should exit 3 and say that the admin API cannot be reached', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-cli-down-'));
    try {
      for (const args of [['status'], ['inode', '/'], ['flush', '--json']]) {
        const result = await runCli([...args, '--url', url, '--data-dir', dataDir]);
        expect(result.code).toBe(3);
        expect(result.stderr).toContain(`cannot reach the RiverFS admin API at ${url}: connection refused`);
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('riverfs flush, sync, warmup and job against a gateway whose jobs a test controls', () => {
  let t: TestHttpApp;
  let control: GatedSyncControl;
  const at = () => ['--url', t.url, '--token', t.adminToken];

  beforeAll(async () => {
    t = await createTestHttpApp({
      syncControl: (deps) => {
        control = new GatedSyncControl(deps);
        return control;
      },
    });
    const owner = { uid: 0, gid: 0, mode: 0o755 };
    const data = await t.store.mkdir(ROOT_INO, 'data', owner);
    const nested = await t.store.mkdir(data.ino, 'nested', owner);
    for (const [parent, name, size] of [
      [data.ino, 'a.bin', 1000],
      [data.ino, 'b.bin', 2000],
      [nested.ino, 'c.bin', 3000],
    ] as const) {
      const file = await t.store.create(parent, name, owner);
      await t.store.setattr(file.ino, { size });
    }
    const first = await t.store.lookup(data.ino, 'a.bin');
    await t.cache.write(first.ino, 0, Buffer.alloc(1000, 7));
  });

  afterAll(async () => {
    control?.open();
    await t?.close();
  });

  it('should flush with --json and print only the ended job on stdout', async () => {
    const result = await runCli(['flush', '--json', ...at()]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(json<JobDto>(result)).toMatchObject({
      kind: 'flush',
      state: 'succeeded',
      params: { ino: null },
      result: { files: 1, bytes: t.cache.blockSize },
    });
  });

  it('should sync a path and wait with --wait, or only start it and let job --wait follow it', async () => {
    const waited = await runCli(['sync', '/data/nested', '--wait', '--json', ...at()]);
    expect(waited.code).toBe(0);
    expect(json<JobDto>(waited)).toMatchObject({ kind: 'sync', state: 'succeeded', params: { path: '/data/nested' } });

    const started = await runCli(['sync', ...at()]);
    expect(started.code).toBe(0);
    const id = started.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(started.stderr).toContain(`riverfs job ${id}`);
    const followed = await runCli(['job', id, '--wait', '--json', ...at()]);
    expect(followed.code).toBe(0);
    expect(json<JobDto>(followed)).toMatchObject({ id, kind: 'sync', state: 'succeeded' });
  });

  it('should print progress lines while a warmup runs, then its summary', async () => {
    control.close();
    const cli = startCli(['warmup', '/data', ...at()]);
    try {
      await control.waiting;
      await stderrShows(cli, /^warmup running: 1\/3 files \(33%\)/m);
      expect(cli.stdout).toBe('');
    } finally {
      control.open();
    }
    const result = await cli.exited;
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^warmup job [0-9a-f-]{36} started for \/data$/m);
    expect(result.stdout).toMatch(/^warmup succeeded in .*: 3 files, 5\.9 KiB$/m);
  });

  it('should ask the server to cancel the job on Ctrl-C and exit 130', async () => {
    control.close();
    const cli = startCli(['warmup', '/data', '--json', ...at()]);
    let result: CliResult;
    try {
      await control.waiting;
      cli.child.kill('SIGINT');
      result = await cli.exited;
    } finally {
      control.open();
    }
    expect(result.code).toBe(130);
    expect(result.stderr).toContain('interrupted: asking the server to cancel warmup job');
    const job = json<JobDto>(result);
    expect(['cancelling', 'cancelled']).toContain(job.state);
    await control.settled;
    const after = await runCli(['job', job.id, '--json', ...at()]);
    expect(json<JobDto>(after)).toMatchObject({ id: job.id, state: 'cancelled', result: null });
  });

  it('should exit 1 with the error when the job fails', async () => {
    control.close();
    control.open();
    control.failNextWarmup(new TahoeError({ code: 'UNAVAILABLE', operation: 'read', detail: 'no answer' }));
    const result = await runCli(['warmup', '/data', '--json', ...at()]);
    expect(result.code).toBe(1);
    expect(json<JobDto>(result)).toMatchObject({ state: 'failed', error: { code: 'TAHOE_UNAVAILABLE' } });
    expect(result.stderr).toMatch(/warmup job [0-9a-f-]{36} failed: .*\[TAHOE_UNAVAILABLE\]/);
  });

  it('should exit 4 for a target or a job that does not exist', async () => {
    const target = await runCli(['flush', '/data/missing.bin', ...at()]);
    expect(target.code).toBe(4);
    expect(target.stderr).toContain('[ENOENT]');
    const job = await runCli(['job', '00000000-0000-4000-8000-000000000000', ...at()]);
    expect(job.code).toBe(4);
    expect(job.stderr).toContain('[JOB_NOT_FOUND]');
  });
});
