import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { type Clock } from './clock';
import { LockKeeper } from './lock-keeper';
import { StateError } from './state.errors';

export interface AcquireOptions {
  /** How long the lock lives unless renewed. At most the store's `maxLockTtlMs`. */
  ttlMs: number;
  /** Real milliseconds to keep trying while the lock is held elsewhere. 0 (the default) tries once. */
  waitMs?: number;
  /** Pause between tries while waiting (default 50 ms, jittered). */
  retryIntervalMs?: number;
  /** The gateway session the lock is held for: reaping or ending that session releases the lock. */
  sessionId?: string;
}

export interface WithLockOptions extends AcquireOptions {
  /** How often the lease is renewed while the work runs (default a third of the TTL). */
  renewIntervalMs?: number;
}

export interface LockLease {
  readonly name: string;
  /** Random, unique to this grant: only its holder can renew or release the lock. */
  readonly token: string;
  /**
   * Strictly greater than the token of every earlier grant of this lock (it comes from one counter for all
   * locks), including grants that expired and grants made before the store lost its data. Storage that
   * records the highest token it has seen can refuse writes from a holder that has since lost the lock.
   */
  readonly fencingToken: number;
  /**
   * The holder's own conservative view (store clock, ms since the epoch) of when the lease ends: never later
   * than the store lets it live, and never later than the owning session's expiry. After this the holder
   * must treat the lock as lost.
   */
  readonly expiresAt: number;
  readonly ttlMs: number;
  readonly sessionId?: string;
}

/** A lock held while work runs under `withLock`, renewed automatically. */
export interface HeldLock {
  readonly name: string;
  readonly fencingToken: number;
  /** The latest lease (its `expiresAt` moves forward with every renewal). */
  readonly lease: LockLease;
  /** Aborted, with a `StateError` of code LOCK_LOST, once the lock can no longer be assumed held. */
  readonly signal: AbortSignal;
  /** True once the lock can no longer be assumed held. Check it (or call `assertHeld`) before committing. */
  readonly lost: boolean;
  /** Throws the LOCK_LOST `StateError` if the lock can no longer be assumed held. */
  assertHeld(): void;
}

export type MessageHandler<T = unknown> = (message: T, channel: string) => void;
export type Unsubscribe = () => Promise<void>;

export interface SessionInfo {
  host?: string;
  pid?: number;
  mountpoint?: string;
  version?: string;
}

export interface SessionRecord {
  id: string;
  info: SessionInfo;
  ttlMs: number;
  registeredAt: number;
  heartbeatAt: number;
  /** Store clock; a session is expired, and may be reaped, once this has passed. */
  expiresAt: number;
}

export interface ReapedSession {
  id: string;
  info: SessionInfo | undefined;
  /** Names of the locks that were still held for the session and have been released. */
  releasedLocks: string[];
}

export type StateBackend = 'redis' | 'in-process';
export type StateHealthStatus = 'connecting' | 'up' | 'down' | 'closed';

export interface StateHealth {
  backend: StateBackend;
  status: StateHealthStatus;
  /** When the status last changed (ms since the epoch). */
  since: number;
  lastError?: string;
}

export type HealthListener = (health: StateHealth) => void;

/** A lock attempt's outcome, as each backend reports it to the shared waiting loop. */
export type AcquireAttempt = { lease: LockLease } | { retryAfterMs: number };

export const DEFAULT_MAX_LOCK_TTL_MS = 60_000;
const DEFAULT_RETRY_INTERVAL_MS = 50;

/**
 * The port to shared gateway state: locks, counters, cache-invalidation pub/sub and
 * gateway sessions. `RedisStateStore` shares it between gateways; `InProcessStateStore` serves a single one.
 *
 * The state here is soft: the SQL journal is the durable record of what is dirty. Locks and sessions are
 * safe across a Redis restart that lost its data; counters start over.
 */
export abstract class StateStore {
  abstract readonly backend: StateBackend;
  protected readonly logger: Logger;
  protected closed = false;
  private readonly keepers = new Set<LockKeeper>();
  private readonly healthListeners = new Set<HealthListener>();
  private currentHealth: StateHealth;

  protected constructor(
    protected readonly clock: Clock,
    /** No lock may be granted a longer TTL; see `RedisStateStore` for why this bound matters. */
    readonly maxLockTtlMs: number,
    initialStatus: StateHealthStatus,
    backend: StateBackend,
  ) {
    this.logger = new Logger(new.target.name);
    this.currentHealth = { backend, status: initialStatus, since: Date.now() };
  }

  // ---- locks ----

  /**
   * Takes the named lock, waiting up to `waitMs` (real time) while someone else holds it.
   * Resolves to null when it stayed held for the whole wait; rejects with UNAVAILABLE when the store could not
   * be reached until the deadline, SESSION_UNKNOWN when `sessionId` is not a live session.
   */
  async acquire(name: string, options: AcquireOptions): Promise<LockLease | null> {
    this.checkLockName(name);
    this.checkTtl(options.ttlMs);
    const waitMs = options.waitMs ?? 0;
    const retryIntervalMs = options.retryIntervalMs ?? DEFAULT_RETRY_INTERVAL_MS;
    if (!Number.isFinite(waitMs) || waitMs < 0 || !Number.isFinite(retryIntervalMs) || retryIntervalMs <= 0) {
      throw new StateError('INVALID_ARGUMENT', 'waitMs must be ≥ 0 and retryIntervalMs > 0');
    }
    if (options.sessionId !== undefined && options.sessionId === '') {
      throw new StateError('INVALID_ARGUMENT', 'sessionId must not be empty');
    }
    const deadline = performance.now() + waitMs;
    for (;;) {
      this.assertOpen();
      let pauseMs: number;
      try {
        const attempt = await this.attemptAcquire(name, randomBytes(16).toString('hex'), options);
        if ('lease' in attempt) {
          return attempt.lease;
        }
        pauseMs = Math.min(attempt.retryAfterMs, retryIntervalMs);
      } catch (error) {
        if (!(error instanceof StateError && error.code === 'UNAVAILABLE') || performance.now() >= deadline) {
          throw error;
        }
        pauseMs = retryIntervalMs;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        return null;
      }
      // Jitter keeps contenders that started together from retrying in lockstep.
      const jittered = Math.max(1, Math.round(pauseMs * (0.5 + Math.random() * 0.5)));
      await new Promise((resolve) => setTimeout(resolve, Math.min(jittered, remaining)));
    }
  }

  /** One try. `token` identifies the grant; a backend must treat a retried try with the same token as granted. */
  protected abstract attemptAcquire(name: string, token: string, options: AcquireOptions): Promise<AcquireAttempt>;

  /** Extends a lease by `ttlMs` (default: its own TTL). Null when the lock is no longer held by this lease. */
  abstract renew(lease: LockLease, ttlMs?: number): Promise<LockLease | null>;

  /** Compare-and-delete: true when the lock was held by this lease and is now free, false otherwise. */
  abstract release(lease: LockLease): Promise<boolean>;

  /**
   * Runs `work` while holding the named lock, renewing it in the background, and releases it afterwards.
   * Rejects with LOCK_TIMEOUT when the lock stayed held elsewhere for `waitMs`. The work must call
   * `lock.assertHeld()` (or honour `lock.signal`) before committing anything that needs the lock.
   */
  async withLock<T>(name: string, options: WithLockOptions, work: (lock: HeldLock) => Promise<T>): Promise<T> {
    const renewIntervalMs = options.renewIntervalMs ?? Math.floor(options.ttlMs / 3);
    if (!Number.isFinite(renewIntervalMs) || renewIntervalMs <= 0 || renewIntervalMs >= options.ttlMs) {
      throw new StateError('INVALID_ARGUMENT', 'renewIntervalMs must be positive and shorter than ttlMs');
    }
    const lease = await this.acquire(name, options);
    if (lease === null) {
      throw new StateError('LOCK_TIMEOUT', `lock "${name}" stayed held elsewhere for ${options.waitMs ?? 0} ms`);
    }
    const keeper = new LockKeeper(lease, {
      clock: this.clock,
      renewIntervalMs,
      renew: (current) => this.renew(current),
      onRenewalError: (error) =>
        this.logger.warn(`Renewing lock "${name}" failed, will retry: ${(error as Error).message}`),
    });
    this.keepers.add(keeper);
    keeper.start();
    try {
      return await work(keeper);
    } finally {
      keeper.stop();
      this.keepers.delete(keeper);
      if (!this.closed) {
        // A failed release is harmless: the lock still expires after its TTL.
        await this.release(keeper.lease).catch((error: unknown) =>
          this.logger.warn(`Releasing lock "${name}" failed; it will expire: ${(error as Error).message}`),
        );
      }
    }
  }

  // ---- counters ----

  /** Adds `by` (default 1, may be negative) and returns the new value. */
  abstract incrementCounter(name: string, by?: number): Promise<number>;

  /** 0 for a counter never incremented. */
  abstract getCounter(name: string): Promise<number>;

  // ---- pub/sub ----

  /**
   * Sends a JSON-serialisable message to every subscriber of the channel on every gateway, this one included.
   * Delivery is at most once: a gateway that was disconnected may have missed messages, and should drop what
   * it caches when `onHealthChange` reports the store up again.
   */
  abstract publish(channel: string, message: unknown): Promise<void>;

  /**
   * Calls `handler` with each message published on the channel from the moment this resolves. The message is
   * parsed JSON, not checked against `T`. Resolves to a function that stops the handler.
   */
  abstract subscribe<T = unknown>(channel: string, handler: MessageHandler<T>): Promise<Unsubscribe>;

  // ---- sessions ----

  /** Creates or replaces the session; it expires `ttlMs` after this and after each heartbeat. */
  abstract registerSession(id: string, info: SessionInfo, ttlMs: number): Promise<void>;

  /** Extends a live session by its TTL. False when it is unknown or already expired: register it again. */
  abstract heartbeat(id: string): Promise<boolean>;

  /** Every registered session, expired ones not yet reaped included, ordered by id. */
  abstract listSessions(): Promise<SessionRecord[]>;

  /** Removes a session at once (clean shutdown) and releases its locks; null when it was not registered. */
  abstract endSession(id: string): Promise<ReapedSession | null>;

  /**
   * Removes every session expired at `now` and releases the locks they still held. `now` defaults to the
   * store's clock (the Redis server's clock for Redis, so that gateways with skewed clocks agree).
   */
  abstract reapExpiredSessions(now?: number): Promise<ReapedSession[]>;

  // ---- health and lifecycle ----

  health(): StateHealth {
    return { ...this.currentHealth };
  }

  /** Calls `listener` on every status change; returns a function that stops it. */
  onHealthChange(listener: HealthListener): () => void {
    this.healthListeners.add(listener);
    return () => this.healthListeners.delete(listener);
  }

  /** Stops lock renewal (those locks are lost), closes connections. Later calls reject with CLOSED. */
  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    for (const keeper of this.keepers) {
      keeper.stop(new StateError('LOCK_LOST', `lock "${keeper.name}" is no longer held: the state store was closed`));
    }
    this.keepers.clear();
    await this.shutdown();
    this.setHealth('closed');
  }

  protected abstract shutdown(): Promise<void>;

  protected setHealth(status: StateHealthStatus, lastError?: string): void {
    if (lastError !== undefined) {
      this.currentHealth.lastError = lastError;
    }
    if (status === this.currentHealth.status) {
      return;
    }
    this.currentHealth = { ...this.currentHealth, status, since: Date.now() };
    const snapshot = this.health();
    for (const listener of this.healthListeners) {
      try {
        listener(snapshot);
      } catch (error) {
        this.logger.error(`A health listener threw: ${(error as Error).message}`);
      }
    }
  }

  protected assertOpen(): void {
    if (this.closed) {
      throw new StateError('CLOSED', 'the state store is closed');
    }
  }

  protected checkLockName(name: string): void {
    if (typeof name !== 'string' || name === '') {
      throw new StateError('INVALID_ARGUMENT', 'a lock name must be a non-empty string');
    }
  }

  protected checkTtl(ttlMs: number): void {
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0 || ttlMs > this.maxLockTtlMs) {
      throw new StateError('INVALID_ARGUMENT', `ttlMs must be a whole number in 1..${this.maxLockTtlMs}, got ${ttlMs}`);
    }
  }

  protected checkSessionTtl(ttlMs: number): void {
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
      throw new StateError('INVALID_ARGUMENT', `a session TTL must be a positive whole number, got ${ttlMs}`);
    }
  }

  protected checkName(kind: string, name: string): void {
    if (typeof name !== 'string' || name === '') {
      throw new StateError('INVALID_ARGUMENT', `a ${kind} must be a non-empty string`);
    }
  }

  protected checkIncrement(by: number): void {
    if (!Number.isSafeInteger(by)) {
      throw new StateError('INVALID_ARGUMENT', `a counter increment must be a whole number, got ${by}`);
    }
  }
}
