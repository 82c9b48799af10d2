import { Logger } from '@nestjs/common';
import type { Clock } from '../../src/state/clock';
import { isStateError, type StateErrorCode } from '../../src/state/state.errors';
import type { HeldLock, LockLease, StateStore } from '../../src/state/state-store';

/** What the contract needs from a backend: stores that share one state, and a way to let time pass. */
export interface StateStoreHarness {
  /** A new store standing for one gateway; all stores of one harness share one state. */
  createStore(): StateStore;
  /** The stores' clock. */
  now(): number;
  /** Lets `ms` of the stores' time pass: moves a fake clock, or waits for real. */
  advance(ms: number): Promise<void>;
  /** A TTL short enough to wait out in a test, long enough that a lock cannot expire between two calls. */
  shortTtlMs: number;
  cleanup(): Promise<void>;
}

/** A clock that only moves when told to. */
export class ManualClock implements Clock {
  constructor(private current = 1_700_000_000_000) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    this.current += ms;
  }
}

/** Polls `probe` until it yields a value (not undefined, null or false), failing after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) {
      return value;
    }
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function expectStateError(promise: Promise<unknown>, code: StateErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(isStateError(error) ? error.code : error).toBe(code);
}

/** Long enough never to expire during a test. */
const LONG_TTL_MS = 30_000;

/** What `work` throws, or undefined when it returns. */
export function thrownBy(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  return undefined;
}

/**
 * One suite for every StateStore implementation: each test runs against a fresh shared state, with two or more
 * stores standing for gateways.
 */
export function describeStateStoreContract(name: string, createHarness: () => Promise<StateStoreHarness>): void {
  describe(`${name} (StateStore contract)`, () => {
    let harness: StateStoreHarness;
    let opened: StateStore[];

    beforeEach(async () => {
      harness = await createHarness();
      opened = [];
    });

    afterEach(async () => {
      await Promise.all(opened.map((store) => store.close()));
      await harness.cleanup();
    });

    function gateway(): StateStore {
      const store = harness.createStore();
      opened.push(store);
      return store;
    }

    /**
     * Asserts that `contender` cannot take the lock. A store may legitimately grant it once `ttlMs` has passed
     * since `heldSince`, which a starved test process could reach; only then is a grant accepted.
     */
    async function expectExcluded(contender: StateStore, lockName: string, heldSince: number, ttlMs: number) {
      const lease = await contender.acquire(lockName, { ttlMs: LONG_TTL_MS });
      if (lease !== null) {
        expect(harness.now() - heldSince).toBeGreaterThanOrEqual(ttlMs);
      }
    }

    describe('locks', () => {
      it('should grant a free lock to exactly one of many simultaneous contenders', async () => {
        const [a, b] = [gateway(), gateway()];
        const attempts = Array.from({ length: 10 }, (_, i) =>
          (i % 2 === 0 ? a : b).acquire('dir:1', { ttlMs: LONG_TTL_MS }),
        );
        const leases = (await Promise.all(attempts)).filter((lease): lease is LockLease => lease !== null);

        expect(leases).toHaveLength(1);
        expect(await a.acquire('dir:1', { ttlMs: LONG_TTL_MS })).toBeNull();
        expect(await b.release(leases[0])).toBe(true);
        expect(await a.acquire('dir:1', { ttlMs: LONG_TTL_MS })).not.toBeNull();
      });

      it('should never let two holders work at once when many wait for one lock', async () => {
        const stores = [gateway(), gateway()];
        let inside = 0;
        let mostInside = 0;
        const fencingTokens: number[] = [];
        await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            stores[i % 2].withLock(
              'dir:contended',
              { ttlMs: LONG_TTL_MS, waitMs: 20_000, retryIntervalMs: 5 },
              async (lock) => {
                inside += 1;
                mostInside = Math.max(mostInside, inside);
                fencingTokens.push(lock.fencingToken);
                // A round trip to the store and a timer turn, so that an overlapping holder would be noticed.
                await stores[i % 2].incrementCounter('work');
                await new Promise((resolve) => setTimeout(resolve, 5));
                lock.assertHeld();
                inside -= 1;
              },
            ),
          ),
        );

        expect(mostInside).toBe(1);
        expect(await stores[0].getCounter('work')).toBe(6);
        expect(fencingTokens).toHaveLength(6);
        expect([...fencingTokens].sort((x, y) => x - y)).toEqual(fencingTokens);
        expect(new Set(fencingTokens).size).toBe(6);
      });

      it('should hold differently named locks independently', async () => {
        const [a, b] = [gateway(), gateway()];
        expect(await a.acquire('dir:1', { ttlMs: LONG_TTL_MS })).not.toBeNull();
        expect(await b.acquire('dir:2', { ttlMs: LONG_TTL_MS })).not.toBeNull();
        expect(await b.acquire('dir:1', { ttlMs: LONG_TTL_MS })).toBeNull();
      });

      it('should return null when the lock stays held for the whole wait', async () => {
        const [a, b] = [gateway(), gateway()];
        await a.acquire('dir:1', { ttlMs: LONG_TTL_MS });
        const started = performance.now();

        expect(await b.acquire('dir:1', { ttlMs: LONG_TTL_MS, waitMs: 120, retryIntervalMs: 20 })).toBeNull();
        expect(performance.now() - started).toBeGreaterThanOrEqual(115);
      });

      it('should hand the lock to a waiting contender once the holder releases it', async () => {
        const [a, b] = [gateway(), gateway()];
        const first = (await a.acquire('dir:1', { ttlMs: LONG_TTL_MS }))!;
        const waiting = b.acquire('dir:1', { ttlMs: LONG_TTL_MS, waitMs: 20_000, retryIntervalMs: 10 });
        await new Promise((resolve) => setTimeout(resolve, 30));
        expect(await a.release(first)).toBe(true);

        const second = await waiting;
        expect(second).not.toBeNull();
        expect(second!.fencingToken).toBeGreaterThan(first.fencingToken);
      });

      it('should let a lock expire after its TTL so that another holder can take it', async () => {
        const [a, b, c] = [gateway(), gateway(), gateway()];
        const ttlMs = harness.shortTtlMs;
        const grantedAt = harness.now();
        const first = (await a.acquire('dir:1', { ttlMs }))!;
        // The store started the TTL before the reply came back, so the lease cannot claim to end any later.
        expect(first.expiresAt).toBeLessThanOrEqual(harness.now() + ttlMs);
        await expectExcluded(b, 'dir:1', grantedAt, ttlMs);

        await harness.advance(ttlMs);
        const second = await eventually('the expired lock to be granted again', () =>
          b.acquire('dir:1', { ttlMs: LONG_TTL_MS }),
        );

        expect(harness.now() - grantedAt).toBeGreaterThanOrEqual(ttlMs - 1);
        expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
        expect(await a.renew(first)).toBeNull();
        expect(await a.release(first)).toBe(false);
        expect(await c.acquire('dir:1', { ttlMs: LONG_TTL_MS })).toBeNull();
      });

      it('should keep a renewed lock held past its original TTL', async () => {
        const [a, b] = [gateway(), gateway()];
        const ttlMs = harness.shortTtlMs;
        let lease = (await a.acquire('dir:1', { ttlMs }))!;
        let renewedAt = harness.now();
        for (let round = 0; round < 3; round += 1) {
          await harness.advance(ttlMs / 2);
          renewedAt = harness.now();
          const renewed = await a.renew(lease);
          expect(renewed).not.toBeNull();
          expect(renewed!.expiresAt).toBeGreaterThan(lease.expiresAt);
          expect(renewed!.fencingToken).toBe(lease.fencingToken);
          lease = renewed!;
        }

        await expectExcluded(b, 'dir:1', renewedAt, ttlMs);
        expect(await a.release(lease)).toBe(true);
      });

      it('should refuse release and renewal by a lease that does not own the lock', async () => {
        const [a, b, c] = [gateway(), gateway(), gateway()];
        const lease = (await a.acquire('dir:1', { ttlMs: LONG_TTL_MS }))!;
        const forged: LockLease = { ...lease, token: 'not-the-owner' };

        expect(await b.release(forged)).toBe(false);
        expect(await b.renew(forged)).toBeNull();
        expect(await c.acquire('dir:1', { ttlMs: LONG_TTL_MS })).toBeNull();
        expect(await a.release(lease)).toBe(true);
        expect(await a.release(lease)).toBe(false);
      });

      it('should hand out strictly increasing fencing tokens across releases, expiry, names and gateways', async () => {
        const [a, b] = [gateway(), gateway()];
        const tokens: number[] = [];
        const first = (await a.acquire('x', { ttlMs: LONG_TTL_MS }))!;
        tokens.push(first.fencingToken);
        await a.release(first);
        tokens.push((await b.acquire('x', { ttlMs: LONG_TTL_MS }))!.fencingToken);
        tokens.push((await b.acquire('y', { ttlMs: LONG_TTL_MS }))!.fencingToken);
        tokens.push((await a.acquire('z', { ttlMs: harness.shortTtlMs }))!.fencingToken);
        await harness.advance(harness.shortTtlMs);
        tokens.push(
          (await eventually('the lock z to expire', () => b.acquire('z', { ttlMs: LONG_TTL_MS }))).fencingToken,
        );

        for (let i = 1; i < tokens.length; i += 1) {
          expect(tokens[i]).toBeGreaterThan(tokens[i - 1]);
        }
        expect(tokens.every((token) => Number.isSafeInteger(token))).toBe(true);
      });

      it('should reject a TTL that is not a positive whole number within the limit', async () => {
        const a = gateway();
        for (const ttlMs of [0, -5, 1.5, Number.NaN, a.maxLockTtlMs + 1]) {
          await expectStateError(a.acquire('dir:1', { ttlMs }), 'INVALID_ARGUMENT');
        }
        await expectStateError(a.acquire('', { ttlMs: 1000 }), 'INVALID_ARGUMENT');
      });
    });

    describe('withLock', () => {
      it('should run the work under the lock, return its result and release the lock afterwards', async () => {
        const [a, b] = [gateway(), gateway()];
        const result = await a.withLock('dir:1', { ttlMs: LONG_TTL_MS }, async (lock) => {
          expect(lock.lost).toBe(false);
          expect(await b.acquire('dir:1', { ttlMs: LONG_TTL_MS })).toBeNull();
          return 'done';
        });

        expect(result).toBe('done');
        expect(await b.acquire('dir:1', { ttlMs: LONG_TTL_MS })).not.toBeNull();
      });

      it('should release the lock when the work throws', async () => {
        const [a, b] = [gateway(), gateway()];
        const failure = new Error('work failed');
        await expect(a.withLock('dir:1', { ttlMs: LONG_TTL_MS }, () => Promise.reject(failure))).rejects.toBe(failure);

        expect(await b.acquire('dir:1', { ttlMs: LONG_TTL_MS })).not.toBeNull();
      });

      it('should reject with LOCK_TIMEOUT when the lock stays held for the whole wait', async () => {
        const [a, b] = [gateway(), gateway()];
        await a.acquire('dir:1', { ttlMs: LONG_TTL_MS });
        let ran = false;
        await expectStateError(
          b.withLock('dir:1', { ttlMs: LONG_TTL_MS, waitMs: 50 }, () => {
            ran = true;
            return Promise.resolve();
          }),
          'LOCK_TIMEOUT',
        );
        expect(ran).toBe(false);
      });

      it('should keep renewing the lock while long work runs', async () => {
        const [a, b] = [gateway(), gateway()];
        const ttlMs = harness.shortTtlMs;
        await a.withLock('dir:1', { ttlMs, renewIntervalMs: Math.floor(ttlMs / 6) }, async (lock) => {
          const fencingToken = lock.fencingToken;
          for (let round = 0; round < 4; round += 1) {
            await harness.advance(ttlMs / 2);
            const advancedAt = harness.now();
            await eventually('a renewal after time passed', () => lock.lease.expiresAt > advancedAt + ttlMs / 2);
            expect(lock.lost).toBe(false);
          }
          // Twice the TTL has passed since the grant: only renewal can explain that the lock is still held.
          expect(await b.acquire('dir:1', { ttlMs: LONG_TTL_MS })).toBeNull();
          expect(lock.fencingToken).toBe(fencingToken);
          lock.assertHeld();
        });
      });

      it('should report the lock lost through its signal once its session is reaped', async () => {
        const [a, b] = [gateway(), gateway()];
        const ttlMs = harness.shortTtlMs;
        await a.registerSession('gw-a', { host: 'a' }, ttlMs);
        let observed: HeldLock | undefined;
        await a.withLock('dir:1', { ttlMs: LONG_TTL_MS, sessionId: 'gw-a', renewIntervalMs: 20 }, async (lock) => {
          observed = lock;
          expect(lock.lost).toBe(false);
          // The lease cannot outlive the session that holds it.
          expect(lock.lease.expiresAt).toBeLessThanOrEqual(harness.now() + ttlMs);

          await harness.advance(ttlMs);
          const reaped = await eventually('the session to be reaped', async () => {
            const sessions = await b.reapExpiredSessions();
            return sessions.length > 0 ? sessions : undefined;
          });
          expect(reaped).toEqual([{ id: 'gw-a', info: { host: 'a' }, releasedLocks: ['dir:1'] }]);

          await eventually('the signal to abort', () => lock.signal.aborted);
          expect(lock.lost).toBe(true);
          expect(isStateError(lock.signal.reason, 'LOCK_LOST')).toBe(true);
          expect(
            isStateError(
              thrownBy(() => lock.assertHeld()),
              'LOCK_LOST',
            ),
          ).toBe(true);
          expect(await b.acquire('dir:1', { ttlMs: LONG_TTL_MS })).not.toBeNull();
        });
        expect(observed?.lost).toBe(true);
      });
    });

    describe('counters', () => {
      it('should count from zero across gateways, negative increments included', async () => {
        const [a, b] = [gateway(), gateway()];
        expect(await a.getCounter('uploads')).toBe(0);
        expect(await a.incrementCounter('uploads')).toBe(1);
        expect(await b.incrementCounter('uploads', 5)).toBe(6);
        expect(await a.incrementCounter('uploads', -2)).toBe(4);
        expect(await b.getCounter('uploads')).toBe(4);
        expect(await b.getCounter('other')).toBe(0);
        await expectStateError(a.incrementCounter('uploads', 0.5), 'INVALID_ARGUMENT');
      });
    });

    describe('pub/sub', () => {
      it('should deliver each published message to every subscriber on every gateway', async () => {
        const [a, b] = [gateway(), gateway()];
        const received: Record<string, unknown[]> = { a: [], b1: [], b2: [] };
        await a.subscribe('invalidate', (message, channel) => received.a.push({ message, channel }));
        await b.subscribe('invalidate', (message) => received.b1.push(message));
        await b.subscribe('invalidate', (message) => received.b2.push(message));

        await a.publish('invalidate', { ino: '7', kind: 'attr', names: ['x'] });

        await eventually('every subscriber to get the message', () => Object.values(received).every((m) => m.length));
        expect(received.a).toEqual([{ message: { ino: '7', kind: 'attr', names: ['x'] }, channel: 'invalidate' }]);
        expect(received.b1).toEqual([{ ino: '7', kind: 'attr', names: ['x'] }]);
        expect(received.b2).toEqual([{ ino: '7', kind: 'attr', names: ['x'] }]);
      });

      it('should stop delivering to a handler once it is unsubscribed', async () => {
        const [a, b] = [gateway(), gateway()];
        const first: unknown[] = [];
        const second: unknown[] = [];
        const markers: unknown[] = [];
        const stopFirst = await b.subscribe('invalidate', (message) => first.push(message));
        const stopSecond = await b.subscribe('invalidate', (message) => second.push(message));
        await b.subscribe('marker', (message) => markers.push(message));

        await stopFirst();
        await a.publish('invalidate', 1);
        // Both handlers of a channel are called for the same delivery, so once one has it the other would too.
        await eventually('the remaining handler to get the message', () => second.length === 1);
        expect(first).toEqual([]);

        await stopSecond();
        await a.publish('invalidate', 2);
        await a.publish('marker', 'after');
        // Messages from one publisher arrive in order: the marker coming in means message 2 was not delivered.
        await eventually('the marker', () => markers.length === 1);
        expect(second).toEqual([1]);
      });

      it('should keep channels apart', async () => {
        const [a, b] = [gateway(), gateway()];
        const received: unknown[] = [];
        await b.subscribe('channel-a', (message) => received.push(message));

        await a.publish('channel-b', 'not for a');
        await a.publish('channel-a', 'for a');

        await eventually('the message on channel-a', () => received.length > 0);
        expect(received).toEqual(['for a']);
      });

      it('should keep delivering to other handlers when one throws', async () => {
        const [a, b] = [gateway(), gateway()];
        const errorLog = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
        try {
          const received: unknown[] = [];
          await b.subscribe('invalidate', () => {
            throw new Error('handler bug');
          });
          await b.subscribe('invalidate', (message) => received.push(message));

          await a.publish('invalidate', 1);
          await a.publish('invalidate', 2);

          await eventually('both messages', () => received.length === 2);
          expect(received).toEqual([1, 2]);
          expect(errorLog).toHaveBeenCalled();
        } finally {
          errorLog.mockRestore();
        }
      });
    });

    describe('sessions', () => {
      it('should register sessions and list them with their info', async () => {
        const [a, b] = [gateway(), gateway()];
        await a.registerSession('gw-a', { host: 'host-a', pid: 11, mountpoint: '/mnt/a', version: '0.1.0' }, 60_000);
        await b.registerSession('gw-b', { host: 'host-b', pid: 22 }, 30_000);

        const sessions = await b.listSessions();
        expect(sessions.map((s) => s.id)).toEqual(['gw-a', 'gw-b']);
        expect(sessions[0]).toMatchObject({
          id: 'gw-a',
          info: { host: 'host-a', pid: 11, mountpoint: '/mnt/a', version: '0.1.0' },
          ttlMs: 60_000,
        });
        expect(sessions[1].expiresAt - sessions[1].heartbeatAt).toBe(30_000);
        expect(sessions[1].registeredAt).toBeLessThanOrEqual(sessions[1].heartbeatAt);
        expect(await a.heartbeat('gw-b')).toBe(true);
      });

      it('should answer a heartbeat of an unknown session with false', async () => {
        const a = gateway();
        expect(await a.heartbeat('never-registered')).toBe(false);
      });

      it('should reap only expired sessions and release the locks they held', async () => {
        const [a, b] = [gateway(), gateway()];
        const ttlMs = harness.shortTtlMs;
        const registeredAt = harness.now();
        await a.registerSession('dead', { host: 'a' }, ttlMs);
        await b.registerSession('alive', { host: 'b' }, LONG_TTL_MS);
        await a.acquire('dir:dead', { ttlMs: LONG_TTL_MS, sessionId: 'dead' });
        await b.acquire('dir:alive', { ttlMs: LONG_TTL_MS, sessionId: 'alive' });
        await a.acquire('dir:no-session', { ttlMs: LONG_TTL_MS });

        const early = await b.reapExpiredSessions();
        if (early.length > 0) {
          expect(harness.now() - registeredAt).toBeGreaterThanOrEqual(ttlMs);
        }
        await harness.advance(ttlMs);
        const reaped =
          early.length > 0
            ? early
            : await eventually('the expired session to be reaped', async () => {
                const sessions = await b.reapExpiredSessions();
                return sessions.length > 0 ? sessions : undefined;
              });

        expect(reaped).toEqual([{ id: 'dead', info: { host: 'a' }, releasedLocks: ['dir:dead'] }]);
        expect(await b.acquire('dir:dead', { ttlMs: LONG_TTL_MS })).not.toBeNull();
        expect(await a.acquire('dir:alive', { ttlMs: LONG_TTL_MS })).toBeNull();
        expect(await b.acquire('dir:no-session', { ttlMs: LONG_TTL_MS })).toBeNull();
        expect((await a.listSessions()).map((s) => s.id)).toEqual(['alive']);
        expect(await a.heartbeat('dead')).toBe(false);
        expect(await b.reapExpiredSessions()).toEqual([]);
      });

      it('should keep a heartbeating session alive past its TTL', async () => {
        const [a, b] = [gateway(), gateway()];
        const ttlMs = harness.shortTtlMs;
        await a.registerSession('gw-a', {}, ttlMs);
        let lease = (await a.acquire('dir:1', { ttlMs, sessionId: 'gw-a' }))!;
        let beatAt = harness.now();
        for (let round = 0; round < 3; round += 1) {
          await harness.advance(ttlMs / 2);
          beatAt = harness.now();
          expect(await a.heartbeat('gw-a')).toBe(true);
          lease = (await a.renew(lease))!;
          expect(lease).not.toBeNull();
        }

        const reaped = await b.reapExpiredSessions();
        if (reaped.length > 0) {
          expect(harness.now() - beatAt).toBeGreaterThanOrEqual(ttlMs);
        } else {
          expect((await b.listSessions()).map((s) => s.id)).toEqual(['gw-a']);
        }
      });

      it('should refuse a lock for a session that is unknown or expired', async () => {
        const a = gateway();
        await expectStateError(a.acquire('dir:1', { ttlMs: 1000, sessionId: 'nobody' }), 'SESSION_UNKNOWN');

        await a.registerSession('gw-a', {}, harness.shortTtlMs);
        await harness.advance(harness.shortTtlMs);
        await eventually('the session to expire', async () => {
          const error = await a.acquire('dir:1', { ttlMs: 1000, sessionId: 'gw-a' }).then(
            () => undefined,
            (reason: unknown) => reason,
          );
          return isStateError(error, 'SESSION_UNKNOWN');
        });
        expect(await a.heartbeat('gw-a')).toBe(false);
      });

      it('should release the locks of a session that ends', async () => {
        const [a, b] = [gateway(), gateway()];
        await a.registerSession('gw-a', { host: 'a' }, LONG_TTL_MS);
        await a.acquire('dir:1', { ttlMs: LONG_TTL_MS, sessionId: 'gw-a' });
        await a.acquire('dir:2', { ttlMs: LONG_TTL_MS, sessionId: 'gw-a' });

        expect(await a.endSession('gw-a')).toEqual({
          id: 'gw-a',
          info: { host: 'a' },
          releasedLocks: ['dir:1', 'dir:2'],
        });
        expect(await b.acquire('dir:1', { ttlMs: LONG_TTL_MS })).not.toBeNull();
        expect(await a.endSession('gw-a')).toBeNull();
        expect(await b.listSessions()).toEqual([]);
      });

      it('should not release a lock that has passed to another holder when the old session goes', async () => {
        const [a, b, c] = [gateway(), gateway(), gateway()];
        await a.registerSession('gw-a', {}, LONG_TTL_MS);
        await a.acquire('dir:1', { ttlMs: harness.shortTtlMs, sessionId: 'gw-a' });
        await harness.advance(harness.shortTtlMs);
        await eventually('the lock to expire', () => b.acquire('dir:1', { ttlMs: LONG_TTL_MS }));

        expect(await a.endSession('gw-a')).toEqual({ id: 'gw-a', info: {}, releasedLocks: [] });
        expect(await c.acquire('dir:1', { ttlMs: LONG_TTL_MS })).toBeNull();
      });

      it('should reap every session expired at an explicitly given time', async () => {
        const [a, b] = [gateway(), gateway()];
        await a.registerSession('gw-a', {}, LONG_TTL_MS);
        await b.registerSession('gw-b', {}, LONG_TTL_MS);

        expect(await a.reapExpiredSessions(harness.now() - LONG_TTL_MS)).toEqual([]);
        const reaped = await a.reapExpiredSessions(harness.now() + 3 * LONG_TTL_MS);
        expect(reaped.map((s) => s.id).sort()).toEqual(['gw-a', 'gw-b']);
      });
    });

    describe('health and closing', () => {
      it('should report itself up once connected', async () => {
        const a = gateway();
        await a.getCounter('warm-up');
        expect(await eventually('the store to be up', () => a.health().status === 'up' && a.health())).toMatchObject({
          backend: a.backend,
          status: 'up',
        });
      });

      it('should reject calls once closed and tell holders that their locks are lost', async () => {
        const a = gateway();
        let lost: unknown;
        await a.withLock('dir:1', { ttlMs: LONG_TTL_MS }, async (lock) => {
          await a.close();
          lost = lock.signal.reason;
          expect(lock.lost).toBe(true);
        });

        expect(isStateError(lost, 'LOCK_LOST')).toBe(true);
        await expectStateError(a.acquire('dir:1', { ttlMs: 1000 }), 'CLOSED');
        await expectStateError(a.getCounter('x'), 'CLOSED');
        await expectStateError(a.publish('c', 1), 'CLOSED');
        expect(a.health().status).toBe('closed');
      });
    });
  });
}
