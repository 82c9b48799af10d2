import { QueryFailedError } from 'typeorm';
import { backoffMs, Mutex, retryCause, retryTransient, systemClock } from './metadata-txn.util';

function driverError(properties: Record<string, unknown>): QueryFailedError {
  return new QueryFailedError('SELECT 1', [], Object.assign(new Error('driver'), properties));
}

describe('retryCause', () => {
  it('should recognise MySQL deadlocks and lock wait timeouts and SQLite busy errors', () => {
    expect(retryCause(driverError({ errno: 1213, code: 'ER_LOCK_DEADLOCK' }))).toBe('ER_LOCK_DEADLOCK');
    expect(retryCause(driverError({ errno: 1205 }))).toBe('ER_LOCK_WAIT_TIMEOUT');
    expect(retryCause(driverError({ code: 'SQLITE_BUSY_SNAPSHOT' }))).toBe('SQLITE_BUSY');
  });

  it('should not retry other failures', () => {
    expect(retryCause(driverError({ errno: 1062, code: 'ER_DUP_ENTRY' }))).toBeNull();
    expect(retryCause(new Error('plain'))).toBeNull();
    expect(retryCause(undefined)).toBeNull();
  });
});

describe('backoffMs', () => {
  it('should grow with the attempt and stay under its ceiling', () => {
    expect([1, 2, 3, 10, 50].map((attempt) => backoffMs(attempt, () => 1))).toEqual([4, 8, 16, 250, 250]);
    expect(backoffMs(5, () => 0)).toBe(0);
  });
});

describe('retryTransient', () => {
  const noSleep = (): Promise<void> => Promise.resolve();

  it('should run the work again after a deadlock and return what the successful attempt returned', async () => {
    let attempts = 0;
    const result = await retryTransient(
      () => {
        attempts += 1;
        return attempts < 3 ? Promise.reject(driverError({ errno: 1213 })) : Promise.resolve('won');
      },
      { sleep: noSleep },
    );
    expect(result).toBe('won');
    expect(attempts).toBe(3);
  });

  it('should pass on a failure that is not transient without trying again', async () => {
    let attempts = 0;
    const duplicate = driverError({ errno: 1062 });
    await expect(
      retryTransient(
        () => {
          attempts += 1;
          return Promise.reject(duplicate);
        },
        { sleep: noSleep },
      ),
    ).rejects.toBe(duplicate);
    expect(attempts).toBe(1);
  });

  it('should give up with the last error after the most attempts', async () => {
    let attempts = 0;
    await expect(
      retryTransient(
        () => {
          attempts += 1;
          return Promise.reject(driverError({ errno: 1205 }));
        },
        { maxAttempts: 4, sleep: noSleep },
      ),
    ).rejects.toThrow(QueryFailedError);
    expect(attempts).toBe(4);
  });
});

describe('Mutex', () => {
  it('should run tasks one at a time in order, even when one fails', async () => {
    const mutex = new Mutex();
    const events: string[] = [];
    const task =
      (name: string, fail = false) =>
      async () => {
        events.push(`start ${name}`);
        await Promise.resolve();
        events.push(`end ${name}`);
        if (fail) {
          throw new Error(name);
        }
        return name;
      };

    const results = await Promise.allSettled([mutex.run(task('a')), mutex.run(task('b', true)), mutex.run(task('c'))]);

    expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });
});

describe('systemClock', () => {
  it('should give whole seconds and nanoseconds of the wall clock', () => {
    const before = Date.now();
    const now = systemClock.now();
    const after = Date.now();

    expect(now.nsec).toBeGreaterThanOrEqual(0);
    expect(now.nsec).toBeLessThan(1e9);
    expect(now.sec * 1000 + now.nsec / 1e6).toBeGreaterThanOrEqual(before);
    expect(now.sec * 1000 + now.nsec / 1e6).toBeLessThanOrEqual(after);
  });
});
