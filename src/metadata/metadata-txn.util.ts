import { yieldIfBusy } from '../common/event-loop/yield-if-busy';
import type { Timespec } from './metadata.types';

/** Source of "now" for timestamps; injectable so tests can check them exactly. */
export interface MetadataClock {
  now(): Timespec;
}

/** Wall-clock time at millisecond resolution (what Date gives; FUSE callers rarely see finer). */
export const systemClock: MetadataClock = {
  now(): Timespec {
    const ms = Date.now();
    const sec = Math.floor(ms / 1000);
    return { sec, nsec: (ms - sec * 1000) * 1_000_000 };
  },
};

export function toMs(time: Timespec): number {
  return time.sec * 1000 + Math.floor(time.nsec / 1_000_000);
}

/** Why a transaction was rolled back and run again. */
export type RetryCause = 'ER_LOCK_DEADLOCK' | 'ER_LOCK_WAIT_TIMEOUT' | 'SQLITE_BUSY';

const MYSQL_RETRYABLE: Record<number, RetryCause> = {
  1213: 'ER_LOCK_DEADLOCK',
  1205: 'ER_LOCK_WAIT_TIMEOUT',
};

/**
 * The transient failures worth running the whole transaction again for: InnoDB picked this transaction
 * as a deadlock victim (1213) or it waited too long for a row lock (1205); SQLite found the database
 * locked by another connection (SQLITE_BUSY and its extended codes such as SQLITE_BUSY_SNAPSHOT).
 * TypeORM's QueryFailedError keeps the driver's error in `driverError`.
 */
export function retryCause(error: unknown): RetryCause | null {
  for (const candidate of [error, (error as { driverError?: unknown } | null)?.driverError]) {
    if (typeof candidate !== 'object' || candidate === null) {
      continue;
    }
    const { errno, code } = candidate as { errno?: unknown; code?: unknown };
    if (typeof errno === 'number' && MYSQL_RETRYABLE[errno] !== undefined) {
      return MYSQL_RETRYABLE[errno];
    }
    if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) {
      return 'SQLITE_BUSY';
    }
  }
  return null;
}

/**
 * Thrown inside a transaction when rows read before the locks were taken changed in the meantime (an
 * entry now names another inode): the attempt is rolled back and restarted at once, without backoff.
 */
export class RestartTransaction extends Error {
  constructor(reason: string) {
    super(`restart: ${reason}`);
    this.name = 'RestartTransaction';
  }
}

/** Most attempts of one operation before it gives up with EIO. */
export const MAX_ATTEMPTS = 30;

/**
 * Exponential backoff with full jitter (2 ms doubling to a 250 ms ceiling, then a random fraction of
 * it), so transactions that deadlocked each other do not collide again in lockstep.
 */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(250, 2 * 2 ** Math.min(attempt, 16));
  return Math.ceil(ceiling * random());
}

/**
 * Runs a statement or a short sequence of autocommitted statements again while it fails transiently (see
 * `retryCause`), with the same backoff as transactions. For work outside the store's transactions: InnoDB can pick
 * even a lone `INSERT IGNORE` as a deadlock victim when several connections insert the same key into an empty
 * gap at once, and rolls back only that statement, so running it again is safe.
 */
export async function retryTransient<T>(
  work: () => Promise<T>,
  options: { maxAttempts?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? MAX_ATTEMPTS;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= maxAttempts || retryCause(error) === null) {
        throw error;
      }
      await sleep(backoffMs(attempt));
    }
  }
}

/**
 * A FIFO async lock. SQLite has one connection per process (better-sqlite3 is synchronous and TypeORM
 * shares one query runner), so transactions must not interleave on it: each operation runs alone.
 */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(async () => {
      await yieldIfBusy();
      return task();
    });
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
