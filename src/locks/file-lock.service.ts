import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Logger } from '@nestjs/common';
import { FlockOperation, LockType, type RecordLock } from '../fuse-lowlevel/types';
import { InProcessStateStore } from '../state/in-process-state-store';
import { RedisStateStore } from '../state/redis-state-store';
import { isStateError } from '../state/state.errors';
import type { SessionInfo, SessionRecord, StateStore, Unsubscribe } from '../state/state-store';
import {
  encodeLocks,
  type FileLockTable,
  InProcessFileLockTable,
  type LockSnapshot,
  SessionGoneError,
} from './file-lock-table';
import {
  decide,
  type FileLockRecord,
  findConflict,
  lengthOf,
  type LockDecision,
  type LockKind,
  type LockRequest,
  rangeOf,
  releasedSomething,
  sameLocks,
  sameOwner,
} from './lock-ranges';
import { RedisFileLockTable } from './redis-file-lock-table';

/** Where waiters hear that locks on an inode were released (on every gateway). */
export const FILE_LOCK_CHANNEL = 'file-locks';

export interface FileLockServiceOptions {
  /** How long this gateway's locks outlive its last heartbeat (default 30 s). */
  sessionTtlMs?: number;
  /** Heartbeat period (default a fifth of the TTL). */
  heartbeatMs?: number;
  /**
   * A waiter looks again this often even without a release message (default 1 s): pub/sub delivers at most
   * once, and a dead gateway's locks vanish when its session expires, which nobody announces.
   */
  recheckMs?: number;
  /** Recorded in the session for operators (host and pid are filled in). */
  sessionInfo?: SessionInfo;
  /** Defaults to the table that goes with the store. */
  table?: FileLockTable;
}

export type FileLockErrorCode = 'EAGAIN' | 'EWOULDBLOCK' | 'EINTR' | 'ENOLCK' | 'EINVAL' | 'EDEADLK';

/** A lock request refused with an errno; `code` is what the FUSE binding answers (it reads `code`). */
export class FileLockError extends Error {
  constructor(
    readonly code: FileLockErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
    this.name = 'FileLockError';
  }
}

/** F_GETLK's answer with, beyond what the kernel is told, the gateway session that holds the lock. */
export interface LockHolder extends RecordLock {
  session: string;
}

const DEFAULT_SESSION_TTL_MS = 30_000;
const DEFAULT_RECHECK_MS = 1000;
/** How many inodes' lock lists a gateway remembers for its first compare-and-set try. */
const LAST_SEEN_LIMIT = 10_000;
/** Compare-and-set retries under contention before the request fails with ENOLCK. */
const MAX_CAS_TRIES = 100;

/** An owner as the wait records name it. */
function waitKey(owner: Pick<FileLockRecord, 'session' | 'owner'>): string {
  return `${owner.session}|${owner.owner}`;
}

interface Waiter {
  wake: () => void;
}

/**
 * POSIX record locks and flock locks, kept in the state store so that every gateway sharing it sees them
 * (DESIGN.md §6): owned by this gateway's session plus the kernel's lock owner, so a dead gateway's locks go
 * when its session expires. One inode's list changes only by compare-and-set, with the rules of Linux
 * (lock-ranges.ts) applied in between.
 *
 * Blocking requests wait for a release message on FILE_LOCK_CHANNEL for their inode, and look again every
 * `recheckMs` whatever happens. An F_SETLKW that would close a cycle of POSIX lock owners waiting for each other
 * (across gateways too) fails with EDEADLK, as on Linux; flock waits are not checked, as on Linux.
 */
export class FileLockService {
  private readonly logger = new Logger(FileLockService.name);
  private readonly table: FileLockTable;
  private readonly ttlMs: number;
  private readonly heartbeatMs: number;
  private readonly recheckMs: number;
  private session = '';
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;
  private unsubscribe: Unsubscribe | null = null;
  private stopped = false;
  /** Bumped by every release message, so a waiter sees a release that came while it was looking. */
  private readonly generations = new Map<string, number>();
  /** Lock requests under way per inode (looking or waiting): while there are any, the generation is kept. */
  private readonly blocking = new Map<string, number>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  /**
   * Per inode, the owners ("posix:<owner>", "flock:<owner>") that were granted a lock here and have not
   * closed since: a superset of what this gateway holds, so that a close without locks (nearly all of them)
   * costs no round trip to the store.
   */
  private readonly owners = new Map<string, Set<string>>();
  private readonly lastSeen = new Map<string, LockSnapshot>();
  private waitingNow = 0;

  constructor(
    private readonly store: StateStore,
    private readonly options: FileLockServiceOptions = {},
  ) {
    this.table = options.table ?? fileLockTableFor(store);
    this.ttlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
    this.heartbeatMs = options.heartbeatMs ?? Math.floor(this.ttlMs / 5);
    this.recheckMs = options.recheckMs ?? DEFAULT_RECHECK_MS;
    // One late beat must not let the session lapse and the gateway's locks with it.
    if (!(this.heartbeatMs > 0 && this.heartbeatMs * 2 <= this.ttlMs)) {
      throw new Error(`file locks: a heartbeat every ${this.heartbeatMs} ms does not keep a ${this.ttlMs} ms session`);
    }
  }

  /** Lock requests of this gateway waiting now (F_SETLKW, flock without LOCK_NB). */
  get waiting(): number {
    return this.waitingNow;
  }

  /** This gateway's lock session; '' before `start`. */
  get sessionId(): string {
    return this.session;
  }

  /** Registers this gateway's session and starts listening for releases; locks can be taken from here on. */
  async start(): Promise<void> {
    this.unsubscribe = await this.store.subscribe<{ ino?: unknown }>(FILE_LOCK_CHANNEL, (message) => {
      if (typeof message?.ino === 'string') {
        this.wake(message.ino);
      }
    });
    await this.registerSession();
    this.timer = setInterval(() => void this.tick(), this.heartbeatMs);
    this.timer.unref();
  }

  /** Releases every lock of this gateway, ends its session and fails the requests still waiting (EINTR). */
  async stop(): Promise<void> {
    if (this.stopped) {
      return;
    }
    this.stopped = true;
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    for (const set of this.waiters.values()) {
      for (const waiter of set) {
        waiter.wake();
      }
    }
    try {
      await this.beating;
      if (this.session !== '') {
        await this.releaseSession();
        await this.store.endSession(this.session);
      }
    } catch (error) {
      this.logger.warn(
        `Releasing this gateway's file locks failed; they go when its session expires: ${String(error)}`,
      );
    } finally {
      await this.unsubscribe?.().catch(() => undefined);
      this.unsubscribe = null;
    }
  }

  // ---- POSIX record locks (fcntl) ----

  /** F_GETLK: the first lock of another owner in the way of `lock`, or undefined. */
  async getlk(ino: number | string, lockOwner: bigint, lock: RecordLock): Promise<LockHolder | undefined> {
    if (lock.type === LockType.unlock) {
      throw new FileLockError('EINVAL', 'F_GETLK with F_UNLCK');
    }
    const request = this.posixRequest(lockOwner, lock);
    const snapshot = await this.load(String(ino));
    const live = snapshot.locks.filter((held) => snapshot.live.has(held.session));
    const conflict = findConflict(live, request);
    if (conflict === undefined) {
      return undefined;
    }
    return {
      type: conflict.mode === 'read' ? LockType.read : LockType.write,
      start: conflict.start,
      length: lengthOf(conflict),
      pid: conflict.pid,
      session: conflict.session,
    };
  }

  /**
   * F_SETLK / F_SETLKW (`wait`): takes, converts or releases (F_UNLCK) a lock over a byte range. Refused with
   * EAGAIN when another owner's lock is in the way and `wait` is false; with `wait`, resolves once granted, or
   * rejects with EINTR when `signal` aborts or the service stops.
   */
  async setlk(
    ino: number | string,
    lockOwner: bigint,
    lock: RecordLock,
    wait: boolean,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.lockOrWait(String(ino), this.posixRequest(lockOwner, lock), wait, 'EAGAIN', signal);
  }

  /** At each close of a descriptor (FUSE flush): the POSIX locks of `lockOwner` on the inode end. */
  async releaseOwner(ino: number | string, lockOwner: bigint): Promise<void> {
    await this.releaseAll(String(ino), lockOwner.toString(), 'posix');
  }

  // ---- flock ----

  /**
   * flock(2) with FlockOperation bits. Without `nonBlocking` it waits as setlk does; with it, a conflict is
   * EWOULDBLOCK. A conversion drops the old lock first, as on Linux.
   */
  async flock(ino: number | string, lockOwner: bigint, operation: number, signal?: AbortSignal): Promise<void> {
    const mode =
      operation & FlockOperation.unlock
        ? 'unlock'
        : operation & FlockOperation.exclusive
          ? 'write'
          : operation & FlockOperation.shared
            ? 'read'
            : undefined;
    if (mode === undefined) {
      throw new FileLockError('EINVAL', `flock operation ${operation}`);
    }
    const request: LockRequest = {
      session: this.requireSession(),
      owner: lockOwner.toString(),
      pid: 0,
      kind: 'flock',
      mode,
      ...rangeOf(0, 0),
    };
    const wait = (operation & FlockOperation.nonBlocking) === 0;
    await this.lockOrWait(String(ino), request, wait, 'EWOULDBLOCK', signal);
  }

  /** At the last close of an open file that used flock (FUSE release with flockRelease). */
  async releaseFlock(ino: number | string, lockOwner: bigint): Promise<void> {
    await this.releaseAll(String(ino), lockOwner.toString(), 'flock');
  }

  // ---- sessions ----

  /** Releases every lock this gateway holds (both kinds, every inode). */
  async releaseSession(): Promise<void> {
    const session = this.session;
    for (const ino of await this.guard(() => this.table.inodesOf(session))) {
      await this.rewrite(ino, (locks) => locks.filter((held) => held.session !== session));
    }
    this.owners.clear();
  }

  /** Which gateway a holder's session belongs to (host, pid, mountpoint), or undefined when it is gone. */
  async describeSession(session: string): Promise<SessionRecord | undefined> {
    return (await this.store.listSessions()).find((record) => record.id === session);
  }

  /** Heartbeats the session; registers a new one when it was lost (its locks are gone with it). */
  tick(): Promise<void> {
    this.beating ??= this.beat().finally(() => {
      this.beating = null;
    });
    return this.beating;
  }

  // ---- internals ----

  private async releaseAll(ino: string, lockOwner: string, kind: LockKind): Promise<void> {
    const key = `${kind}:${lockOwner}`;
    const owners = this.owners.get(ino);
    if (!owners?.has(key)) {
      return;
    }
    const owner = { session: this.session, owner: lockOwner, kind };
    await this.rewrite(ino, (locks) => locks.filter((held) => !sameOwner(held, owner)));
    owners.delete(key);
    if (owners.size === 0) {
      this.owners.delete(ino);
    }
  }

  private async beat(): Promise<void> {
    if (this.stopped) {
      return;
    }
    try {
      if (!(await this.store.heartbeat(this.session))) {
        this.logger.error(
          `File lock session ${this.session} expired (heartbeats failed for ${this.ttlMs} ms): the locks taken ` +
            'through this gateway were released and may now be held by others; starting a new session',
        );
        await this.registerSession();
      }
    } catch (error) {
      this.logger.warn(`File lock session heartbeat failed, retrying: ${(error as Error).message}`);
    }
  }

  private async registerSession(): Promise<void> {
    const id = `locks-${os.hostname()}-${process.pid}-${randomBytes(6).toString('hex')}`;
    await this.store.registerSession(
      id,
      { host: os.hostname(), pid: process.pid, ...this.options.sessionInfo },
      this.ttlMs,
    );
    this.session = id;
  }

  private requireSession(): string {
    if (this.session === '' || this.stopped) {
      throw new FileLockError('ENOLCK', 'the file lock service is not running');
    }
    return this.session;
  }

  private posixRequest(lockOwner: bigint, lock: RecordLock): LockRequest {
    const mode =
      lock.type === LockType.read
        ? 'read'
        : lock.type === LockType.write
          ? 'write'
          : lock.type === LockType.unlock
            ? 'unlock'
            : undefined;
    if (mode === undefined) {
      throw new FileLockError('EINVAL', `lock type ${lock.type}`);
    }
    let range: { start: number; end: number };
    try {
      range = rangeOf(lock.start, lock.length);
    } catch (error) {
      throw new FileLockError('EINVAL', (error as Error).message);
    }
    return {
      session: this.requireSession(),
      owner: lockOwner.toString(),
      pid: lock.pid,
      kind: 'posix',
      mode,
      ...range,
    };
  }

  private async lockOrWait(
    ino: string,
    request: LockRequest,
    wait: boolean,
    refusal: 'EAGAIN' | 'EWOULDBLOCK',
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const me = waitKey(request);
    let waitRecorded = false;
    this.blocking.set(ino, (this.blocking.get(ino) ?? 0) + 1);
    try {
      for (;;) {
        if (signal?.aborted || this.stopped) {
          throw new FileLockError('EINTR', 'the lock wait was interrupted');
        }
        const generation = this.generations.get(ino) ?? 0;
        const decision = await this.change(ino, request, waitRecorded ? me : undefined);
        if (decision.granted) {
          if (request.mode !== 'unlock') {
            const owners = this.owners.get(ino) ?? new Set<string>();
            owners.add(`${request.kind}:${request.owner}`);
            this.owners.set(ino, owners);
          }
          return;
        }
        const holder = `pid ${decision.conflict.pid} (session ${decision.conflict.session})`;
        if (!wait) {
          throw new FileLockError(refusal, `held by ${holder}`);
        }
        if (request.kind === 'posix') {
          // As Linux does for F_SETLKW: refuse a wait that would close a cycle of owners waiting for each other.
          // Recorded again at every look, so the record outlives the wait by at most its TTL.
          waitRecorded = true;
          const cycle = await this.guard(() => this.table.waitFor(me, waitKey(decision.conflict), this.waitTtlMs()));
          if (cycle) {
            throw new FileLockError('EDEADLK', `waiting for ${holder} would deadlock`);
          }
        }
        if ((this.generations.get(ino) ?? 0) === generation) {
          this.waitingNow++;
          try {
            await this.waitForRelease(ino, signal);
          } finally {
            this.waitingNow--;
          }
        }
      }
    } finally {
      const left = this.blocking.get(ino)! - 1;
      if (left === 0) {
        this.blocking.delete(ino);
        this.generations.delete(ino);
      } else {
        this.blocking.set(ino, left);
      }
      if (waitRecorded) {
        await this.table.stopWaiting(me).catch(() => undefined);
      }
    }
  }

  /** A wait record lives for two re-checks and a margin: a waiter that died stops blocking others' requests. */
  private waitTtlMs(): number {
    return this.recheckMs * 2 + 1000;
  }

  /** Resolves at a release message for the inode, after `recheckMs`, or when the wait is cancelled. */
  private waitForRelease(ino: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      // Cancelled while it was looking: an abort listener added now would never fire.
      if (signal?.aborted || this.stopped) {
        resolve();
        return;
      }
      let set = this.waiters.get(ino);
      if (set === undefined) {
        set = new Set();
        this.waiters.set(ino, set);
      }
      const waiter: Waiter = {
        wake: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', waiter.wake);
          const current = this.waiters.get(ino);
          if (current?.delete(waiter) && current.size === 0) {
            this.waiters.delete(ino);
          }
          resolve();
        },
      };
      const timer = setTimeout(waiter.wake, this.recheckMs);
      signal?.addEventListener('abort', waiter.wake);
      set.add(waiter);
    });
  }

  private wake(ino: string): void {
    // Only requests under way need a generation; counting for every inode ever unlocked would grow for ever.
    if (this.blocking.has(ino)) {
      this.generations.set(ino, (this.generations.get(ino) ?? 0) + 1);
    }
    for (const waiter of [...(this.waiters.get(ino) ?? [])]) {
      waiter.wake();
    }
  }

  /** `endsWait`: the wait record of this request, if it waited; a grant removes it in the same atomic write. */
  private change(ino: string, request: LockRequest, endsWait?: string): Promise<LockDecision> {
    return this.update(ino, (locks) => decide(locks, request), request.mode !== 'unlock', endsWait);
  }

  private async rewrite(ino: string, edit: (locks: FileLockRecord[]) => FileLockRecord[]): Promise<void> {
    if (this.session === '') {
      return;
    }
    await this.update(ino, (locks) => ({ granted: true, locks: edit(locks) }), false);
  }

  /**
   * Applies `decideOn` to the inode's list (dead sessions' locks dropped) and writes the result back by
   * compare-and-set, starting over from the list the store answers when it changed meanwhile. The first try
   * works on the list this gateway last saw, if it has one: a stale list cannot be written back (the compare
   * fails), so only a refusal or a no-op needs a fresh read. That makes a lock or an unlock one round trip.
   * A write that can let a waiter through is announced without waiting for the announcement.
   */
  private async update(
    ino: string,
    decideOn: (locks: FileLockRecord[]) => LockDecision,
    granting: boolean,
    endsWait?: string,
  ): Promise<LockDecision> {
    let snapshot = this.lastSeen.get(ino);
    let fresh = false;
    if (snapshot === undefined) {
      snapshot = await this.load(ino);
      fresh = true;
    }
    for (let tries = 0; tries < MAX_CAS_TRIES; tries++) {
      const live = snapshot.locks.filter((held) => snapshot!.live.has(held.session));
      const decision = decideOn(live);
      const changes = !sameLocks(decision.locks, snapshot.locks);
      if (!fresh && (!changes || !decision.granted)) {
        snapshot = await this.load(ino);
        fresh = true;
        continue;
      }
      if (!changes) {
        return decision;
      }
      const session = this.session;
      const holds = decision.locks.some((held) => held.session === session);
      const current = await this.guard(() =>
        this.table.store(
          ino,
          snapshot!.token,
          decision.locks,
          session,
          granting && decision.granted,
          holds,
          granting && decision.granted ? endsWait : undefined,
        ),
      );
      if (current !== null) {
        this.remember(ino, current);
        snapshot = current;
        fresh = true;
        continue;
      }
      this.remember(ino, { token: encodeLocks(decision.locks), locks: decision.locks, live: snapshot.live });
      if (releasedSomething(snapshot.locks, decision.locks)) {
        // Not awaited: the waiters also look again every recheckMs, so a lost announcement only delays them.
        this.store.publish(FILE_LOCK_CHANNEL, { ino }).catch((error: unknown) => {
          this.logger.warn(`Announcing a lock release on inode ${ino} failed: ${(error as Error).message}`);
        });
      }
      return decision;
    }
    throw new FileLockError('ENOLCK', `the locks of inode ${ino} kept changing; gave up after ${MAX_CAS_TRIES} tries`);
  }

  private async load(ino: string): Promise<LockSnapshot> {
    const snapshot = await this.guard(() => this.table.load(ino));
    this.remember(ino, snapshot);
    return snapshot;
  }

  /** Keeps the latest list seen of the most recently used inodes (a Map iterates oldest first). */
  private remember(ino: string, snapshot: LockSnapshot): void {
    this.lastSeen.delete(ino);
    this.lastSeen.set(ino, snapshot);
    if (this.lastSeen.size > LAST_SEEN_LIMIT) {
      this.lastSeen.delete(this.lastSeen.keys().next().value!);
    }
  }

  /** Store failures become ENOLCK, the errno of a lock manager that cannot be reached. */
  private async guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof SessionGoneError) {
        throw new FileLockError('ENOLCK', `this gateway's lock session expired (${error.session})`, { cause: error });
      }
      if (isStateError(error)) {
        throw new FileLockError('ENOLCK', `the lock store failed: ${error.message}`, { cause: error });
      }
      throw error;
    }
  }
}

const inProcessTables = new WeakMap<StateStore, InProcessFileLockTable>();

/**
 * The table that goes with a store: in Redis beside its keys, or in this process beside the in-process store
 * (one per store, so services sharing a store share the table, as gateways sharing a Redis do).
 */
export function fileLockTableFor(store: StateStore): FileLockTable {
  if (store instanceof RedisStateStore) {
    return new RedisFileLockTable(store);
  }
  if (!(store instanceof InProcessStateStore)) {
    throw new Error(`no file lock table for a ${store.backend} state store`);
  }
  let table = inProcessTables.get(store);
  if (table === undefined) {
    table = new InProcessFileLockTable(store);
    inProcessTables.set(store, table);
  }
  return table;
}
