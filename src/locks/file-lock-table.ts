import type { FileLockRecord } from './lock-ranges';
import type { StateStore } from '../state/state-store';

/** An inode's lock list as read, with what a write-back must find unchanged to succeed. */
export interface LockSnapshot {
  /** The stored list as text ('' for none): the compare half of compare-and-set. */
  token: string;
  /** As stored, the locks of dead sessions included (the caller drops them). */
  locks: FileLockRecord[];
  /** Sessions alive now; a lock whose session is not among them holds nothing. */
  live: ReadonlySet<string>;
}

/**
 * Where the lock lists live: one list per inode, changed only by compare-and-set, so that the rules in
 * lock-ranges.ts run in one place (TypeScript) for every backend while each check-and-take stays atomic.
 */
export interface FileLockTable {
  load(ino: string): Promise<LockSnapshot>;
  /**
   * Stores `locks` if the inode's list is still `token`, in one atomic step, and resolves to null; when it
   * changed meanwhile, stores nothing and resolves to the list as it is now (so a retry needs no `load`).
   * `session` must be alive when `mustBeLive` (a lock is being granted to it): otherwise rejects with
   * SESSION_UNKNOWN. `holds` says whether `session` keeps locks on the inode afterwards (for its index).
   * `endsWait`: the waiter (as `waitFor` named it) this write grants a lock to; its wait record goes in the same
   * step, so that no one ever sees a holder still waiting for the lock it was just given (a false deadlock).
   */
  store(
    ino: string,
    token: string,
    locks: readonly FileLockRecord[],
    session: string,
    mustBeLive: boolean,
    holds: boolean,
    endsWait?: string,
  ): Promise<LockSnapshot | null>;
  /** Inodes the session may hold locks on (a superset: entries may be stale). */
  inodesOf(session: string): Promise<string[]>;
  /**
   * In one atomic step: follows the owners `blocker` waits for, and so on (at most MAX_WAIT_CHAIN steps, as
   * Linux); when that leads back to `waiter`, records nothing and resolves to true (a deadlock). Otherwise
   * records that `waiter` waits for `blocker`, for `ttlMs`, and resolves to false.
   */
  waitFor(waiter: string, blocker: string, ttlMs: number): Promise<boolean>;
  stopWaiting(waiter: string): Promise<void>;
}

/** Linux's MAX_DEADLK_ITERATIONS. */
export const MAX_WAIT_CHAIN = 10;

export function encodeLocks(locks: readonly FileLockRecord[]): string {
  return locks.length === 0 ? '' : JSON.stringify(locks);
}

export function decodeLocks(text: string): FileLockRecord[] {
  return text === '' ? [] : (JSON.parse(text) as FileLockRecord[]);
}

/**
 * The table for the in-process state store: one gateway (or several in one process, for tests, given one
 * table). Session liveness is the store's own: expired sessions are reaped before each read.
 */
export class InProcessFileLockTable implements FileLockTable {
  private readonly lists = new Map<string, string>();
  private readonly index = new Map<string, Set<string>>();
  private readonly waits = new Map<string, { blocker: string; until: number }>();

  constructor(private readonly sessions: StateStore) {}

  async load(ino: string): Promise<LockSnapshot> {
    await this.sessions.reapExpiredSessions();
    const live = new Set((await this.sessions.listSessions()).map((session) => session.id));
    const token = this.lists.get(ino) ?? '';
    return { token, locks: decodeLocks(token), live };
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
    if (mustBeLive) {
      await this.sessions.reapExpiredSessions();
      if (!(await this.sessions.listSessions()).some((record) => record.id === session)) {
        return Promise.reject(new SessionGoneError(session));
      }
    }
    // No await between this check and the write: in one process that makes the pair atomic.
    if ((this.lists.get(ino) ?? '') !== token) {
      return this.load(ino);
    }
    const text = encodeLocks(locks);
    if (text === '') {
      this.lists.delete(ino);
    } else {
      this.lists.set(ino, text);
    }
    const inodes = this.index.get(session) ?? new Set<string>();
    if (holds) {
      inodes.add(ino);
      this.index.set(session, inodes);
    } else {
      inodes.delete(ino);
    }
    if (endsWait !== undefined) {
      this.waits.delete(endsWait);
    }
    return null;
  }

  inodesOf(session: string): Promise<string[]> {
    return Promise.resolve([...(this.index.get(session) ?? [])]);
  }

  waitFor(waiter: string, blocker: string, ttlMs: number): Promise<boolean> {
    const now = performance.now();
    let current: string | undefined = blocker;
    for (let step = 0; step <= MAX_WAIT_CHAIN && current !== undefined; step++) {
      if (current === waiter) {
        return Promise.resolve(true);
      }
      const next = this.waits.get(current);
      current = next !== undefined && next.until > now ? next.blocker : undefined;
    }
    this.waits.set(waiter, { blocker, until: now + ttlMs });
    return Promise.resolve(false);
  }

  stopWaiting(waiter: string): Promise<void> {
    this.waits.delete(waiter);
    return Promise.resolve();
  }
}

/** The gateway session a lock was asked for is not alive (it expired or was ended). */
export class SessionGoneError extends Error {
  constructor(readonly session: string) {
    super(`gateway session "${session}" is not alive`);
    this.name = 'SessionGoneError';
  }
}
