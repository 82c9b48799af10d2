import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import type { DataSource } from 'typeorm';
import { openDataSource, runMigrations } from '../../src/metadata/data-source';
import { MetadataSessionService, SESSION_HEARTBEAT_MS } from '../../src/metadata/metadata-session.service';
import { toMs } from '../../src/metadata/metadata-txn.util';
import { MetadataModule, type MetadataModuleOptions } from '../../src/metadata/metadata.module';
import { MetadataStore } from '../../src/metadata/metadata.store';
import { ROOT_INO } from '../../src/metadata/metadata.types';
import { expectErrno, FakeClock, openStore } from './metadata-store.contract';

interface SessionRow {
  sid: number;
  info: unknown;
  heartbeatAt: number;
}

/** Polls until `accept` holds (the timer runs on its own schedule), failing with the last value at the deadline. */
async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`not reached within ${timeoutMs} ms; last seen ${JSON.stringify(value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('MetadataSessionService', () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-metasession-'));
  const cleanups: (() => Promise<unknown>)[] = [];
  let clock: FakeClock;
  let sequence = 0;

  beforeEach(() => {
    clock = new FakeClock();
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup();
    }
  });

  afterAll(() => {
    fs.rmSync(directory, { recursive: true, force: true });
  });

  function newDb(): string {
    sequence += 1;
    return `sqlite:${path.join(directory, `db-${sequence}`, 'metadata.sqlite')}`;
  }

  /** Compiles the module; the caller starts it (app.init()), and it is closed after the test at the latest. */
  async function compile(db: string, options: MetadataModuleOptions): Promise<TestingModule> {
    const app = await Test.createTestingModule({
      imports: [MetadataModule.forRoot({ db }, { clock, ...options })],
    }).compile();
    cleanups.push(() => app.close());
    return app;
  }

  /** A second connection to the same file, reading what the gateway committed (WAL lets it read alongside). */
  async function reader(db: string): Promise<DataSource> {
    const dataSource = await openDataSource(db);
    cleanups.push(() => dataSource.destroy());
    return dataSource;
  }

  async function sessions(dataSource: DataSource): Promise<SessionRow[]> {
    const rows = await dataSource.query<{ sid: unknown; info: string; heartbeatAt: unknown }[]>(
      'SELECT sid, info, heartbeat_at AS heartbeatAt FROM gateway_session ORDER BY sid',
    );
    return rows.map((row) => ({
      sid: Number(row.sid),
      info: JSON.parse(row.info),
      heartbeatAt: Number(row.heartbeatAt),
    }));
  }

  it('should open a session at bootstrap on an unref’d 12 s timer and close it at shutdown', async () => {
    const db = newDb();
    const intervals = jest.spyOn(global, 'setInterval');
    const app = await compile(db, { session: { mountpoint: '/mnt/river', version: '9.8.7' } });

    await app.init();

    const service = app.get(MetadataSessionService);
    const opened = await sessions(await reader(db));
    const timers = intervals.mock.calls.flatMap(([, ms], index) =>
      ms === SESSION_HEARTBEAT_MS ? [intervals.mock.results[index].value as NodeJS.Timeout] : [],
    );
    expect(opened).toEqual([
      {
        sid: service.sessionId,
        info: { host: os.hostname(), pid: process.pid, mountpoint: '/mnt/river', version: '9.8.7' },
        heartbeatAt: toMs(clock.now()),
      },
    ]);
    expect(timers.map((timer) => timer.hasRef())).toEqual([false]);

    await app.close();

    expect(await sessions(await reader(db))).toEqual([]);
    expect(service.sessionId).toBeNull();
  });

  it('should heartbeat and reap the session of a dead gateway on its timer', async () => {
    const db = newDb();
    await runMigrations(db);
    // A gateway that died without closing its session, while it kept an unlinked file open.
    const dead = await openStore(db, clock);
    await dead.store.initFilesystem({ uid: 0, gid: 0, mode: 0o755 });
    await dead.store.openSession({ host: 'dead', pid: 1 }, { ttlMs: 5_000 });
    const orphan = await dead.store.create(ROOT_INO, 'orphan', { uid: 0, gid: 0, mode: 0o644 });
    await dead.store.open(orphan.ino);
    await dead.store.unlink(ROOT_INO, 'orphan');
    await dead.dataSource.destroy();
    const app = await compile(db, { session: { intervalMs: 20 } });
    await app.init();
    const view = await reader(db);
    const now = clock.tick(6_000);

    const alive = await eventually(
      () => sessions(view),
      (rows) => rows.length === 1 && rows[0].heartbeatAt === toMs(now),
    );

    expect(alive[0].sid).toBe(app.get(MetadataSessionService).sessionId);
    await expectErrno(app.get(MetadataStore).getInode(orphan.ino), 'ENOENT');
  });

  it('should log a failed heartbeat or reap, never reject, and heartbeat again on the next beat', async () => {
    const db = newDb();
    const app = await compile(db, {});
    await app.init();
    const service = app.get(MetadataSessionService);
    const store = app.get(MetadataStore);
    const view = await reader(db);
    const openedAt = clock.now();
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(store, 'heartbeat').mockRejectedValueOnce(new Error('disk on fire'));
    jest.spyOn(store, 'reapExpiredSessions').mockRejectedValueOnce(new Error('reaper on fire'));
    clock.tick();

    await expect(service.tick()).resolves.toBeUndefined();
    const afterFailure = await sessions(view);
    const retriedAt = clock.tick();
    await service.tick();

    expect(warn.mock.calls.map(([message]) => String(message))).toEqual([
      expect.stringContaining('disk on fire'),
      expect.stringContaining('reaper on fire'),
    ]);
    expect(afterFailure.map((row) => row.heartbeatAt)).toEqual([toMs(openedAt)]);
    expect((await sessions(view)).map((row) => row.heartbeatAt)).toEqual([toMs(retriedAt)]);
  });

  it('should join a beat still running instead of starting a second one', async () => {
    const app = await compile(newDb(), {});
    await app.init();
    const service = app.get(MetadataSessionService);
    const heartbeat = jest.spyOn(app.get(MetadataStore), 'heartbeat');

    const first = service.tick();
    const second = service.tick();
    await Promise.all([first, second]);
    await service.tick();

    expect(second).toBe(first);
    expect(heartbeat).toHaveBeenCalledTimes(2);
  });

  it('should refuse to start when the session cannot be opened', async () => {
    const app = await Test.createTestingModule({
      imports: [MetadataModule.forRoot({ db: newDb() }, { clock, runMigrations: false })],
    }).compile();
    try {
      await expect(app.init()).rejects.toThrow(/no such table/);
    } finally {
      // After a failed init Nest's close() only rethrows that failure, running no shutdown hook.
      await app.get(MetadataStore).close();
    }
  });

  it('should refuse a heartbeat too slow to keep the session alive', () => {
    const store = {} as MetadataStore;

    expect(() => new MetadataSessionService(store, { intervalMs: 31_000 })).toThrow(/60000 ms session/);
    expect(() => new MetadataSessionService(store, { intervalMs: 600, ttlMs: 1000 })).toThrow(/at most half/);
    expect(new MetadataSessionService(store, { intervalMs: 500, ttlMs: 1000 }).sessionId).toBeNull();
  });

  it('should keep no session when turned off, for tools such as migrate', async () => {
    const db = newDb();
    const app = await compile(db, { session: false });
    await app.init();

    expect(() => app.get(MetadataSessionService)).toThrow();
    expect(await sessions(await reader(db))).toEqual([]);
    await expect(app.get(MetadataStore).open(ROOT_INO)).rejects.toThrow(/openSession/);
  });
});
