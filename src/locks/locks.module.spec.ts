import { Global, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { FlockOperation } from '../fuse-lowlevel/types';
import { InProcessStateStore } from '../state/in-process-state-store';
import { StateStore } from '../state/state-store';
import { FileLockService } from './file-lock.service';
import { LocksModule } from './locks.module';

const store = new InProcessStateStore();

/** Stands for the application's global StateModule. */
@Global()
@Module({ providers: [{ provide: StateStore, useValue: store }], exports: [StateStore] })
class TestStateModule {}

describe('LocksModule', () => {
  afterAll(async () => {
    await store.close();
  });

  it('starts the lock session with the application and releases its locks and ends it at shutdown', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [TestStateModule, LocksModule.forRoot({ sessionInfo: { mountpoint: '/mnt/test' } })],
    }).compile();
    const app = moduleRef.createNestApplication();
    await app.init();
    const locks = moduleRef.get(FileLockService);
    const session = locks.sessionId;
    expect((await store.listSessions()).map((record) => record.id)).toEqual([session]);
    await locks.flock(5, 1n, FlockOperation.exclusive | FlockOperation.nonBlocking);

    await app.close();
    expect(await store.listSessions()).toEqual([]);
    const other = new FileLockService(store);
    await other.start();
    await expect(other.flock(5, 2n, FlockOperation.exclusive | FlockOperation.nonBlocking)).resolves.toBeUndefined();
    await other.stop();
  });
});
