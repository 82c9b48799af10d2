import { pollUntil } from '../grid/process.util';
import { MountWatch } from './mount-watch';

describe('MountWatch', () => {
  it('should call onGone once, after two checks in a row miss the mount, and never while it is listed', async () => {
    const answers = [true, false, true, false, false, false, false];
    const checked: boolean[] = [];
    let gone = 0;
    const watch = new MountWatch(
      () => {
        const listed = answers[checked.length] ?? false;
        checked.push(listed);
        return Promise.resolve(listed);
      },
      () => gone++,
      5,
    );
    watch.start();
    await pollUntil(() => (gone > 0 ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 5,
      describeTimeout: () => 'never gone',
    });
    // true, false (one miss), true (reset), false, false: gone on the fifth check, and the watch stops there.
    expect(checked).toEqual([true, false, true, false, false]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(gone).toBe(1);
    expect(checked).toHaveLength(5);
  });

  it('should take a failed read of the mount table as no evidence either way', async () => {
    let calls = 0;
    let gone = 0;
    const watch = new MountWatch(
      () => {
        calls++;
        return calls % 2 === 1 ? Promise.reject(new Error('EMFILE')) : Promise.resolve(true);
      },
      () => gone++,
      5,
    );
    watch.start();
    await pollUntil(() => (calls >= 10 ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 5,
      describeTimeout: () => 'too few checks',
    });
    watch.stop();
    expect(gone).toBe(0);
  });
});
