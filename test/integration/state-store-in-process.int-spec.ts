import { InProcessStateData, InProcessStateStore } from '../../src/state/in-process-state-store';
import { isStateError } from '../../src/state/state.errors';
import { describeStateStoreContract, ManualClock, thrownBy } from './state-store.contract';

describeStateStoreContract('InProcessStateStore', () => {
  const clock = new ManualClock();
  const data = new InProcessStateData();
  return Promise.resolve({
    createStore: () => new InProcessStateStore({ clock, data }),
    now: () => clock.now(),
    advance: async (ms: number) => {
      clock.advance(ms);
      await new Promise((resolve) => setImmediate(resolve));
    },
    shortTtlMs: 1000,
    cleanup: () => Promise.resolve(),
  });
});

describe('InProcessStateStore', () => {
  it('should consider a held lock lost as soon as its TTL has passed without renewal', async () => {
    const clock = new ManualClock();
    const store = new InProcessStateStore({ clock });
    try {
      await store.withLock('dir:1', { ttlMs: 1000, renewIntervalMs: 900 }, (lock) => {
        clock.advance(999);
        expect(lock.lost).toBe(false);
        clock.advance(1);

        expect(lock.lost).toBe(true);
        expect(lock.signal.aborted).toBe(true);
        expect(isStateError(lock.signal.reason, 'LOCK_LOST')).toBe(true);
        expect(
          isStateError(
            thrownBy(() => lock.assertHeld()),
            'LOCK_LOST',
          ),
        ).toBe(true);
        return Promise.resolve();
      });
    } finally {
      await store.close();
    }
  });

  it('should keep the state of separate stores apart unless they share their data', async () => {
    const shared = new InProcessStateData();
    const [a, b, alone] = [
      new InProcessStateStore({ data: shared }),
      new InProcessStateStore({ data: shared }),
      new InProcessStateStore(),
    ];
    try {
      expect(await a.acquire('dir:1', { ttlMs: 10_000 })).not.toBeNull();
      expect(await b.acquire('dir:1', { ttlMs: 10_000 })).toBeNull();
      expect(await alone.acquire('dir:1', { ttlMs: 10_000 })).not.toBeNull();
    } finally {
      await Promise.all([a.close(), b.close(), alone.close()]);
    }
  });
});
