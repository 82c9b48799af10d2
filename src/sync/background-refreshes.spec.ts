import { BackgroundRefreshes } from './background-refreshes';

/** Refreshes the test ends when it wants. */
function heldRefreshes(): {
  refresh: (dir: number) => Promise<void>;
  started: number[];
  finish: (dir: number) => void;
} {
  const ends = new Map<number, () => void>();
  const started: number[] = [];
  return {
    started,
    refresh: (dir) =>
      new Promise<void>((resolve) => {
        started.push(dir);
        ends.set(dir, resolve);
      }),
    finish: (dir) => ends.get(dir)!(),
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
  }
}

describe('BackgroundRefreshes', () => {
  let now = 0;
  let busy = false;
  const options = { concurrency: 2, maxWaitMs: 30_000, recheckMs: 250, now: () => now };

  beforeEach(() => {
    jest.useFakeTimers();
    now = 0;
    busy = false;
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('runs a few at a time, oldest first, each directory once while it waits', async () => {
    const held = heldRefreshes();
    const refreshes = new BackgroundRefreshes(held.refresh, () => busy, options);
    for (const dir of [1, 2, 3, 3, 4]) {
      refreshes.request(dir);
    }
    expect(held.started).toEqual([1, 2]);
    expect(refreshes.waiting).toBe(2);
    held.finish(1);
    await settle();
    expect(held.started).toEqual([1, 2, 3]);
    held.finish(2);
    held.finish(3);
    await settle();
    expect(held.started).toEqual([1, 2, 3, 4]);
    expect(refreshes.waiting).toBe(0);
  });

  it('waits while the mount is busy, and runs once it is not, or once the wait reached its bound', () => {
    const held = heldRefreshes();
    const refreshes = new BackgroundRefreshes(held.refresh, () => busy, options);
    busy = true;
    refreshes.request(1);
    jest.advanceTimersByTime(1000);
    now = 1000;
    expect(held.started).toEqual([]);
    busy = false;
    jest.advanceTimersByTime(250);
    expect(held.started).toEqual([1]);

    busy = true;
    refreshes.request(2);
    now += 29_999;
    jest.advanceTimersByTime(250);
    expect(held.started).toEqual([1]);
    now += 1;
    jest.advanceTimersByTime(250);
    expect(held.started).toEqual([1, 2]);
  });

  it('drops what waits when stopped, and a failed refresh frees its slot', async () => {
    const failing = new BackgroundRefreshes(
      () => Promise.reject(new Error('grid down')),
      () => busy,
      {
        ...options,
        concurrency: 1,
      },
    );
    const calls: number[] = [];
    const counted = new BackgroundRefreshes(
      (dir) => {
        calls.push(dir);
        return Promise.reject(new Error('grid down'));
      },
      () => busy,
      { ...options, concurrency: 1 },
    );
    counted.request(1);
    counted.request(2);
    await settle();
    expect(calls).toEqual([1, 2]);

    busy = true;
    failing.request(7);
    failing.stop();
    busy = false;
    jest.advanceTimersByTime(1000);
    failing.request(8);
    expect(failing.waiting).toBe(0);
  });
});
