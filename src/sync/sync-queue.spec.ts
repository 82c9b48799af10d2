import { SyncQueue, backoffDelay, firstBy } from './sync-queue';

describe('SyncQueue', () => {
  let now: number;
  let queue: SyncQueue;

  beforeEach(() => {
    now = 1_000_000;
    queue = new SyncQueue({ maxDelayMs: 10_000, now: () => now });
  });

  it('should keep one task per kind and inode and run it only once due', () => {
    queue.schedule('upload', 7, now + 1000, 'debounce');
    queue.schedule('upload', 7, now + 1000, 'debounce');
    queue.schedule('publish', 7, now, 'soon');
    expect(queue.size).toBe(2);
    expect(queue.take('upload')).toBeUndefined();
    expect(queue.take('publish')?.ino).toBe(7);
    now += 1000;
    expect(queue.take('upload')?.state).toBe('running');
  });

  it('should push a debounced task back on every close, but never past the longest delay', () => {
    queue.schedule('upload', 1, now + 1000, 'debounce');
    now += 900;
    queue.schedule('upload', 1, now + 1000, 'debounce');
    expect(queue.get('upload', 1)?.dueAt).toBe(now + 1000);
    now += 20_000;
    queue.schedule('upload', 1, now + 1000, 'debounce');
    expect(queue.get('upload', 1)?.dueAt).toBe(1_000_000 + 10_000);
  });

  it('should run a task again after its run when it was asked for meanwhile', () => {
    queue.schedule('publish', 3, now, 'soon');
    const task = queue.take('publish')!;
    queue.schedule('publish', 3, now + 200, 'soon');
    queue.complete(task);
    expect(queue.get('publish', 3)).toMatchObject({ state: 'pending', dueAt: now + 200 });
    expect(queue.take('publish')).toBeUndefined();
    now += 200;
    queue.complete(queue.take('publish')!);
    expect(queue.size).toBe(0);
  });

  it('should keep a failed task waiting out its backoff unless an operator asks, and expedite it on request', () => {
    queue.schedule('upload', 9, now, 'soon');
    const task = queue.take('upload')!;
    queue.fail(task, 'UNAVAILABLE', 8000);
    expect(task).toMatchObject({ state: 'failed', tries: 1, lastError: 'UNAVAILABLE', dueAt: now + 8000 });
    queue.schedule('upload', 9, now, 'soon');
    expect(queue.get('upload', 9)?.dueAt).toBe(now + 8000);
    queue.expedite((other) => other.state === 'failed');
    expect(queue.take('upload')).toBe(task);
    queue.fail(task, 'UNAVAILABLE', 8000);
    queue.schedule('upload', 9, now, 'now');
    expect(queue.get('upload', 9)?.dueAt).toBe(now);
  });

  it('should take tasks in due order however often they were moved, and never one that runs or left', () => {
    for (let ino = 1; ino <= 50; ino++) {
      queue.schedule('upload', ino, now + ((ino * 37) % 50), 'soon');
    }
    queue.schedule('upload', 10, now - 5, 'soon'); // moved earlier: first
    queue.schedule('upload', 20, now + 1000, 'debounce'); // moved later: last
    const first = queue.take('upload');
    expect(first?.ino).toBe(10);
    queue.schedule('upload', 10, now, 'soon'); // asked again while running: no second copy to take
    now += 100;
    const taken: number[] = [];
    for (let task = queue.take('upload'); task !== undefined; task = queue.take('upload')) {
      taken.push(task.ino);
      queue.complete(task);
    }
    expect(taken).toHaveLength(48);
    expect(taken).not.toContain(20);
    expect(taken).not.toContain(10);
    const due = taken.map((ino) => (ino * 37) % 50);
    expect(due).toEqual([...due].sort((a, b) => a - b));
    expect(queue.nextDueAt('upload')).toBe(1_000_000 + 1000);
    queue.complete(first!);
    expect(queue.get('upload', 10)).toMatchObject({ state: 'pending', dueAt: 1_000_000 });
    expect(queue.take('upload')?.ino).toBe(10);
  });

  it('should grow the backoff exponentially up to its limit, with jitter', () => {
    expect(backoffDelay(1, 1000, 30_000, () => 1)).toBe(1000);
    expect(backoffDelay(4, 1000, 30_000, () => 1)).toBe(8000);
    expect(backoffDelay(20, 1000, 30_000, () => 1)).toBe(30_000);
    expect(backoffDelay(4, 1000, 30_000, () => 0)).toBe(4000);
  });

  it('should pick the first items in order without sorting them all, as a full sort would', () => {
    const items = Array.from({ length: 1000 }, (_, index) => ({ index, key: (index * 7919) % 300 }));
    const compare = (a: { index: number; key: number }, b: { index: number; key: number }): number =>
      a.key - b.key || a.index - b.index;
    const sorted = [...items].sort(compare);
    for (const count of [0, 1, 3, 25, 250, 1000, 2000]) {
      expect(firstBy(items, count, compare)).toEqual(sorted.slice(0, count));
    }
  });
});
