import type { RedisStateStore } from '../state/redis-state-store';
import {
  decodeLocks,
  encodeLocks,
  type FileLockTable,
  type LockSnapshot,
  MAX_WAIT_CHAIN,
  SessionGoneError,
} from './file-lock-table';
import { FILE_LOCK_SCRIPTS } from './file-lock.scripts';
import type { FileLockRecord } from './lock-ranges';

/**
 * A session's inode index outlives the session by this much at most: the index only speeds up releasing a
 * session's locks, while whether a lock holds is decided by its session being alive.
 */
const INDEX_TTL_MS = 24 * 3600_000;

/**
 * The lock lists in Redis, beside the state store's keys: `file-locks:<ino>` holds an inode's list,
 * `file-lock-inodes:<session>` the inodes a session has locks on. Session liveness is the store's sessions zset.
 */
export class RedisFileLockTable implements FileLockTable {
  constructor(private readonly state: RedisStateStore) {}

  async load(ino: string): Promise<LockSnapshot> {
    const reply = (await this.state.runScript(FILE_LOCK_SCRIPTS.load, [`file-locks:${ino}`, 'sessions'], [])) as [
      string,
      string[],
    ];
    return { token: reply[0], locks: decodeLocks(reply[0]), live: new Set(reply[1]) };
  }

  async store(
    ino: string,
    token: string,
    locks: readonly FileLockRecord[],
    session: string,
    mustBeLive: boolean,
    holds: boolean,
    endsWait?: string,
  ): Promise<LockSnapshot | null> {
    const keys = [`file-locks:${ino}`, 'sessions', `file-lock-inodes:${session}`];
    if (endsWait !== undefined) {
      keys.push(`file-lock-wait:${endsWait}`);
    }
    const reply = await this.state.runScript(FILE_LOCK_SCRIPTS.store, keys, [
      token,
      encodeLocks(locks),
      session,
      mustBeLive ? '1' : '0',
      holds ? '1' : '0',
      ino,
      INDEX_TTL_MS,
    ]);
    const [status, current, live] = reply as [number, string?, string[]?];
    if (status === -1) {
      throw new SessionGoneError(session);
    }
    if (status === 1) {
      return null;
    }
    return { token: current!, locks: decodeLocks(current!), live: new Set(live) };
  }

  async waitFor(waiter: string, blocker: string, ttlMs: number): Promise<boolean> {
    const reply = await this.state.runScript(
      FILE_LOCK_SCRIPTS.waitFor,
      [],
      [this.state.keyPrefix, waiter, blocker, Math.ceil(ttlMs), MAX_WAIT_CHAIN],
    );
    return reply === 1;
  }

  async stopWaiting(waiter: string): Promise<void> {
    await this.state.runScript(FILE_LOCK_SCRIPTS.stopWaiting, [`file-lock-wait:${waiter}`], []);
  }

  async inodesOf(session: string): Promise<string[]> {
    const reply = await this.state.runScript(FILE_LOCK_SCRIPTS.inodes, [`file-lock-inodes:${session}`], []);
    return reply as string[];
  }
}
