import mysql from 'mysql2/promise';
import { runMigrations } from '../../src/metadata/data-source';
import { ROOT_INO } from '../../src/metadata/metadata.types';
import { createTestDatabase, type TestDatabase } from '../support/mariadb.helper';
import { findInconsistencies } from './metadata-consistency';
import { FakeClock, openStore, type StoreHandle } from './metadata-store.contract';
import { runRandomWorkload, workloadSeed } from './metadata-workload';

describe('MetadataStore under concurrency (MariaDB)', () => {
  let database: TestDatabase;
  const gateways: StoreHandle[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('metaconc');
    await runMigrations(database.url);
    const clock = new FakeClock();
    // Two gateways on the same database, each with its own connection pool, as in production.
    for (let index = 0; index < 2; index += 1) {
      gateways.push(await openStore(database.url, clock, 8));
    }
    await gateways[0].store.initFilesystem({ uid: 0, gid: 0, mode: 0o755 });
    for (const [index, gateway] of gateways.entries()) {
      await gateway.store.openSession({ host: 'concurrency', pid: index + 1 });
    }
  });

  afterAll(async () => {
    for (const gateway of gateways) {
      await gateway.store.close();
    }
    await database?.drop();
  });

  it('should leave a consistent tree after many concurrent renames, creates, links and removals', async () => {
    const seed = workloadSeed();

    const result = await runRandomWorkload(
      gateways.map((gateway) => gateway.store),
      { workers: 6, opsPerWorker: 40, seed },
    );

    expect({ seed, unexpected: result.unexpected }).toEqual({ seed, unexpected: [] });
    expect(result.succeeded).toBeGreaterThan(80);
    expect(gateways.map((gateway) => gateway.store.stats().exhausted)).toEqual([0, 0]);
    expect({ seed, problems: await findInconsistencies(gateways[0].dataSource) }).toEqual({ seed, problems: [] });
  });

  it('should retry a transaction InnoDB picked as a deadlock victim without the caller seeing it', async () => {
    const { store } = gateways[0];
    const owner = { uid: 1, gid: 1, mode: 0o755 };
    const from = await store.mkdir(ROOT_INO, 'deadlock-from', owner);
    const to = await store.mkdir(ROOT_INO, 'deadlock-to', owner);
    const file = await store.create(from.ino, 'f', owner);
    const before = store.stats().retriesByCause.ER_LOCK_DEADLOCK ?? 0;
    const blocker = await mysql.createConnection({ uri: database.url });
    try {
      await blocker.query('START TRANSACTION');
      // InnoDB rolls back the transaction that changed fewer rows: make that the store's.
      for (let index = 0; index < 20; index += 1) {
        await blocker.query("INSERT INTO fs_setting (name, value) VALUES (?, 'x')", [`weight-${index}`]);
      }
      await blocker.query('SELECT ino FROM inode WHERE ino = ? FOR UPDATE', [to.ino]);

      // The rename locks `from` (the lower inode number) first, then waits for `to`.
      const renaming = store.rename(from.ino, 'f', to.ino, 'g');
      await waitForLockWait(blocker, database.name);
      // Closing the cycle: InnoDB rolls the rename's transaction back, which releases `from`.
      await blocker.query('SELECT ino FROM inode WHERE ino = ? FOR UPDATE', [from.ino]);
      await blocker.query('ROLLBACK');

      await expect(renaming).resolves.toEqual({ ino: file.ino, replaced: null });
    } finally {
      await blocker.end();
    }

    expect(store.stats().retriesByCause.ER_LOCK_DEADLOCK).toBe(before + 1);
    expect((await store.lookup(to.ino, 'g')).ino).toBe(file.ino);
  });
});

/** Resolves once some transaction waits for a row lock on this database's inode table. */
async function waitForLockWait(connection: mysql.Connection, databaseName: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [rows] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT COUNT(*) AS waiting FROM information_schema.INNODB_LOCK_WAITS w ' +
        'JOIN information_schema.INNODB_LOCKS l ON l.lock_id = w.requested_lock_id WHERE l.lock_table = ?',
      [`\`${databaseName}\`.\`inode\``],
    );
    if (Number(rows[0]?.waiting) > 0) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error('the rename never waited for the row lock');
    }
    // InnoDB refreshes its information_schema lock tables only when they were last read over 0.1 s ago.
    await new Promise<void>((resolve) => setTimeout(resolve, 150));
  }
}
