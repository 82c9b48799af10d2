import request from 'supertest';
import { ROOT_INO } from '../../src/metadata/metadata.types';
import { TahoeError } from '../../src/tahoe/tahoe.errors';
import { GatedSyncControl } from '../support/gated-sync-control';
import type { InodeDto } from '../../src/admin/dto/inode.dto';
import type { JobDto } from '../../src/admin/dto/job.dto';
import type { RecentErrorsDto, StatsDto } from '../../src/admin/dto/stats.dto';
import type { SyncQueueDto } from '../../src/admin/dto/sync.dto';
import { body, createTestHttpApp, type Problem, type TestHttpApp } from '../support/http-app.helper';

const DIRCAP = 'URI:DIR2:' + 'a'.repeat(26) + ':' + 'b'.repeat(52);

describe('admin jobs: flush, sync and warmup through a SyncControl', () => {
  let t: TestHttpApp;
  let control: GatedSyncControl;
  let dataIno: number;
  const admin = () => ({ authorization: `Bearer ${t.adminToken}` });
  const api = () => request(t.url);

  beforeAll(async () => {
    t = await createTestHttpApp({
      syncControl: (deps) => {
        control = new GatedSyncControl(deps);
        return control;
      },
    });
    const owner = { uid: 0, gid: 0, mode: 0o755 };
    dataIno = (await t.store.mkdir(ROOT_INO, 'data', owner)).ino;
    const nested = await t.store.mkdir(dataIno, 'nested', owner);
    for (const [parent, name, size] of [
      [dataIno, 'a.bin', 1000],
      [dataIno, 'b.bin', 2000],
      [nested.ino, 'c.bin', 3000],
    ] as const) {
      const file = await t.store.create(parent, name, owner);
      await t.store.setattr(file.ino, { size });
    }
  });

  afterAll(async () => {
    control?.open();
    await t?.close();
  });

  it('should run a warmup as a job whose progress moves from its first file to done', async () => {
    control.close();
    const started = await api().post('/admin/warmup').set(admin()).send({ path: '/data' });
    expect(started.status).toBe(202);
    expect(started.headers.location).toBe(`/admin/jobs/${body<JobDto>(started).id}`);
    expect(body<JobDto>(started)).toMatchObject({
      kind: 'warmup',
      state: 'running',
      params: { path: '/data', recursive: true },
    });

    await control.waiting;
    const running = await api().get(started.headers.location).set(admin());
    expect(body<JobDto>(running)).toMatchObject({ state: 'running', progress: { done: 1, total: 3, unit: 'files' } });

    control.open();
    await control.settled;
    const done = await api().get(started.headers.location).set(admin());
    expect(body<JobDto>(done)).toMatchObject({
      state: 'succeeded',
      progress: { done: 3, total: 3 },
      result: { files: 3, bytes: 6000 },
      error: null,
    });
    expect(Date.parse(body<JobDto>(done).finishedAt ?? '')).toBeGreaterThanOrEqual(
      Date.parse(body<JobDto>(done).createdAt),
    );
  });

  it('should answer 200 with the ended job when the caller waits', async () => {
    control.close();
    control.open();
    const response = await api().post('/admin/warmup').set(admin()).send({ ino: dataIno, recursive: true, wait: true });
    expect(response.status).toBe(200);
    expect(response.headers.location).toBeUndefined();
    expect(body<JobDto>(response)).toMatchObject({ state: 'succeeded', result: { files: 3 } });
  });

  it('should answer 202 with the job still running when the wait runs out', async () => {
    control.close();
    const response = await api().post('/admin/warmup').set(admin()).send({ path: '/data', wait: true, waitSeconds: 1 });
    expect(response.status).toBe(202);
    expect(body<JobDto>(response).state).toBe('running');
    control.open();
    await control.settled;
  });

  it('should cancel a running job, and refuse to cancel it again', async () => {
    control.close();
    const started = await api().post('/admin/warmup').set(admin()).send({ path: '/data' });
    await control.waiting;
    const cancelling = await api()
      .post(`/admin/jobs/${body<JobDto>(started).id}/cancel`)
      .set(admin());
    expect(cancelling.status).toBe(200);
    expect(body<JobDto>(cancelling).state).toBe('cancelling');
    await control.settled;
    const cancelled = await api()
      .get(`/admin/jobs/${body<JobDto>(started).id}`)
      .set(admin());
    expect(body<JobDto>(cancelled)).toMatchObject({
      state: 'cancelled',
      result: null,
      progress: { done: 1, total: 3 },
    });
    const again = await api()
      .post(`/admin/jobs/${body<JobDto>(started).id}/cancel`)
      .set(admin());
    expect(again.status).toBe(409);
    expect(body<Problem>(again).code).toBe('JOB_FINISHED');
  });

  it('should record a failed job with its error code and a redacted message', async () => {
    control.failNextWarmup(
      new TahoeError({ code: 'UNAVAILABLE', operation: 'read', detail: `no answer for ${DIRCAP}` }),
    );
    const response = await api().post('/admin/warmup').set(admin()).send({ path: '/data', wait: true });
    expect(response.status).toBe(200);
    expect(body<JobDto>(response)).toMatchObject({
      state: 'failed',
      error: { code: 'TAHOE_UNAVAILABLE', status: 503 },
    });
    expect(body<JobDto>(response).error?.message).toMatch(/URI:DIR2:<redacted:[0-9a-f]{8}>/);
    expect(JSON.stringify(body<JobDto>(response))).not.toContain(DIRCAP);
    const errors = await api().get('/admin/errors').set(admin());
    expect(body<RecentErrorsDto>(errors).errors[0]).toMatchObject({ source: 'job', code: 'TAHOE_UNAVAILABLE' });
  });

  it('should flush dirty data as a job and report what it did', async () => {
    const file = await t.store.lookup(dataIno, 'a.bin');
    await t.cache.write(file.ino, 0, Buffer.alloc(1000, 3));
    const response = await api().post('/admin/cache/flush').set(admin()).send({ wait: true });
    expect(response.status).toBe(200);
    expect(body<JobDto>(response)).toMatchObject({ kind: 'flush', state: 'succeeded', params: { ino: null } });
    expect(body<JobDto>(response).result).toEqual({ files: 1, bytes: t.cache.blockSize });
    const forced = await api().post('/admin/sync').set(admin()).send({ path: '/data/nested', wait: true });
    expect(body<JobDto>(forced)).toMatchObject({ kind: 'sync', state: 'succeeded', params: { path: '/data/nested' } });
  });

  it('should answer 404 before starting a job for a target that does not exist', async () => {
    const before = body<JobDto[]>(await api().get('/admin/jobs').set(admin())).length;
    const response = await api().post('/admin/sync').set(admin()).send({ ino: 424242 });
    expect(response.status).toBe(404);
    expect(body<Problem>(response).code).toBe('ENOENT');
    expect(body<JobDto[]>(await api().get('/admin/jobs').set(admin()))).toHaveLength(before);
  });

  it('should list jobs newest first and filter them by kind and state', async () => {
    const all = await api().get('/admin/jobs').set(admin());
    expect(body<JobDto[]>(all).length).toBeGreaterThanOrEqual(6);
    expect(body<JobDto[]>(all)[0].kind).toBe('sync');
    const cancelled = await api().get('/admin/jobs?kind=warmup&state=cancelled').set(admin());
    expect(body<JobDto>(cancelled)).toHaveLength(1);
    const bad = await api().get('/admin/jobs?state=exploded').set(admin());
    expect(bad.status).toBe(400);
  });

  it('should show the sync queue from the sync worker, in the API, the stats and the metrics', async () => {
    const file = await t.store.lookup(dataIno, 'b.bin');
    control.enqueue({ ino: file.ino, state: 'pending', bytes: 2000 });
    const queue = await api().get('/admin/sync/queue?limit=10').set(admin());
    expect(queue.status).toBe(200);
    expect(body<SyncQueueDto>(queue)).toMatchObject({ total: 1, depth: { upload: 1 } });
    expect(body<SyncQueueDto>(queue).items[0]).toMatchObject({
      ino: file.ino,
      kind: 'upload',
      state: 'pending',
      tries: 0,
    });
    const stats = await api().get('/admin/stats').set(admin());
    expect(body<StatsDto>(stats).sync).toMatchObject({ available: true, queued: 1 });
    const metrics = await api().get('/metrics');
    expect(metrics.text).toMatch(/^riverfs_sync_queue_depth\{kind="upload"\} 1$/m);
    control.clearQueue();
  });

  it("should show an inode's work in the queue in its view: failing first, then running, pending or idle", async () => {
    const file = await t.store.lookup(dataIno, 'a.bin');
    const worker = async (): Promise<InodeDto['sync']['worker']> =>
      body<InodeDto>(await api().get(`/admin/inodes/${file.ino}`).set(admin())).sync.worker;
    try {
      expect(await worker()).toEqual({ state: 'idle', tasks: [] });

      const retryAt = Date.now() + 60_000;
      control.enqueue({ ino: file.ino, kind: 'publish', state: 'pending' });
      control.enqueue({
        ino: file.ino,
        state: 'failed',
        tries: 2,
        lastError: `upload to ${DIRCAP} failed: connect ECONNREFUSED`,
        nextAttemptAt: retryAt,
      });
      const failing = await worker();
      expect(failing.state).toBe('failed');
      expect(failing.tasks).toEqual([
        expect.objectContaining({ kind: 'publish', state: 'pending', tries: 0, lastError: null }),
        expect.objectContaining({
          kind: 'upload',
          state: 'failed',
          tries: 2,
          lastError: expect.stringMatching(/^upload to URI:DIR2:<redacted:[0-9a-f]{8}> failed: connect ECONNREFUSED$/),
          nextAttemptAt: new Date(retryAt).toISOString(),
        }),
      ]);
      expect(JSON.stringify(failing)).not.toContain(DIRCAP);

      control.enqueue({ ino: file.ino, state: 'running', tries: 2 });
      expect(await worker()).toMatchObject({
        state: 'running',
        tasks: [{}, { state: 'running', nextAttemptAt: null }],
      });
      control.enqueue({ ino: file.ino, state: 'pending' });
      expect((await worker()).state).toBe('pending');
    } finally {
      control.clearQueue();
    }
  });
});
