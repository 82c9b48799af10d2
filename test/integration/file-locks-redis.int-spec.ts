import { FileLockService, type FileLockServiceOptions } from '../../src/locks';
import { RedisFileLockTable } from '../../src/locks/redis-file-lock-table';
import { RedisStateStore } from '../../src/state/redis-state-store';
import { createTestRedis } from '../support/redis.helper';
import { describeFileLockContract, describeFileLockTableWaits, type LockGateway } from './file-locks.contract';

const testRedis = createTestRedis('file-locks');
let prefixes = 0;

const tableStores: RedisStateStore[] = [];

afterAll(async () => {
  for (const store of tableStores.splice(0)) {
    await store.close();
  }
  await testRedis.cleanup();
});

describeFileLockTableWaits('Redis', () => {
  prefixes += 1;
  const store = new RedisStateStore({
    url: testRedis.url,
    keyPrefix: `${testRedis.keyPrefix}${prefixes}:`,
    commandTimeoutMs: 3000,
  });
  tableStores.push(store);
  return Promise.resolve(new RedisFileLockTable(store));
});

describeFileLockContract('Redis', () => {
  // A prefix of its own per test, under the suite's, so that `cleanup()` still removes every key.
  prefixes += 1;
  const keyPrefix = `${testRedis.keyPrefix}${prefixes}:`;
  const gateways: LockGateway[] = [];
  return Promise.resolve({
    async gateway(options: FileLockServiceOptions = {}) {
      const store = new RedisStateStore({ url: testRedis.url, keyPrefix, commandTimeoutMs: 3000 });
      const gateway: LockGateway = { store, locks: new FileLockService(store, options) };
      gateways.push(gateway);
      await gateway.locks.start();
      return gateway;
    },
    // Sessions expire by the Redis server's clock, which the test cannot move: the test polls instead.
    advance: () => Promise.resolve(),
    async crash(gateway: LockGateway) {
      // A closed store neither heartbeats nor releases: the gateway's locks live on until its session expires.
      await gateway.store.close();
      await gateway.locks.stop();
    },
    async cleanup() {
      for (const gateway of gateways.splice(0)) {
        await gateway.locks.stop();
        await gateway.store.close();
      }
    },
  });
});
