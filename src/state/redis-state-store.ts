import Redis from 'ioredis';
import { redactUrl } from '../config/config.loader';
import { type Clock, systemClock } from './clock';
import {
  ACQUIRE_LUA,
  RedisScript,
  RELEASE_LUA,
  RENEW_LUA,
  SESSION_HEARTBEAT_LUA,
  SESSION_LIST_LUA,
  SESSION_REAP_LUA,
  SESSION_REGISTER_LUA,
} from './redis-state.scripts';
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

export interface RedisStateStoreOptions {
  /** redis://[user:password@]host:port[/db] or rediss://… */
  url: string;
  /** Prepended to every key and channel, so that several filesystems (or test suites) can share one Redis. */
  keyPrefix?: string;
  clock?: Clock;
  /**
   * The longest lock TTL any gateway sharing this Redis may use (default 60 s). After Redis loses its data
   * (a restart without persistence), no lock is granted until the server has been up this long, so that every
   * lease granted before the loss has expired in its holder's eyes first. Every gateway must use one value.
   */
  maxLockTtlMs?: number;
  /** A command not answered within this time fails with UNAVAILABLE (default 5 s). */
  commandTimeoutMs?: number;
  /** Default 5 s. */
  connectTimeoutMs?: number;
  /** Shown by CLIENT LIST (default "riverfs"). */
  connectionName?: string;
}

interface Subscription {
  handler: MessageHandler<unknown>;
}

const REAP_BATCH = 100;
const QUIT_TIMEOUT_MS = 1000;

const SCRIPTS = {
  acquire: new RedisScript(ACQUIRE_LUA),
  renew: new RedisScript(RENEW_LUA),
  release: new RedisScript(RELEASE_LUA),
  sessionRegister: new RedisScript(SESSION_REGISTER_LUA),
  sessionHeartbeat: new RedisScript(SESSION_HEARTBEAT_LUA),
  sessionReap: new RedisScript(SESSION_REAP_LUA),
  sessionList: new RedisScript(SESSION_LIST_LUA),
};

/**
 * StateStore on Redis (ioredis), shared by every gateway of one filesystem.
 *
 * Connection loss: ioredis reconnects for ever (backing off up to 2 s); commands wait in its offline queue
 * and fail with UNAVAILABLE after `commandTimeoutMs`. `health()` and `onHealthChange` report the state of
 * both connections (commands and pub/sub). A lease's `expiresAt` is computed from the moment its command was
 * sent, minus an allowance for clock drift, so it never outlives the key in Redis; the lock keeper treats the
 * lease as lost once that time passes without a successful renewal.
 */
export class RedisStateStore extends StateStore {
  readonly backend = 'redis' as const;
  readonly keyPrefix: string;
  private readonly client: Redis;
  private subscriber: Redis | undefined;
  private readonly subscriptions = new Map<string, Set<Subscription>>();
  private subscriptionQueue: Promise<unknown> = Promise.resolve();
  private readonly redactedUrl: string;
  private everReady = false;
  private subscriberConnected = false;
  private uptimeWarningShown = false;

  constructor(options: RedisStateStoreOptions) {
    super(options.clock ?? systemClock, options.maxLockTtlMs ?? DEFAULT_MAX_LOCK_TTL_MS, 'connecting', 'redis');
    this.keyPrefix = options.keyPrefix ?? 'riverfs:';
    this.redactedUrl = redactUrl(options.url);
    this.client = new Redis(options.url, {
      connectionName: options.connectionName ?? 'riverfs',
      connectTimeout: options.connectTimeoutMs ?? 5000,
      commandTimeout: options.commandTimeoutMs ?? 5000,
      // The command timeout bounds every call; retries across reconnections are not limited separately.
      maxRetriesPerRequest: null,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
      enableOfflineQueue: true,
    });
    this.watch(this.client);
  }

  // ---- locks ----

  protected async attemptAcquire(name: string, token: string, options: AcquireOptions): Promise<AcquireAttempt> {
    const sessionId = options.sessionId ?? '';
    const keys = [
      this.key('lock', name),
      this.key('lock-fence'),
      this.key('marker'),
      this.key('sessions'),
      this.key('session-locks', sessionId),
    ];
    for (let attempt = 0; ; attempt += 1) {
      const startedAt = this.clock.now();
      let reply: number[];
      try {
        reply = this.integers(
          await this.run(() => SCRIPTS.acquire.run(this.client, keys, [token, options.ttlMs, sessionId, name])),
        );
      } catch (error) {
        // The try may still reach Redis later (it waits in the offline queue); this release, queued behind
        // it, frees the lock again instead of leaving it held by a token nobody knows.
        if (!this.closed) {
          SCRIPTS.release
            .run(this.client, [keys[0]], [token, this.key('session-locks', ''), name])
            .catch(() => undefined);
        }
        throw error;
      }
      switch (reply[0]) {
        case 1:
          return {
            lease: {
              name,
              token,
              fencingToken: reply[1],
              expiresAt: this.leaseExpiry(startedAt, options.ttlMs, reply[2]),
              ttlMs: options.ttlMs,
              sessionId: options.sessionId,
            },
          };
        case 0:
          return { retryAfterMs: reply[1] > 0 ? reply[1] : 1 };
        case -1:
          throw new StateError('SESSION_UNKNOWN', `session "${sessionId}" is not registered or has expired`);
        case -2: {
          const waitMs = await this.markStateIfSafe();
          if (waitMs > 0 || attempt > 0) {
            return { retryAfterMs: Math.max(waitMs, 1) };
          }
          break;
        }
        default:
          throw new Error(`unexpected reply from the acquire script: ${JSON.stringify(reply)}`);
      }
    }
  }

  async renew(lease: LockLease, ttlMs = lease.ttlMs): Promise<LockLease | null> {
    this.checkTtl(ttlMs);
    const startedAt = this.clock.now();
    const reply = this.integers(
      await this.run(() =>
        SCRIPTS.renew.run(this.client, [this.key('lock', lease.name), this.key('sessions')], [lease.token, ttlMs]),
      ),
    );
    if (reply[0] !== 1) {
      return null;
    }
    return { ...lease, ttlMs, expiresAt: this.leaseExpiry(startedAt, ttlMs, reply[1]) };
  }

  async release(lease: LockLease): Promise<boolean> {
    const reply = await this.run(() =>
      SCRIPTS.release.run(
        this.client,
        [this.key('lock', lease.name)],
        [lease.token, this.key('session-locks', ''), lease.name],
      ),
    );
    return reply === 1;
  }

  // ---- counters ----

  async incrementCounter(name: string, by = 1): Promise<number> {
    this.checkName('counter name', name);
    this.checkIncrement(by);
    return this.run(() => this.client.incrby(this.key('counter', name), by));
  }

  async getCounter(name: string): Promise<number> {
    this.checkName('counter name', name);
    const value = await this.run(() => this.client.get(this.key('counter', name)));
    return value === null ? 0 : Number(value);
  }

  // ---- pub/sub ----

  async publish(channel: string, message: unknown): Promise<void> {
    this.checkName('channel', channel);
    const text = JSON.stringify(message);
    if (text === undefined) {
      throw new StateError('INVALID_ARGUMENT', 'a message must be JSON-serialisable');
    }
    await this.run(() => this.client.publish(this.key('channel', channel), text));
  }

  async subscribe<T = unknown>(channel: string, handler: MessageHandler<T>): Promise<Unsubscribe> {
    this.checkName('channel', channel);
    this.assertOpen();
    const fullChannel = this.key('channel', channel);
    const subscription: Subscription = { handler: handler as MessageHandler<unknown> };
    // Serialised, so that a SUBSCRIBE and an UNSUBSCRIBE of one channel never overtake each other.
    await this.serialiseSubscriptions(async () => {
      const existing = this.subscriptions.get(fullChannel);
      if (existing) {
        existing.add(subscription);
        return;
      }
      this.subscriptions.set(fullChannel, new Set([subscription]));
      try {
        await this.run(() => this.subscriberClient().subscribe(fullChannel));
      } catch (error) {
        this.subscriptions.delete(fullChannel);
        throw error;
      }
    });
    return () =>
      this.serialiseSubscriptions(async () => {
        const set = this.subscriptions.get(fullChannel);
        if (!set?.delete(subscription) || set.size > 0) {
          return;
        }
        this.subscriptions.delete(fullChannel);
        if (!this.closed && this.subscriber) {
          const subscriber = this.subscriber;
          await this.run(() => subscriber.unsubscribe(fullChannel));
        }
      });
  }

  // ---- sessions ----

  async registerSession(id: string, info: SessionInfo, ttlMs: number): Promise<void> {
    this.checkName('session id', id);
    this.checkSessionTtl(ttlMs);
    await this.run(() =>
      SCRIPTS.sessionRegister.run(
        this.client,
        [this.key('session', id), this.key('sessions')],
        [id, JSON.stringify(info), ttlMs],
      ),
    );
  }

  async heartbeat(id: string): Promise<boolean> {
    this.checkName('session id', id);
    const reply = await this.run(() =>
      SCRIPTS.sessionHeartbeat.run(
        this.client,
        [this.key('session', id), this.key('sessions'), this.key('session-locks', id)],
        [id, this.key('lock', '')],
      ),
    );
    return reply === 1;
  }

  async listSessions(): Promise<SessionRecord[]> {
    const reply = await this.run(() => SCRIPTS.sessionList.run(this.client, [this.key('sessions')], [this.keyPrefix]));
    return this.rows(reply)
      .map(([id, info, ttlMs, registeredAt, heartbeatAt, expiresAt]) => ({
        id: id,
        info: this.parseInfo(info) ?? {},
        ttlMs: Number(ttlMs),
        registeredAt: Number(registeredAt),
        heartbeatAt: Number(heartbeatAt),
        expiresAt: Number(expiresAt),
      }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async endSession(id: string): Promise<ReapedSession | null> {
    this.checkName('session id', id);
    const reaped = await this.reap('one', id);
    return reaped[0] ?? null;
  }

  async reapExpiredSessions(now?: number): Promise<ReapedSession[]> {
    if (now !== undefined && !Number.isFinite(now)) {
      throw new StateError('INVALID_ARGUMENT', `now must be a number, got ${now}`);
    }
    const all: ReapedSession[] = [];
    for (;;) {
      const batch = await this.reap('expired', now === undefined ? '' : String(Math.floor(now)));
      all.push(...batch);
      if (batch.length < REAP_BATCH) {
        return all;
      }
    }
  }

  // ---- scripts of modules built on this store ----

  /**
   * Runs a Lua script of a module that keeps its own records beside this store's (file locks), on this
   * store's connection and with its error handling. `keys` are given without the key prefix; `keyPrefix` is
   * there for a script that must name further keys itself. The driver stays inside: callers see a reply.
   */
  async runScript(script: RedisScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return this.run(() =>
      script.run(
        this.client,
        keys.map((key) => this.keyPrefix + key),
        args,
      ),
    );
  }

  // ---- lifecycle ----

  protected async shutdown(): Promise<void> {
    const clients = this.subscriber ? [this.client, this.subscriber] : [this.client];
    await Promise.all(
      clients.map(async (client) => {
        if (client.status === 'ready') {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            client.quit().catch(() => undefined),
            new Promise((resolve) => (timer = setTimeout(resolve, QUIT_TIMEOUT_MS))),
          ]);
          clearTimeout(timer);
        }
        client.disconnect();
      }),
    );
  }

  // ---- internals ----

  private key(kind: string, name?: string): string {
    return name === undefined ? `${this.keyPrefix}${kind}` : `${this.keyPrefix}${kind}:${name}`;
  }

  /** Runs a Redis call, turning connection failures into UNAVAILABLE; a reply error is a bug and passes as is. */
  private async run<T>(call: () => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      return await call();
    } catch (error) {
      if (error instanceof StateError || (error instanceof Error && error.name === 'ReplyError')) {
        throw error;
      }
      if (this.closed) {
        throw new StateError('CLOSED', 'the state store is closed', { cause: error });
      }
      throw new StateError('UNAVAILABLE', `Redis at ${this.redactedUrl}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /**
   * The holder's view of when the lease ends: from when the command was sent (Redis started the TTL later),
   * bounded by the session's remaining life, less 1 % + 2 ms for the two clocks running at different rates.
   */
  private leaseExpiry(startedAt: number, ttlMs: number, sessionRemainingMs: number): number {
    const span = sessionRemainingMs >= 0 ? Math.min(ttlMs, sessionRemainingMs) : ttlMs;
    return startedAt + span - (Math.ceil(span / 100) + 2);
  }

  /**
   * The state marker is missing: either this prefix was never used, or Redis lost its data and may have lost
   * locks whose holders still think they hold them. Redis's uptime tells the two apart well enough: once the
   * server has been up for the longest lock TTL, every lease granted before it started has expired.
   * Returns 0 when the marker was set (retry now), else how long to wait.
   */
  private async markStateIfSafe(): Promise<number> {
    const info = await this.run(() => this.client.info('server'));
    const match = /^uptime_in_seconds:(\d+)/m.exec(info);
    if (!match) {
      throw new Error('INFO server has no uptime_in_seconds');
    }
    const uptimeMs = Number(match[1]) * 1000;
    if (uptimeMs >= this.maxLockTtlMs) {
      await this.run(() => this.client.set(this.key('marker'), new Date().toISOString(), 'NX'));
      return 0;
    }
    if (!this.uptimeWarningShown) {
      this.uptimeWarningShown = true;
      this.logger.warn(
        `Redis at ${this.redactedUrl} has no RiverFS state and started ${uptimeMs / 1000} s ago: no lock is ` +
          `granted until it has been up ${this.maxLockTtlMs / 1000} s, in case it lost locks still held`,
      );
    }
    return this.maxLockTtlMs - uptimeMs;
  }

  private async reap(mode: 'one' | 'expired', arg: string): Promise<ReapedSession[]> {
    const reply = await this.run(() =>
      SCRIPTS.sessionReap.run(this.client, [this.key('sessions')], [this.keyPrefix, mode, arg, REAP_BATCH]),
    );
    if (!Array.isArray(reply)) {
      throw new Error(`unexpected reply from the reap script: ${JSON.stringify(reply)}`);
    }
    return reply.map((row: unknown) => {
      const [id, info, released] = row as [string, string, string[]];
      return { id, info: this.parseInfo(info), releasedLocks: [...released].sort() };
    });
  }

  private parseInfo(text: string): SessionInfo | undefined {
    if (text === '') {
      return undefined;
    }
    try {
      return JSON.parse(text) as SessionInfo;
    } catch {
      return undefined;
    }
  }

  private integers(reply: unknown): number[] {
    if (!Array.isArray(reply) || !reply.every((value) => typeof value === 'number')) {
      throw new Error(`unexpected reply from a lock script: ${JSON.stringify(reply)}`);
    }
    return reply;
  }

  private rows(reply: unknown): string[][] {
    if (!Array.isArray(reply)) {
      throw new Error(`unexpected reply from a listing script: ${JSON.stringify(reply)}`);
    }
    return reply as string[][];
  }

  private subscriberClient(): Redis {
    if (!this.subscriber) {
      const subscriber = this.client.duplicate({ connectionName: `${this.client.options.connectionName}:sub` });
      subscriber.on('message', (channel: string, text: string) => this.dispatch(channel, text));
      subscriber.once('ready', () => (this.subscriberConnected = true));
      this.watch(subscriber);
      this.subscriber = subscriber;
    }
    return this.subscriber;
  }

  private dispatch(fullChannel: string, text: string): void {
    const subscriptions = this.subscriptions.get(fullChannel);
    if (!subscriptions) {
      return;
    }
    const channel = fullChannel.slice(this.key('channel', '').length);
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      this.logger.warn(`Dropped a message on channel "${channel}" that is not JSON`);
      return;
    }
    for (const subscription of [...subscriptions]) {
      try {
        subscription.handler(message, channel);
      } catch (error) {
        this.logger.error(`A handler of channel "${channel}" threw: ${(error as Error).message}`);
      }
    }
  }

  private serialiseSubscriptions(work: () => Promise<void>): Promise<void> {
    const next = this.subscriptionQueue.then(work);
    this.subscriptionQueue = next.catch(() => undefined);
    return next;
  }

  private watch(client: Redis): void {
    client.on('ready', () => this.updateHealth());
    client.on('close', () => this.updateHealth());
    client.on('end', () => this.updateHealth());
    client.on('error', (error: Error) => {
      this.setHealth(this.health().status, error.message);
      this.updateHealth();
    });
  }

  private computeStatus(): 'connecting' | 'up' | 'down' | 'closed' {
    if (this.closed) {
      return 'closed';
    }
    // A subscriber connection still making its first connection is not an outage.
    const subscriberReady = !this.subscriber || !this.subscriberConnected || this.subscriber.status === 'ready';
    const ready = this.client.status === 'ready' && subscriberReady;
    if (ready) {
      this.everReady = true;
      return 'up';
    }
    return this.everReady ? 'down' : 'connecting';
  }

  private updateHealth(): void {
    const before = this.health().status;
    const status = this.computeStatus();
    if (status === before || status === 'closed') {
      return;
    }
    this.setHealth(status);
    if (status === 'down') {
      const reason = this.health().lastError;
      this.logger.warn(`Lost the connection to Redis at ${this.redactedUrl}${reason ? ` (${reason})` : ''}; retrying`);
    } else if (status === 'up' && before === 'down') {
      this.logger.log(`Reconnected to Redis at ${this.redactedUrl}`);
    }
  }
}
