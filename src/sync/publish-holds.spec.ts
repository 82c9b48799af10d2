import { PublishHolds } from './publish-holds';

describe('PublishHolds (a fake clock)', () => {
  let now = 1_000_000;
  const clock = (): number => now;

  it('should hold a directory while a file its publish waited for is uploading, up to the longest hold', () => {
    const holds = new PublishHolds(15_000, 2, clock);
    const uploading = new Set([11, 12]);
    holds.published(1, [11, 12, 13], 100);
    expect(holds.heldUntil(1, (ino) => uploading.has(ino))).toBe(now + 15_000);
    uploading.delete(11);
    now += 5_000;
    expect(holds.heldUntil(1, (ino) => uploading.has(ino))).toBe(now + 10_000);
    now += 10_000;
    expect(holds.heldUntil(1, (ino) => uploading.has(ino))).toBeUndefined();
  });

  it('should release a directory once no file it waited for is uploading', () => {
    const holds = new PublishHolds(15_000, 2, clock);
    holds.published(2, [21], 100);
    expect(holds.heldUntil(2, () => false)).toBeUndefined();
    expect(holds.heldUntil(3, () => true)).toBeUndefined();
  });

  it('should start a new run of holds after one expired, and forget a directory published with nothing waiting', () => {
    const holds = new PublishHolds(15_000, 2, clock);
    holds.published(4, [41], 100);
    now += 20_000;
    holds.published(4, [42], 100);
    expect(holds.heldUntil(4, () => true)).toBe(now + 15_000);
    holds.published(4, [], 100);
    expect(holds.size).toBe(0);
    expect(holds.holdLimitMs()).toBe(15_000);
  });

  it('should hold longer when publishing the held directories would take more than a tenth of the publish slots', () => {
    const holds = new PublishHolds(15_000, 2, clock);
    // 100 directories whose publishes take 400 ms each: a round of them takes 20 s on two slots, so 200 s apart.
    for (let dir = 100; dir < 200; dir++) {
      holds.published(dir, [dir * 10], 400);
    }
    expect(holds.holdLimitMs()).toBe(200_000);
    expect(holds.heldUntil(150, () => true)).toBe(now + 200_000);
    now += 100_000;
    expect(holds.heldUntil(150, () => true)).toBe(now + 100_000);
    // The directories released (their files uploaded, or published with nothing waiting) no longer count.
    for (let dir = 100; dir < 190; dir++) {
      holds.published(dir, [], 400);
    }
    expect(holds.holdLimitMs()).toBe(20_000);
    holds.forget(195);
    expect(holds.holdLimitMs()).toBe(18_000);
    expect(holds.heldUntil(150, () => true)).toBeUndefined();
  });
});
