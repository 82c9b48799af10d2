import { FileLockError, type FileLockService, type FileLockServiceOptions, type FileLockTable } from '../../src/locks';
import { FlockOperation, LockType, type RecordLock } from '../../src/fuse-lowlevel/types';
import type { StateStore } from '../../src/state/state-store';
import { eventually } from './state-store.contract';

/** One gateway: its state store and its lock service (started). */
export interface LockGateway {
  store: StateStore;
  locks: FileLockService;
}

/** What the contract needs from a backend: gateways that share one lock state, and a way to let time pass. */
export interface FileLockHarness {
  /** A started gateway sharing state with every other gateway of this harness. */
  gateway(options?: FileLockServiceOptions): Promise<LockGateway>;
  /** Lets `ms` of the stores' time pass: moves a fake clock (real stores' time passes while the test polls). */
  advance(ms: number): Promise<void>;
  /** The gateway dies: from now on it neither heartbeats nor reaches the shared state, and it is stopped. */
  crash(gateway: LockGateway): Promise<void>;
  /** Stops every gateway and removes what they stored. */
  cleanup(): Promise<void>;
}

const { read, write, unlock } = LockType;
const { shared, exclusive, nonBlocking, unlock: flockUnlock } = FlockOperation;

function lock(type: number, start: number, length: number, pid = 4242): RecordLock {
  return { type, start, length, pid };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'granted';
  } catch (error) {
    if (error instanceof FileLockError) {
      return error.code;
    }
    throw error;
  }
}

/** Tracks a promise's outcome without awaiting it, so a test can check that a waiter is still waiting. */
function track(promise: Promise<void>): { settled: () => string | undefined; done: Promise<void> } {
  let outcome: string | undefined;
  const done = promise.then(
    () => {
      outcome = 'granted';
    },
    (error: unknown) => {
      outcome = error instanceof FileLockError ? error.code : String(error);
    },
  );
  return { settled: () => outcome, done };
}

/** A round trip through the store on `gateway`: whatever the store delivered before it has been handled. */
async function roundTrip(gateway: LockGateway): Promise<void> {
  await gateway.locks.getlk(999_999, 1n, lock(write, 0, 1));
  await new Promise((resolve) => setImmediate(resolve));
}

export function describeFileLockContract(name: string, makeHarness: () => Promise<FileLockHarness>): void {
  describe(`FileLockService on ${name}`, () => {
    let harness: FileLockHarness;

    beforeEach(async () => {
      harness = await makeHarness();
    });

    afterEach(async () => {
      await harness.cleanup();
    });

    it('refuses conflicting fcntl locks with EAGAIN, between owners and between gateways', async () => {
      const a = await harness.gateway();
      const b = await harness.gateway();
      await a.locks.setlk(7, 1n, lock(write, 0, 10, 111), false);
      expect(await refusal(a.locks.setlk(7, 2n, lock(read, 9, 1), false))).toBe('EAGAIN');
      expect(await refusal(b.locks.setlk(7, 1n, lock(write, 5, 1), false))).toBe('EAGAIN');
      expect(await refusal(b.locks.setlk(7, 1n, lock(write, 10, 0), false))).toBe('granted');
      expect(await refusal(b.locks.setlk(8, 1n, lock(write, 0, 10), false))).toBe('granted');
      // The holder converts and extends its own lock freely.
      expect(await refusal(a.locks.setlk(7, 1n, lock(read, 0, 5, 111), false))).toBe('granted');
      expect(await refusal(b.locks.setlk(7, 3n, lock(read, 0, 5), false))).toBe('granted');
      expect(await refusal(b.locks.setlk(7, 3n, lock(write, 5, 1), false))).toBe('EAGAIN');
    });

    it('answers F_GETLK with the conflicting lock, its pid and the gateway session holding it', async () => {
      const a = await harness.gateway({ sessionInfo: { mountpoint: '/mnt/a' } });
      const b = await harness.gateway();
      await a.locks.setlk(7, 1n, lock(write, 100, 0, 111), false);
      const holder = await b.locks.getlk(7, 9n, lock(read, 0, 200));
      expect(holder).toEqual({ type: write, start: 100, length: 0, pid: 111, session: a.locks.sessionId });
      expect((await b.locks.describeSession(holder!.session))?.info).toMatchObject({
        mountpoint: '/mnt/a',
        pid: process.pid,
      });
      expect(await b.locks.getlk(7, 9n, lock(read, 0, 100))).toBeUndefined();
      // Never in one's own way.
      expect(await a.locks.getlk(7, 1n, lock(write, 0, 0))).toBeUndefined();
      await a.locks.setlk(7, 1n, lock(read, 100, 0, 111), false);
      expect(await b.locks.getlk(7, 9n, lock(read, 0, 200))).toBeUndefined();
      expect((await b.locks.getlk(7, 9n, lock(write, 150, 1)))?.type).toBe(read);
    });

    it('splits a lock on a partial unlock and frees the rest at close (flush) of its owner only', async () => {
      const a = await harness.gateway();
      const b = await harness.gateway();
      await a.locks.setlk(7, 1n, lock(write, 0, 100), false);
      await a.locks.setlk(7, 1n, lock(unlock, 40, 20), false);
      expect(await refusal(b.locks.setlk(7, 5n, lock(write, 40, 20), false))).toBe('granted');
      expect(await refusal(b.locks.setlk(7, 5n, lock(write, 39, 1), false))).toBe('EAGAIN');
      await a.locks.flock(7, 1n, exclusive | nonBlocking);
      await a.locks.setlk(7, 2n, lock(read, 200, 10), false);
      await a.locks.releaseOwner(7, 1n);
      expect(await refusal(b.locks.setlk(7, 5n, lock(write, 0, 100), false))).toBe('granted');
      // Another owner's lock and the flock of the same owner number stay.
      expect(await refusal(b.locks.setlk(7, 5n, lock(write, 200, 1), false))).toBe('EAGAIN');
      expect(await refusal(b.locks.flock(7, 5n, shared | nonBlocking))).toBe('EWOULDBLOCK');
      await a.locks.releaseFlock(7, 1n);
      expect(await refusal(b.locks.flock(7, 5n, shared | nonBlocking))).toBe('granted');
    });

    it('keeps flock shared with shared, exclusive alone, and apart from fcntl locks', async () => {
      const a = await harness.gateway();
      const b = await harness.gateway();
      await a.locks.flock(3, 1n, shared | nonBlocking);
      expect(await refusal(b.locks.flock(3, 1n, shared | nonBlocking))).toBe('granted');
      expect(await refusal(b.locks.flock(3, 2n, exclusive | nonBlocking))).toBe('EWOULDBLOCK');
      expect(await refusal(b.locks.setlk(3, 2n, lock(write, 0, 0), false))).toBe('granted');
      await b.locks.flock(3, 1n, flockUnlock);
      // A conversion drops the old lock first, as on Linux, so a refused one leaves the owner without a lock.
      expect(await refusal(a.locks.flock(3, 1n, exclusive | nonBlocking))).toBe('granted');
      expect(await refusal(b.locks.flock(3, 1n, shared | nonBlocking))).toBe('EWOULDBLOCK');
      await b.locks.flock(3, 3n, shared | nonBlocking).catch(() => undefined);
      await a.locks.flock(3, 1n, shared | nonBlocking);
      expect(await refusal(b.locks.flock(3, 3n, shared | nonBlocking))).toBe('granted');
      expect(await refusal(a.locks.flock(3, 1n, exclusive | nonBlocking))).toBe('EWOULDBLOCK');
      expect(await refusal(b.locks.flock(3, 4n, exclusive | nonBlocking))).toBe('EWOULDBLOCK');
      await b.locks.flock(3, 3n, flockUnlock);
      expect(await refusal(b.locks.flock(3, 4n, exclusive | nonBlocking))).toBe('granted');
    });

    it('wakes a waiting F_SETLKW and a blocking flock on the other gateway as soon as the holder lets go', async () => {
      const a = await harness.gateway();
      // No periodic re-check within the test: only the release message can wake the waiters.
      const b = await harness.gateway({ recheckMs: 600_000 });
      await a.locks.setlk(7, 1n, lock(write, 0, 10), false);
      await a.locks.flock(7, 1n, exclusive | nonBlocking);
      const posixWaiter = track(b.locks.setlk(7, 2n, lock(read, 5, 1), true));
      const flockWaiter = track(b.locks.flock(7, 2n, shared));
      await eventually('both to wait', () => b.locks.waiting === 2);
      expect([posixWaiter.settled(), flockWaiter.settled()]).toEqual([undefined, undefined]);
      // A release of something else on the inode wakes the waiters, who find the lock still held and go on waiting.
      await a.locks.setlk(7, 1n, lock(unlock, 8, 2), false);
      await roundTrip(b);
      expect(posixWaiter.settled()).toBeUndefined();
      await a.locks.setlk(7, 1n, lock(unlock, 0, 0), false);
      await posixWaiter.done;
      expect(posixWaiter.settled()).toBe('granted');
      expect(flockWaiter.settled()).toBeUndefined();
      await a.locks.releaseFlock(7, 1n);
      await flockWaiter.done;
      expect(flockWaiter.settled()).toBe('granted');
      expect(await refusal(a.locks.setlk(7, 1n, lock(write, 5, 1), false))).toBe('EAGAIN');
    });

    it('ends a wait with EINTR when its signal aborts or the gateway stops', async () => {
      const a = await harness.gateway();
      const b = await harness.gateway({ recheckMs: 600_000 });
      await a.locks.setlk(7, 1n, lock(write, 0, 0), false);
      const controller = new AbortController();
      const interrupted = track(b.locks.setlk(7, 2n, lock(write, 0, 1), true, controller.signal));
      const stopped = track(b.locks.flock(9, 2n, exclusive));
      const stoppedToo = track(b.locks.setlk(7, 3n, lock(write, 0, 1), true));
      await stopped.done; // flock 9 is free: granted at once
      await eventually('both to wait', () => b.locks.waiting === 2);
      controller.abort();
      await interrupted.done;
      expect(interrupted.settled()).toBe('EINTR');
      await b.locks.stop();
      await stoppedToo.done;
      expect(stoppedToo.settled()).toBe('EINTR');
      // A stopped gateway released what it held.
      expect(await refusal(a.locks.flock(9, 1n, exclusive | nonBlocking))).toBe('granted');
    });

    it('refuses an F_SETLKW that would close a cycle of waiting owners with EDEADLK, across gateways', async () => {
      const a = await harness.gateway();
      const b = await harness.gateway({ recheckMs: 600_000 });
      await a.locks.setlk(7, 1n, lock(write, 0, 1), false);
      await b.locks.setlk(7, 2n, lock(write, 10, 1), false);
      await a.locks.setlk(8, 3n, lock(write, 0, 0), false);
      const first = track(a.locks.setlk(7, 1n, lock(write, 10, 1), true));
      await eventually('owner 1 to wait', () => a.locks.waiting === 1);
      // Owner 1 waits for owner 2; 2 waiting for 1 would never end. A chain through a third owner counts too.
      expect(await refusal(b.locks.setlk(7, 2n, lock(write, 0, 1), true))).toBe('EDEADLK');
      const third = track(b.locks.setlk(8, 2n, lock(write, 0, 1), true)); // 2 waits for 3 on another inode
      await eventually('owner 2 to wait', () => b.locks.waiting === 1);
      expect(await refusal(a.locks.setlk(7, 3n, lock(write, 10, 1), true))).toBe('EDEADLK'); // 3 → 2 → 3
      expect(first.settled()).toBeUndefined();
      await b.locks.setlk(7, 2n, lock(unlock, 10, 1), false);
      await first.done;
      expect(first.settled()).toBe('granted');
      await a.locks.releaseOwner(8, 3n);
      await third.done;
      expect(third.settled()).toBe('granted');
    });

    it('grants a contested lock to exactly one of many simultaneous requests across gateways', async () => {
      const gateways = [await harness.gateway(), await harness.gateway(), await harness.gateway()];
      const attempts = [];
      for (let owner = 1; owner <= 30; owner++) {
        const gateway = gateways[owner % gateways.length];
        attempts.push(refusal(gateway.locks.setlk(11, BigInt(owner), lock(write, 0, 1, owner), false)));
      }
      const outcomes = await Promise.all(attempts);
      expect(outcomes.filter((outcome) => outcome === 'granted')).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome === 'EAGAIN')).toHaveLength(29);
    });

    it('hands every waiter the lock in turn when holders release one after another', async () => {
      const a = await harness.gateway();
      const b = await harness.gateway();
      let inside = 0;
      let maxInside = 0;
      const worker = async (gateway: LockGateway, owner: bigint): Promise<void> => {
        for (let round = 0; round < 5; round++) {
          await gateway.locks.setlk(12, owner, lock(write, 0, 1), true);
          inside++;
          maxInside = Math.max(maxInside, inside);
          await new Promise((resolve) => setImmediate(resolve));
          inside--;
          await gateway.locks.setlk(12, owner, lock(unlock, 0, 1), false);
        }
      };
      await Promise.all([worker(a, 1n), worker(a, 2n), worker(b, 1n), worker(b, 3n)]);
      expect(maxInside).toBe(1);
    });

    it('releases the locks of a gateway whose session expires, and wakes its waiters when they re-check', async () => {
      const crashed = await harness.gateway({ sessionTtlMs: 1000, heartbeatMs: 200 });
      const survivor = await harness.gateway({ recheckMs: 50 });
      await crashed.locks.setlk(7, 1n, lock(write, 0, 0, 111), false);
      await crashed.locks.flock(7, 1n, exclusive | nonBlocking);
      await harness.crash(crashed);
      expect((await survivor.locks.getlk(7, 2n, lock(read, 0, 1)))?.pid).toBe(111);
      const waiter = track(survivor.locks.setlk(7, 2n, lock(write, 0, 1), true));
      expect(await refusal(survivor.locks.flock(7, 2n, shared | nonBlocking))).toBe('EWOULDBLOCK');
      await harness.advance(1100);
      await eventually('the waiter to get the dead gateway’s lock', () => waiter.settled(), 10_000);
      expect(waiter.settled()).toBe('granted');
      expect(await refusal(survivor.locks.flock(7, 2n, shared | nonBlocking))).toBe('granted');
      expect(await survivor.locks.getlk(7, 3n, lock(read, 0, 1))).toMatchObject({ session: survivor.locks.sessionId });
    });
  });
}

/** The lock table's wait records, on one backend: what the deadlock check in FileLockService stands on. */
export function describeFileLockTableWaits(name: string, makeTable: () => Promise<FileLockTable>): void {
  describe(`the file lock table's wait records on ${name}`, () => {
    it("drops a waiter's record in the same step as the write that grants it its lock", async () => {
      const table = await makeTable();
      const holder = 'session-h:posix:1';
      const waiter = 'session-w:posix:2';
      expect(await table.waitFor(waiter, holder, 60_000)).toBe(false);
      // While the record stands, the holder waiting for the waiter would close a cycle.
      expect(await table.waitFor(holder, waiter, 60_000)).toBe(true);

      const granted = [
        { session: 'session-w', owner: '2', pid: 1, kind: 'posix' as const, mode: 'write' as const, start: 0, end: 1 },
      ];
      expect(await table.store('77', '', granted, 'session-w', false, true, waiter)).toBeNull();
      // The waiter now holds the lock and waits for nothing: the holder may wait for it.
      expect(await table.waitFor(holder, waiter, 60_000)).toBe(false);
      await table.stopWaiting(holder);
    });
  });
}
