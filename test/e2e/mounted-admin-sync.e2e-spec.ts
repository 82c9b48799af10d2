import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import type { EvictResultDto } from '../../src/admin/dto/cache.dto';
import type { InodeDto } from '../../src/admin/dto/inode.dto';
import type { JobDto } from '../../src/admin/dto/job.dto';
import { pollUntil } from '../../src/grid/process.util';
import { runCli } from '../support/cli.helper';
import { RiverFsProcess, isMounted, unmount } from '../support/fuse-mount.helper';
import {
  type BackendResources,
  MARIADB_BACKEND,
  REDIS_DATABASES,
  backendResources,
} from '../support/mount-backends.helper';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { freshRootDircap } from '../support/tahoe.helper';
import { type TahoeTreeNode, tahoeTree } from '../support/tahoe-tree.helper';

const j = path.join;
const MiB = 1024 * 1024;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A counter of the Prometheus text exposition (0 when absent). */
function metric(text: string, name: string): number {
  const match = new RegExp(`^${name}(?:\\{\\})? ([0-9.e+]+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

/**
 * The operator surface on a real `riverfs mount` (MariaDB + Redis, the real grid) whose background sync waits an
 * hour (--sync-delay 3600): whatever reaches Tahoe during these tests was pushed by the admin API or the CLI.
 */
describe('flush, sync and evict of a mounted RiverFS through the admin API and the CLI (MariaDB + Redis)', () => {
  const client = testTahoeClient();
  let resources: BackendResources | undefined;
  let mountpoint: string | undefined;
  let riverfs: RiverFsProcess | undefined;
  let rootCap: string;

  const api = () => request(riverfs!.adminUrl);
  const auth = () => ({ Authorization: `Bearer ${riverfs!.adminToken()}` });
  const revealAuth = () => ({
    Authorization: `Bearer ${fs.readFileSync(j(riverfs!.dataDir, 'admin-reveal-token'), 'utf8').trim()}`,
  });
  const tree = () => tahoeTree(client, rootCap);
  const inode = async (relative: string, reveal = false): Promise<InodeDto> => {
    const response = await api()
      .get('/admin/inodes')
      .query({ path: `/${relative}`, ...(reveal ? { reveal: true } : {}) })
      .set(reveal ? revealAuth() : auth());
    expect(response.status).toBe(200);
    return response.body as InodeDto;
  };
  /** The file at `relative` in Tahoe, whose bytes must be `expected`. */
  const expectInTahoe = async (relative: string, expected: Buffer): Promise<TahoeTreeNode> => {
    const node = (await tree()).get(relative);
    expect(node?.node.type).toBe('file');
    expect(sha256(await client.readAll(node!.cap))).toBe(sha256(expected));
    return node!;
  };

  beforeAll(async () => {
    resources = await backendResources(MARIADB_BACKEND, 'adminsync', REDIS_DATABASES.adminSync);
    rootCap = await freshRootDircap();
    mountpoint = fs.mkdtempSync(j(os.tmpdir(), 'riverfs-mnt-'));
    riverfs = await RiverFsProcess.start(mountpoint, {
      ...resources.options,
      // Listings trusted for an hour too: a remote change shows up only when a pull is asked for.
      args: ['--root-cap', rootCap, '--sync-delay', '3600', '--sync-drain-timeout', '0', '--dir-ttl', '3600'],
    });
  }, 180_000);

  afterAll(async () => {
    try {
      await riverfs?.dispose();
    } finally {
      try {
        if (mountpoint !== undefined) {
          await unmount(mountpoint);
          expect(await isMounted(mountpoint)).toBe(false);
          fs.rmSync(mountpoint, { recursive: true, force: true });
        }
      } finally {
        await client.close();
        await resources?.release();
      }
    }
  }, 120_000);

  it('should upload a written file only when flushed with wait, then show it synced with a redacted cap', async () => {
    const data = randomBytes(300_000);
    fs.mkdirSync(j(mountpoint!, 'flush-wait'));
    fs.writeFileSync(j(mountpoint!, 'flush-wait', 'data.bin'), data);

    const dirty = await inode('flush-wait/data.bin');
    expect(dirty.sync).toMatchObject({ state: 'dirty', dataDirty: true });
    expect(dirty.caps).toMatchObject({ writeCap: null, readCap: null });
    // The background sync waits an hour: neither the file nor its directory is in Tahoe.
    expect((await tree()).has('flush-wait')).toBe(false);

    const flushed = await api()
      .post('/admin/cache/flush')
      .set(auth())
      .send({ path: '/flush-wait/data.bin', wait: true });
    expect(flushed.status).toBe(200);
    expect(flushed.body as JobDto).toMatchObject({
      kind: 'flush',
      state: 'succeeded',
      error: null,
      result: { files: 1 },
    });

    const node = await expectInTahoe('flush-wait/data.bin', data);
    expect(node.riverfs).toMatchObject({ type: 'file', mode: 0o644 });
    const synced = await inode('flush-wait/data.bin');
    expect(synced.sync).toMatchObject({ state: 'synced', dataDirty: false, lastError: null });
    expect(synced.caps.revealed).toBe(false);
    expect(synced.caps.writeCap).toMatch(/^URI:CHK:<redacted:[0-9a-f]{8}>$/);
    expect(JSON.stringify(synced)).not.toContain(node.cap.slice('URI:CHK:'.length));
    // With the cap-revealing token: the very cap Tahoe links at that path.
    const revealed = await inode('flush-wait/data.bin', true);
    expect(revealed.caps.revealed).toBe(true);
    expect(revealed.caps.readCap).toBe(node.cap);
    expect(fs.readFileSync(j(mountpoint!, 'flush-wait', 'data.bin')).equals(data)).toBe(true);
  });

  it('should run a flush as a job whose progress moves to done, polled through GET /admin/jobs/{id}', async () => {
    const data = randomBytes(6 * MiB + 4321);
    fs.mkdirSync(j(mountpoint!, 'flush-job', 'nested'), { recursive: true });
    fs.writeFileSync(j(mountpoint!, 'flush-job', 'nested', 'big.bin'), data);
    expect((await tree()).has('flush-job')).toBe(false);

    const started = await api().post('/admin/cache/flush').set(auth()).send({ path: '/flush-job' });
    expect(started.status).toBe(202);
    const job = started.body as JobDto;
    expect(job).toMatchObject({ kind: 'flush', state: 'running', params: { path: '/flush-job' } });
    expect(started.headers.location).toBe(`/admin/jobs/${job.id}`);

    const seen: JobDto[] = [];
    const ended = await pollUntil(
      async () => {
        const response = await api().get(`/admin/jobs/${job.id}`).set(auth());
        expect(response.status).toBe(200);
        const current = response.body as JobDto;
        seen.push(current);
        return current.state === 'running' ? undefined : current;
      },
      {
        timeoutMs: 120_000,
        intervalMs: 100,
        describeTimeout: () => `job ${job.id} still running: ${JSON.stringify(seen.at(-1))}`,
      },
    );
    expect(ended).toMatchObject({ state: 'succeeded', error: null });
    expect(ended.progress.total).not.toBeNull();
    expect(ended.progress.done).toBe(ended.progress.total);
    expect(ended.progress.done).toBeGreaterThan(0);
    expect(Date.parse(ended.finishedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(ended.createdAt));
    // Progress never goes back.
    const done = seen.map((answer) => answer.progress.done);
    expect(done).toEqual([...done].sort((a, b) => a - b));

    await expectInTahoe('flush-job/nested/big.bin', data);
    expect((await inode('flush-job/nested/big.bin')).sync.state).toBe('synced');
  });

  it('should push namespace changes of a directory tree (mkdir, rename) to its dirnodes on POST /admin/sync', async () => {
    const data = randomBytes(50_000);
    fs.mkdirSync(j(mountpoint!, 'tree', 'x'), { recursive: true });
    fs.writeFileSync(j(mountpoint!, 'tree', 'x', 'file'), data);
    const first = await api().post('/admin/sync').set(auth()).send({ path: '/tree', wait: true });
    expect(first.body as JobDto).toMatchObject({ kind: 'sync', state: 'succeeded' });
    const before = await expectInTahoe('tree/x/file', data);

    fs.mkdirSync(j(mountpoint!, 'tree', 'made'));
    fs.renameSync(j(mountpoint!, 'tree', 'x', 'file'), j(mountpoint!, 'tree', 'made', 'renamed'));
    fs.renameSync(j(mountpoint!, 'tree', 'x'), j(mountpoint!, 'tree', 'x-renamed'));
    // Not pushed yet: Tahoe still shows the old names.
    const stale = await tree();
    expect(stale.has('tree/made')).toBe(false);
    expect(stale.has('tree/x/file')).toBe(true);
    expect((await inode('tree')).sync.state).toBe('dirty');

    const synced = await api().post('/admin/sync').set(auth()).send({ path: '/tree', wait: true });
    expect(synced.status).toBe(200);
    expect(synced.body as JobDto).toMatchObject({ kind: 'sync', state: 'succeeded', params: { path: '/tree' } });

    const after = await tree();
    const paths = [...after.keys()].filter((relative) => relative.startsWith('tree/')).sort();
    expect(paths).toEqual(['tree/made', 'tree/made/renamed', 'tree/x-renamed']);
    expect(after.get('tree/made')?.node.type).toBe('directory');
    expect(after.get('tree/made')?.riverfs).toMatchObject({ type: 'dir' });
    expect(after.get('tree/x-renamed')?.node.type).toBe('directory');
    // A rename moves the link: the same content cap, not a new upload.
    expect(after.get('tree/made/renamed')?.cap).toBe(before.cap);
    await expectInTahoe('tree/made/renamed', data);
    expect((await inode('tree')).sync.state).toBe('synced');
  });

  it('should show a change another Tahoe client made once POST /admin/sync pulls it, before the directory TTL', async () => {
    fs.mkdirSync(j(mountpoint!, 'pulled'));
    const pushed = await api().post('/admin/sync').set(auth()).send({ path: '/pulled', direction: 'push', wait: true });
    expect(pushed.body as JobDto).toMatchObject({ state: 'succeeded', params: { direction: 'push' } });
    const dirCap = (await tree()).get('pulled')!.cap;
    await client.link(dirCap, 'from-elsewhere', await client.upload(Buffer.from('written by another client')));
    // The listing is trusted for an hour: the mount does not look yet.
    expect(fs.readdirSync(j(mountpoint!, 'pulled'))).toEqual([]);

    const pulled = await api().post('/admin/sync').set(auth()).send({ path: '/pulled', direction: 'pull', wait: true });
    expect(pulled.status).toBe(200);
    expect(pulled.body as JobDto).toMatchObject({
      state: 'succeeded',
      result: { pulled: { directories: 1, added: 1, conflicts: [] } },
    });
    expect(fs.readdirSync(j(mountpoint!, 'pulled'))).toEqual(['from-elsewhere']);
    expect(fs.readFileSync(j(mountpoint!, 'pulled', 'from-elsewhere'), 'utf8')).toBe('written by another client');
    expect((await inode('pulled/from-elsewhere')).sync.state).toBe('synced');
  });

  it('should flush a file given by its path in the mount with `riverfs flush`, exiting 0', async () => {
    const data = randomBytes(123_456);
    fs.mkdirSync(j(mountpoint!, 'cli'));
    fs.writeFileSync(j(mountpoint!, 'cli', 'report.txt'), data);
    expect((await tree()).has('cli')).toBe(false);

    const result = await runCli([
      'flush',
      j(mountpoint!, 'cli', 'report.txt'),
      '--url',
      riverfs!.adminUrl,
      '--data-dir',
      riverfs!.dataDir,
    ]);
    expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
    await expectInTahoe('cli/report.txt', data);
    expect((await inode('cli/report.txt')).sync.state).toBe('synced');
  });

  it('should evict a synced file and read it back from Tahoe with the same bytes, counting cache misses', async () => {
    const data = randomBytes(3 * MiB + 777);
    fs.mkdirSync(j(mountpoint!, 'evict'));
    fs.writeFileSync(j(mountpoint!, 'evict', 'cold.bin'), data);
    const flushed = await api().post('/admin/cache/flush').set(auth()).send({ path: '/evict/cold.bin', wait: true });
    expect(flushed.body as JobDto).toMatchObject({ state: 'succeeded' });
    await expectInTahoe('evict/cold.bin', data);
    expect((await inode('evict/cold.bin')).cache).toMatchObject({ cachedBlocks: 4, dirtyBlocks: 0 });

    const evicted = await api().post('/admin/cache/evict').set(auth()).send({ path: '/evict/cold.bin' });
    expect(evicted.status).toBe(200);
    expect(evicted.body as EvictResultDto).toMatchObject({ files: 1, dirtyBytesKept: 0 });
    expect((evicted.body as EvictResultDto).freedBytes).toBeGreaterThan(0);
    expect((await inode('evict/cold.bin')).cache).toMatchObject({ cachedBlocks: 0, dirtyBlocks: 0 });

    const missesBefore = metric((await api().get('/metrics')).text, 'riverfs_cache_misses_total');
    expect(sha256(fs.readFileSync(j(mountpoint!, 'evict', 'cold.bin')))).toBe(sha256(data));
    const missesAfter = metric((await api().get('/metrics')).text, 'riverfs_cache_misses_total');
    expect(missesAfter).toBeGreaterThan(missesBefore);
    expect((await inode('evict/cold.bin')).cache).toMatchObject({ cachedBlocks: 4, dirtyBlocks: 0 });
  });
});
