import {
  FileLockService,
  type FileLockServiceOptions,
  type FileLockTable,
  InProcessFileLockTable,
} from '../../src/locks';
import { InProcessStateData, InProcessStateStore } from '../../src/state/in-process-state-store';
import { describeFileLockContract, describeFileLockTableWaits, type LockGateway } from './file-locks.contract';
import { ManualClock } from './state-store.contract';

describeFileLockTableWaits('the in-process state store', () =>
  Promise.resolve(
    new InProcessFileLockTable(new InProcessStateStore({ clock: new ManualClock(), data: new InProcessStateData() })),
  ),
);

describeFileLockContract('the in-process state store', () => {
  const clock = new ManualClock();
  const data = new InProcessStateData();
  const sessions = new InProcessStateStore({ clock, data });
  const table = new InProcessFileLockTable(sessions);
  const gateways: LockGateway[] = [];
  const dead = new Set<LockGateway>();

  /** The shared table as one gateway reaches it: unreachable once that gateway has crashed. */
  function tableOf(gateway: () => LockGateway): FileLockTable {
    const reach = <T>(work: () => Promise<T>): Promise<T> =>
      dead.has(gateway()) ? Promise.reject(new Error('this gateway is dead')) : work();
    return {
      load: (ino) => reach(() => table.load(ino)),
      store: (...args) => reach(() => table.store(...args)),
      inodesOf: (session) => reach(() => table.inodesOf(session)),
      waitFor: (...args) => reach(() => table.waitFor(...args)),
      stopWaiting: (waiter) => reach(() => table.stopWaiting(waiter)),
    };
  }

  return Promise.resolve({
    async gateway(options: FileLockServiceOptions = {}) {
      const store = new InProcessStateStore({ clock, data });
      const gateway: LockGateway = {
        store,
        locks: new FileLockService(store, { ...options, table: tableOf(() => gateway) }),
      };
      await gateway.locks.start();
      gateways.push(gateway);
      return gateway;
    },
    async advance(ms: number) {
      clock.advance(ms);
      await new Promise((resolve) => setImmediate(resolve));
    },
    async crash(gateway: LockGateway) {
      dead.add(gateway);
      await gateway.store.close();
      await gateway.locks.stop();
    },
    async cleanup() {
      for (const gateway of gateways.splice(0)) {
        await gateway.locks.stop();
        await gateway.store.close();
      }
      await sessions.close();
    },
  });
});
