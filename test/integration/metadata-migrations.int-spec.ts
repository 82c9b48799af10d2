import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MIGRATIONS_TABLE, openDataSource, runMigrations } from '../../src/metadata/data-source';
import { pendingSchemaChanges } from '../../src/metadata/migration.util';
import { createTestDatabase } from '../support/mariadb.helper';

interface Target {
  name: string;
  /** Several gateways may share a MySQL database and start together; a SQLite file has one gateway. */
  shared: boolean;
  create(): Promise<{ url: string; destroy(): Promise<void> }>;
  tables: string;
}

const targets: Target[] = [
  {
    name: 'MariaDB',
    shared: true,
    async create() {
      const database = await createTestDatabase('metamigr');
      return { url: database.url, destroy: () => database.drop() };
    },
    tables: 'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()',
  },
  {
    name: 'SQLite',
    shared: false,
    create() {
      const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-metamigr-'));
      return Promise.resolve({
        url: `sqlite:${path.join(directory, 'nested', 'metadata.sqlite')}`,
        destroy: () => Promise.resolve(fs.rmSync(directory, { recursive: true, force: true })),
      });
    },
    tables: "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence'",
  },
];

describe.each(targets)('metadata migrations ($name)', (target) => {
  let database: { url: string; destroy(): Promise<void> };

  beforeAll(async () => {
    database = await target.create();
  });

  afterAll(async () => {
    await database?.destroy();
  });

  it('should apply every migration once, leaving nothing for the entities to change', async () => {
    const runs = target.shared
      ? await Promise.all([runMigrations(database.url), runMigrations(database.url)])
      : [await runMigrations(database.url), await runMigrations(database.url)];

    expect(runs.flat()).toEqual([
      expect.stringMatching(/^CreateMetadataSchema\d{13}$/),
      expect.stringMatching(/^AddSyncJournal\d{13}$/),
      expect.stringMatching(/^AddPublishedInode\d{13}$/),
      expect.stringMatching(/^AddFilesystemLease\d{13}$/),
      expect.stringMatching(/^AddTahoeCheckResult\d{13}$/),
    ]);
    const dataSource = await openDataSource(database.url);
    try {
      expect(await pendingSchemaChanges(dataSource)).toEqual({ up: [], down: [] });
    } finally {
      await dataSource.destroy();
    }
  });

  it('should undo every migration with down() and apply them again', async () => {
    const dataSource = await openDataSource(database.url);
    try {
      const count = (await dataSource.query<unknown[]>(`SELECT * FROM ${MIGRATIONS_TABLE}`)).length;
      for (let undone = 0; undone < count; undone += 1) {
        await dataSource.undoLastMigration({ transaction: 'each' });
      }
      const left = (await dataSource.query<{ name: string }[]>(target.tables)).map((row) => row.name);

      expect(left).toEqual([MIGRATIONS_TABLE]);
      expect(await runMigrations(dataSource)).toHaveLength(count);
      expect(await pendingSchemaChanges(dataSource)).toEqual({ up: [], down: [] });
    } finally {
      await dataSource.destroy();
    }
  });
});
