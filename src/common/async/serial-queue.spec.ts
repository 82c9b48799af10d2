import { SerialQueue } from './serial-queue';

describe('SerialQueue', () => {
  it('should run tasks one at a time in the order given, a failure not stopping the next', async () => {
    const queue = new SerialQueue();
    const events: string[] = [];
    let release!: () => void;
    const first = queue.run(async () => {
      events.push('first starts');
      await new Promise<void>((resolve) => (release = resolve));
      events.push('first ends');
      return 1;
    });
    const second = queue.run(() => {
      events.push('second runs');
      return Promise.reject(new Error('second fails'));
    });
    const third = queue.run(() => {
      events.push('third runs');
      return Promise.resolve(3);
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(['first starts']);
    release();
    await expect(first).resolves.toBe(1);
    await expect(second).rejects.toThrow('second fails');
    await expect(third).resolves.toBe(3);
    expect(events).toEqual(['first starts', 'first ends', 'second runs', 'third runs']);
  });
});
