import { PublishHolds } from './publish-holds';

describe('PublishHolds (a fake clock)', () => {
  let now = 1_000_000;
  const clock = (): number => now;

  it('should hold a directory while a file its publish waited for is uploading, up to the longest hold', () => {
    const holds = new PublishHolds(15_000, clock);
    const uploading = new Set([11, 12]);
    holds.published(1, [11, 12, 13]);
    expect(holds.heldUntil(1, (ino) => uploading.has(ino))).toBe(now + 15_000);
    uploading.delete(11);
    now += 5_000;
    expect(holds.heldUntil(1, (ino) => uploading.has(ino))).toBe(now + 10_000);
    now += 10_000;
    expect(holds.heldUntil(1, (ino) => uploading.has(ino))).toBeUndefined();
  });

  it('should release a directory once no file it waited for is uploading', () => {
    const holds = new PublishHolds(15_000, clock);
    holds.published(2, [21]);
    expect(holds.heldUntil(2, () => false)).toBeUndefined();
    expect(holds.heldUntil(3, () => true)).toBeUndefined();
  });

  it('should start a new run of holds after one expired, and forget a directory published with nothing waiting', () => {
    const holds = new PublishHolds(15_000, clock);
    holds.published(4, [41]);
    now += 20_000;
    holds.published(4, [42]);
    expect(holds.heldUntil(4, () => true)).toBe(now + 15_000);
    holds.published(4, []);
    expect(holds.size).toBe(0);
  });
});
