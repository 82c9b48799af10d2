import { type Clock, systemClock } from './clock';
import { StateError } from './state.errors';
import {
  type AcquireAttempt,
  type AcquireOptions,
  DEFAULT_MAX_LOCK_TTL_MS,
  type LockLease,
  type MessageHandler,
  type ReapedSession,
  type SessionInfo,
  type SessionRecord,
  StateStore,
  type Unsubscribe,
} from './state-store';

interface LockEntry {
  token: string;
  fencingToken: number;
  sessionId: string | undefined;
  expiresAt: number;
}

interface SessionEntry {
  info: SessionInfo;
  ttlMs: number;
  registeredAt: number;
  heartbeatAt: number;
  expiresAt: number;
  locks: Set<string>;
}

interface Subscriber {
  owner: InProcessStateStore;
  channel: string;
  handler: MessageHandler<unknown>;
}

/**
 * The state behind in-process stores. Several stores given the same instance behave like gateways sharing
 * one Redis, which lets tests of multi-gateway behaviour run without Redis.
 */
export class InProcessStateData {
  readonly locks = new Map<string, LockEntry>();
  lastFencingToken = 0;
  readonly counters = new Map<string, number>();
  readonly sessions = new Map<string, SessionEntry>();
  readonly subscribers = new Set<Subscriber>();
}

export interface InProcessStateStoreOptions {
  clock?: Clock;
  /** Share state with other stores (default: a store of its own). */
  data?: InProcessStateData;
  maxLockTtlMs?: number;
}

/** The embedded default: all state in this process, for a single gateway. */
export class InProcessStateStore extends StateStore {
  readonly backend = 'in-process' as const;
  private readonly data: InProcessStateData;

  constructor(options: InProcessStateStoreOptions = {}) {
    super(options.clock ?? systemClock, options.maxLockTtlMs ?? DEFAULT_MAX_LOCK_TTL_MS, 'up', 'in-process');
    this.data = options.data ?? new InProcessStateData();
  }

  // ---- locks ----

  protected attemptAcquire(name: string, token: string, options: AcquireOptions): Promise<AcquireAttempt> {
    return this.run(() => {
      const now = this.clock.now();
      const held = this.liveLock(name, now);
      if (held) {
        return { retryAfterMs: held.expiresAt - now };
      }
      let expiresAt = now + options.ttlMs;
      if (options.sessionId !== undefined) {
        const session = this.liveSession(options.sessionId, now);
        if (!session) {
          throw new StateError('SESSION_UNKNOWN', `session "${options.sessionId}" is not registered or has expired`);
        }
        session.locks.add(name);
        expiresAt = Math.min(expiresAt, session.expiresAt);
      }
      const fencingToken = this.nextFencingToken(now);
      this.data.locks.set(name, {
        token,
        fencingToken,
        sessionId: options.sessionId,
        expiresAt: now + options.ttlMs,
      });
      return { lease: { name, token, fencingToken, expiresAt, ttlMs: options.ttlMs, sessionId: options.sessionId } };
    });
  }

  renew(lease: LockLease, ttlMs = lease.ttlMs): Promise<LockLease | null> {
    return this.run(() => {
      this.checkTtl(ttlMs);
      const now = this.clock.now();
      const held = this.liveLock(lease.name, now);
      if (!held || held.token !== lease.token) {
        return null;
      }
      let expiresAt = now + ttlMs;
      if (held.sessionId !== undefined) {
        const session = this.liveSession(held.sessionId, now);
        if (!session) {
          // An expired session is dead even before it is reaped; its locks must not live on.
          return null;
        }
        expiresAt = Math.min(expiresAt, session.expiresAt);
      }
      held.expiresAt = now + ttlMs;
      return { ...lease, ttlMs, expiresAt };
    });
  }

  release(lease: LockLease): Promise<boolean> {
    return this.run(() => {
      const held = this.liveLock(lease.name, this.clock.now());
      if (!held || held.token !== lease.token) {
        return false;
      }
      this.deleteLock(lease.name, held);
      return true;
    });
  }

  // ---- counters ----

  incrementCounter(name: string, by = 1): Promise<number> {
    return this.run(() => {
      this.checkName('counter name', name);
      this.checkIncrement(by);
      const value = (this.data.counters.get(name) ?? 0) + by;
      this.data.counters.set(name, value);
      return value;
    });
  }

  getCounter(name: string): Promise<number> {
    return this.run(() => {
      this.checkName('counter name', name);
      return this.data.counters.get(name) ?? 0;
    });
  }

  // ---- pub/sub ----

  publish(channel: string, message: unknown): Promise<void> {
    return this.run(() => {
      this.checkName('channel', channel);
      // Serialised as over Redis, so each subscriber gets its own copy and unserialisable values fail alike.
      const text = JSON.stringify(message);
      if (text === undefined) {
        throw new StateError('INVALID_ARGUMENT', 'a message must be JSON-serialisable');
      }
      const targets = [...this.data.subscribers].filter((s) => s.channel === channel);
      // Delivered later, as over a network, so a handler never runs inside the publisher's call.
      setImmediate(() => {
        for (const subscriber of targets) {
          if (!this.data.subscribers.has(subscriber)) {
            continue;
          }
          try {
            subscriber.handler(JSON.parse(text), channel);
          } catch (error) {
            subscriber.owner.logger.error(`A handler of channel "${channel}" threw: ${(error as Error).message}`);
          }
        }
      });
    });
  }

  subscribe<T = unknown>(channel: string, handler: MessageHandler<T>): Promise<Unsubscribe> {
    return this.run(() => {
      this.checkName('channel', channel);
      const subscriber: Subscriber = { owner: this, channel, handler: handler as MessageHandler<unknown> };
      this.data.subscribers.add(subscriber);
      return () => {
        this.data.subscribers.delete(subscriber);
        return Promise.resolve();
      };
    });
  }

  // ---- sessions ----

  registerSession(id: string, info: SessionInfo, ttlMs: number): Promise<void> {
    return this.run(() => {
      this.checkName('session id', id);
      this.checkSessionTtl(ttlMs);
      const now = this.clock.now();
      const existing = this.data.sessions.get(id);
      this.data.sessions.set(id, {
        info: JSON.parse(JSON.stringify(info)) as SessionInfo,
        ttlMs,
        registeredAt: now,
        heartbeatAt: now,
        expiresAt: now + ttlMs,
        locks: existing?.locks ?? new Set(),
      });
    });
  }

  heartbeat(id: string): Promise<boolean> {
    return this.run(() => {
      this.checkName('session id', id);
      const now = this.clock.now();
      const session = this.liveSession(id, now);
      if (!session) {
        return false;
      }
      session.heartbeatAt = now;
      session.expiresAt = now + session.ttlMs;
      for (const name of session.locks) {
        // Forget locks that expired or changed hands, so a long-lived session's list stays short.
        if (this.liveLock(name, now)?.sessionId !== id) {
          session.locks.delete(name);
        }
      }
      return true;
    });
  }

  listSessions(): Promise<SessionRecord[]> {
    return this.run(() => {
      return [...this.data.sessions.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([id, session]) => ({
          id,
          info: JSON.parse(JSON.stringify(session.info)) as SessionInfo,
          ttlMs: session.ttlMs,
          registeredAt: session.registeredAt,
          heartbeatAt: session.heartbeatAt,
          expiresAt: session.expiresAt,
        }));
    });
  }

  endSession(id: string): Promise<ReapedSession | null> {
    return this.run(() => {
      this.checkName('session id', id);
      return this.removeSession(id);
    });
  }

  reapExpiredSessions(now = this.clock.now()): Promise<ReapedSession[]> {
    return this.run(() => {
      const reaped: ReapedSession[] = [];
      for (const [id, session] of [...this.data.sessions]) {
        if (session.expiresAt <= now) {
          reaped.push(this.removeSession(id)!);
        }
      }
      return reaped;
    });
  }

  protected shutdown(): Promise<void> {
    for (const subscriber of [...this.data.subscribers]) {
      if (subscriber.owner === this) {
        this.data.subscribers.delete(subscriber);
      }
    }
    return Promise.resolve();
  }

  // ---- internals ----

  /** Runs synchronous work as the port's async call, so that a bad argument rejects rather than throws. */
  private run<T>(work: () => T): Promise<T> {
    return new Promise((resolve) => {
      this.assertOpen();
      resolve(work());
    });
  }

  private liveLock(name: string, now: number): LockEntry | undefined {
    const entry = this.data.locks.get(name);
    if (entry && entry.expiresAt <= now) {
      this.deleteLock(name, entry);
      return undefined;
    }
    return entry;
  }

  private deleteLock(name: string, entry: LockEntry): void {
    this.data.locks.delete(name);
    if (entry.sessionId !== undefined) {
      this.data.sessions.get(entry.sessionId)?.locks.delete(name);
    }
  }

  private liveSession(id: string, now: number): SessionEntry | undefined {
    const session = this.data.sessions.get(id);
    return session && session.expiresAt > now ? session : undefined;
  }

  private nextFencingToken(now: number): number {
    if (this.data.lastFencingToken === 0) {
      // Seeded from the clock, like the Redis store, so tokens handed out after a restart still go up.
      this.data.lastFencingToken = Math.floor(now) * 1000;
    }
    this.data.lastFencingToken += 1;
    return this.data.lastFencingToken;
  }

  private removeSession(id: string): ReapedSession | null {
    const session = this.data.sessions.get(id);
    if (!session) {
      return null;
    }
    const releasedLocks: string[] = [];
    for (const name of session.locks) {
      const entry = this.data.locks.get(name);
      if (entry?.sessionId === id) {
        this.data.locks.delete(name);
        if (entry.expiresAt > this.clock.now()) {
          releasedLocks.push(name);
        }
      }
    }
    this.data.sessions.delete(id);
    return { id, info: session.info, releasedLocks: releasedLocks.sort() };
  }
}
