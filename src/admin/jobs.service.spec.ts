import { TahoeError } from '../tahoe/tahoe.errors';
import { isAdminError } from './admin.errors';
import { JOB_HISTORY, type JobContext, JobsService, MAX_RUNNING_JOBS } from './jobs.service';

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('JobsService', () => {
  let jobs: JobsService;

  beforeEach(() => {
    jobs = new JobsService();
  });

  afterEach(() => {
    jobs.onModuleDestroy();
  });

  it('should run work as a job and expose its progress and result', async () => {
    const held = gate();
    const reached = gate();
    const started = jobs.start('warmup', { ino: 1 }, async (context) => {
      context.progress({ done: 1, total: 4, unit: 'files' });
      reached.open();
      await held.promise;
      context.progress({ done: 4 });
      return { files: 4 };
    });
    expect(started).toMatchObject({ kind: 'warmup', state: 'running', params: { ino: 1 }, progress: { done: 0 } });
    await reached.promise;
    expect(jobs.get(started.id).progress).toEqual({ done: 1, total: 4, unit: 'files', message: null });
    held.open();
    const ended = await jobs.wait(started.id, 10_000);
    expect(ended).toMatchObject({ state: 'succeeded', result: { files: 4 }, progress: { done: 4, total: 4 } });
    expect(ended.finishedAt).not.toBeNull();
  });

  it('should record a failure with the code and status its error maps to', async () => {
    const started = jobs.start('flush', {}, () =>
      Promise.reject(new TahoeError({ code: 'UNHAPPY_UPLOAD', operation: 'upload', detail: 'two servers' })),
    );
    const ended = await jobs.wait(started.id, 10_000);
    expect(ended).toMatchObject({ state: 'failed', error: { code: 'TAHOE_UNHAPPY_UPLOAD', status: 503 } });
    expect(ended.error?.message).toMatch(/two servers/);
  });

  it('should cancel through the signal and refuse to cancel a finished job', async () => {
    const started = jobs.start('sync', {}, (context: JobContext) => {
      return new Promise((_resolve, reject) => {
        context.signal.addEventListener('abort', () => reject(context.signal.reason as Error));
      });
    });
    expect(jobs.cancel(started.id).state).toBe('cancelling');
    expect((await jobs.wait(started.id, 10_000)).state).toBe('cancelled');
    expect(
      isAdminError(
        caught(() => jobs.cancel(started.id)),
        'JOB_FINISHED',
      ),
    ).toBe(true);
    expect(
      isAdminError(
        caught(() => jobs.get('no-such-job')),
        'JOB_NOT_FOUND',
      ),
    ).toBe(true);
  });

  it('should answer a wait that runs out with the job as it stands', async () => {
    const held = gate();
    const started = jobs.start('sync', {}, async () => {
      await held.promise;
      return {};
    });
    expect((await jobs.wait(started.id, 1)).state).toBe('running');
    held.open();
    expect((await jobs.wait(started.id, 10_000)).state).toBe('succeeded');
  });

  it('should bound the jobs running at once and the finished ones it keeps', async () => {
    const held = gate();
    const running = Array.from({ length: MAX_RUNNING_JOBS }, () =>
      jobs.start('sync', {}, () => held.promise.then(() => ({}))),
    );
    expect(
      isAdminError(
        caught(() => jobs.start('sync', {}, () => Promise.resolve({}))),
        'TOO_MANY_JOBS',
      ),
    ).toBe(true);
    held.open();
    await Promise.all(running.map((job) => jobs.wait(job.id, 10_000)));
    for (let index = 0; index < JOB_HISTORY + 10; index += 1) {
      await jobs.wait(jobs.start('flush', { index }, () => Promise.resolve({})).id, 10_000);
    }
    const kept = jobs.list({ limit: 1000 });
    expect(kept).toHaveLength(JOB_HISTORY);
    expect(kept[0].params).toEqual({ index: JOB_HISTORY + 9 });
    expect(jobs.list({ kind: 'sync' })).toHaveLength(0);
  });

  it('should hand out copies, so callers cannot change a job', () => {
    const started = jobs.start('flush', { path: '/a' }, () => Promise.resolve({}));
    started.params.path = '/b';
    expect(jobs.get(started.id).params).toEqual({ path: '/a' });
  });
});
