import { GridStatus } from '../tahoe/tahoe-json.util';
import { GridCapacity, gridUsableBytes } from './grid-capacity';

function status(spaces: (number | null)[], connected = true): GridStatus {
  return new GridStatus(
    spaces.map((availableSpace, index) => ({
      nodeId: `v0-${index}`,
      nickname: `storage-${index}`,
      connectionStatus: connected ? 'Connected to 127.0.0.1 via tcp' : 'Trying to connect',
      connected,
      availableSpace,
      version: null,
      lastReceivedData: null,
    })),
    [],
  );
}

describe('GridCapacity', () => {
  const fallback = () => ({ totalBytes: 100, freeBytes: 40 });

  it('should answer the cache limits before the first refresh, then the servers’ free space × k/N', async () => {
    const capacity = new GridCapacity({
      fetchStatus: () => Promise.resolve(status([3_000, 3_000, null])),
      sharesNeeded: 2,
      sharesTotal: 3,
      fallback,
    });
    expect(capacity.current()).toEqual({ totalBytes: 100, freeBytes: 40 });
    await capacity.refresh();
    expect(capacity.fromGrid).toBe(true);
    expect(capacity.current()).toEqual({ totalBytes: 4_000, freeBytes: 4_000 });
  });

  it('should keep the last figures when a refresh fails (simulated unreachable node), reporting the error', async () => {
    let fail = false;
    const errors: unknown[] = [];
    const capacity = new GridCapacity({
      fetchStatus: () => (fail ? Promise.reject(new Error('connection refused')) : Promise.resolve(status([900]))),
      sharesNeeded: 1,
      sharesTotal: 3,
      fallback,
      onError: (error) => errors.push(error),
    });
    await capacity.refresh();
    fail = true;
    await capacity.refresh();
    expect(capacity.current()).toEqual({ totalBytes: 300, freeBytes: 300 });
    expect(errors).toHaveLength(1);
  });

  it('should keep the cache limits while no connected server announces its space', async () => {
    const capacity = new GridCapacity({
      fetchStatus: () => Promise.resolve(status([5_000], false)),
      sharesNeeded: 2,
      sharesTotal: 3,
      fallback,
    });
    await capacity.refresh();
    expect(capacity.fromGrid).toBe(false);
    expect(capacity.current()).toEqual({ totalBytes: 100, freeBytes: 40 });
  });

  it('should count data not uploaded yet as used', async () => {
    let pending = 1_000;
    const capacity = new GridCapacity({
      fetchStatus: () => Promise.resolve(status([6_000])),
      sharesNeeded: 1,
      sharesTotal: 2,
      fallback,
      pendingBytes: () => pending,
    });
    await capacity.refresh();
    expect(capacity.current()).toEqual({ totalBytes: 3_000, freeBytes: 2_000 });
    pending = 5_000;
    expect(capacity.current()).toEqual({ totalBytes: 3_000, freeBytes: 0 });
  });

  it('should divide by the expansion factor, rounding down', () => {
    expect(gridUsableBytes(10, 3, 10)).toBe(3);
    expect(gridUsableBytes(1_000, 2, 3)).toBe(666);
  });
});
