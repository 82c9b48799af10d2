import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { Test } from '@nestjs/testing';
import Redis from 'ioredis';
import { systemClock } from '../../src/state/clock';
import { RedisStateStore, type RedisStateStoreOptions } from '../../src/state/redis-state-store';
import { isStateError } from '../../src/state/state.errors';
import { StateModule } from '../../src/state/state.module';
import { StateStore, type StateHealthStatus } from '../../src/state/state-store';
import { createTestRedis } from '../support/redis.helper';
import { describeStateStoreContract, eventually } from './state-store.contract';

const testRedis = createTestRedis('state-store');
let prefixes = 0;

/** A prefix of its own under the suite's prefix, so that `cleanup()` still removes every key. */
function subPrefix(): string {
  prefixes += 1;
  return `${testRedis.keyPrefix}${prefixes}:`;
}

afterAll(async () => {
  await testRedis.cleanup();
});

describeStateStoreContract('RedisStateStore', () => {
  const keyPrefix = subPrefix();
  return Promise.resolve({
    createStore: () => new RedisStateStore({ url: testRedis.url, keyPrefix, commandTimeoutMs: 3000 }),
    now: () => systemClock.now(),
    advance: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    shortTtlMs: 300,
    cleanup: () => Promise.resolve(),
  });
});

const stores: RedisStateStore[] = [];

function openStore(options: Partial<RedisStateStoreOptions> = {}): RedisStateStore {
  const store = new RedisStateStore({ url: testRedis.url, keyPrefix: subPrefix(), ...options });
  stores.push(store);
  return store;
}

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withAdmin<T>(url: string, work: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await work(client);
  } finally {
    client.disconnect();
  }
}

async function scanKeys(pattern: string): Promise<string[]> {
  return withAdmin(testRedis.url, async (client) => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  });
}

function recordHealth(store: StateStore): StateHealthStatus[] {
  const statuses: StateHealthStatus[] = [];
  store.onHealthChange((health) => statuses.push(health.status));
  return statuses;
}

/** A throw-away redis-server of our own on a free port, so that a test can take it down and bring it back. */
class SpareRedis {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  static async start(): Promise<SpareRedis> {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    server.close();
    await once(server, 'close');
    const spare = new SpareRedis(port);
    await spare.restart();
    return spare;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server (empty: nothing is saved) and resolves once it answers. */
  async restart(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    this.child = child;
    await eventually('the spare Redis to answer', () =>
      withAdmin(this.url, async (client) => (await client.ping()) === 'PONG').catch(() => false),
    );
  }

  /** Kills the server as a crash would. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  }
}

describe('RedisStateStore', () => {
  it('should keep its keys and channels under its own prefix', async () => {
    const [one, two] = [openStore(), openStore()];
    const unique = `isolation-${process.pid}-${Date.now()}`;

    expect(await one.acquire(unique, { ttlMs: 30_000 })).not.toBeNull();
    expect(await two.acquire(unique, { ttlMs: 30_000 })).not.toBeNull();
    await one.registerSession(unique, {}, 30_000);
    await one.incrementCounter(unique);
    const keys = await scanKeys(`*${unique}*`);
    expect(keys.length).toBeGreaterThanOrEqual(4);
    expect(keys.every((key) => key.startsWith(one.keyPrefix) || key.startsWith(two.keyPrefix))).toBe(true);

    const received: unknown[] = [];
    await two.subscribe(unique, (message) => received.push(message));
    await two.subscribe('marker', (message) => received.push(message));
    await one.publish(unique, 'from the other prefix');
    await one.publish('marker', 'from the other prefix');
    await two.publish('marker', 'own');
    await eventually('the own marker', () => received.includes('own'));
    expect(received).toEqual(['own']);
  });

  it('should reconnect after its connection is killed and keep holding its lock', async () => {
    const connectionName = `riverfs-test-${process.pid}-${Date.now()}`;
    const store = openStore({ connectionName, commandTimeoutMs: 1000 });
    const other = new RedisStateStore({ url: testRedis.url, keyPrefix: store.keyPrefix });
    stores.push(other);
    const statuses = recordHealth(store);
    const ttlMs = 600;

    await store.withLock('dir:1', { ttlMs, renewIntervalMs: 100 }, async (lock) => {
      await eventually('the store to be up', () => store.health().status === 'up');
      const killed = await withAdmin(testRedis.url, async (admin) => {
        const list = (await admin.call('CLIENT', 'LIST')) as string;
        const ids = list
          .split('\n')
          .filter((line) => line.includes(` name=${connectionName} `))
          .map((line) => /\bid=(\d+)/.exec(line)![1]);
        for (const id of ids) {
          await admin.call('CLIENT', 'KILL', 'ID', id);
        }
        return ids.length;
      });
      expect(killed).toBe(1);

      await eventually('the store to be up again', () => statuses.includes('down') && store.health().status === 'up');
      // Longer than the TTL: the lock can only still be held if renewal went on over the new connection.
      await sleep(ttlMs + 200);
      expect(lock.lost).toBe(false);
      expect(await other.acquire('dir:1', { ttlMs })).toBeNull();
    });

    expect(statuses).toEqual(['up', 'down', 'up']);
    expect(await other.acquire('dir:1', { ttlMs })).not.toBeNull();
  });

  describe('when its Redis server goes away', () => {
    let spare: SpareRedis;

    beforeAll(async () => {
      spare = await SpareRedis.start();
    });

    afterAll(async () => {
      await spare.kill();
    });

    function spareStore(maxLockTtlMs: number): RedisStateStore {
      const store = new RedisStateStore({
        url: spare.url,
        keyPrefix: 'riverfs-test:',
        maxLockTtlMs,
        commandTimeoutMs: 300,
        connectTimeoutMs: 300,
      });
      stores.push(store);
      return store;
    }

    it('should report the outage and consider a held lock lost once its TTL could have passed', async () => {
      const store = spareStore(1000);
      const statuses = recordHealth(store);
      const ttlMs = 1000;
      let killedAt = 0;
      let lostAt = 0;
      let leaseAtLoss = 0;

      // A fresh server holds grants back for the longest TTL, hence the wait.
      await store.withLock('dir:1', { ttlMs, waitMs: 10_000, renewIntervalMs: 100 }, async (lock) => {
        lock.signal.addEventListener('abort', () => {
          lostAt = systemClock.now();
          leaseAtLoss = lock.lease.expiresAt;
        });
        await spare.kill();
        killedAt = systemClock.now();

        await eventually('the outage to be reported', () => store.health().status === 'down');
        await eventually('the lock to be given up', () => lock.signal.aborted, 5000);
        expect(isStateError(lock.signal.reason, 'LOCK_LOST')).toBe(true);
        await expect(store.getCounter('x')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      });

      // The last renewal was sent before the kill, and the lease was never assumed to last a TTL past it.
      expect(leaseAtLoss).toBeLessThanOrEqual(killedAt + ttlMs);
      expect(lostAt).toBeGreaterThanOrEqual(leaseAtLoss);
      expect(lostAt - leaseAtLoss).toBeLessThan(250);

      await spare.restart();
      await eventually('the store to be up again', () => store.health().status === 'up');
      expect(statuses[0]).toBe('up');
      expect(statuses.slice(-2)).toEqual(['down', 'up']);
      expect(await store.getCounter('x')).toBe(0);
    });

    it('should not grant a lock on a restarted, empty server before the old lease has run out', async () => {
      const ttlMs = 1500;
      const [a, b] = [spareStore(ttlMs), spareStore(ttlMs)];
      await spare.kill();
      await spare.restart();
      const first = (await a.acquire('dir:1', { ttlMs, waitMs: 10_000 }))!;
      expect(first).not.toBeNull();

      await spare.kill();
      await spare.restart();
      const restartedAt = systemClock.now();
      // A store that trusted the empty server would grant the lock now, while the first lease is still valid.
      expect(restartedAt).toBeLessThan(first.expiresAt);

      const second = await b.acquire('dir:1', { ttlMs, waitMs: 10_000 });
      const grantedAt = systemClock.now();

      expect(second).not.toBeNull();
      expect(grantedAt).toBeGreaterThanOrEqual(first.expiresAt);
      expect(second!.fencingToken).toBeGreaterThan(first.fencingToken);
    });
  });
});

describe('StateModule with Redis configured', () => {
  it('should provide a RedisStateStore and close it when the application shuts down', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [StateModule.forRoot({ redis: testRedis.url }, { keyPrefix: subPrefix() })],
    }).compile();
    const store = moduleRef.get(StateStore);

    expect(store).toBeInstanceOf(RedisStateStore);
    expect(await store.incrementCounter('boots')).toBe(1);
    await moduleRef.close();
    expect(store.health().status).toBe('closed');
  });
});
