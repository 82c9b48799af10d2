import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { HOW_TO_START_REDIS, TEST_REDIS_URL } from './services';

export interface TestRedis {
  url: string;
  /** Every key a test writes must start with this prefix; `cleanup()` deletes them all. */
  keyPrefix: string;
  cleanup(): Promise<void>;
}

async function withClient<T>(work: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw new Error(
      `Redis is not reachable at ${TEST_REDIS_URL} (${(error as Error).message}); ${HOW_TO_START_REDIS}`,
      { cause: error },
    );
  }
  try {
    return await work(client);
  } finally {
    client.disconnect();
  }
}

/** Fails with a message saying how to start Redis when it is down. */
export async function assertRedisReachable(): Promise<void> {
  await withClient(async (client) => {
    await client.ping();
  });
}

/** A key prefix of its own for one test suite, and a cleanup that removes every key under it. */
export function createTestRedis(label = 'test'): TestRedis {
  const keyPrefix = `riverfs-test:${label}:${process.pid}:${randomBytes(4).toString('hex')}:`;
  return {
    url: TEST_REDIS_URL,
    keyPrefix,
    async cleanup() {
      await withClient(async (client) => {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500);
          cursor = next;
          if (keys.length > 0) {
            await client.del(...keys);
          }
        } while (cursor !== '0');
      });
    },
  };
}
