import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { openDataSource } from '../src/metadata/data-source';
import type { SqlDialect } from '../src/metadata/entities';
import { createTestDatabase } from '../test/support/mariadb.helper';

export const DIALECTS: readonly SqlDialect[] = ['mysql', 'sqlite'];

export interface ScratchDatabase {
  dataSource: DataSource;
  /** Where it lives, for messages (a URL without password, or a file). */
  where: string;
  dispose(): Promise<void>;
}

/**
 * An empty database of the given dialect with every migration applied: MariaDB through the test
 * helper (RIVERFS_TEST_MARIADB_URL, root@127.0.0.1 by default), SQLite in a temporary file.
 */
export async function scratchDatabase(dialect: SqlDialect): Promise<ScratchDatabase> {
  if (dialect === 'mysql') {
    const database = await createTestDatabase('migrations');
    try {
      const dataSource = await openDataSource(database.url, { poolSize: 1 });
      await dataSource.runMigrations({ transaction: 'each' });
      return {
        dataSource,
        where: `MariaDB database ${database.name}`,
        async dispose() {
          await dataSource.destroy();
          await database.drop();
        },
      };
    } catch (error) {
      await database.drop();
      throw error;
    }
  }
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-migrations-'));
  const file = path.join(directory, 'scratch.sqlite');
  try {
    const dataSource = await openDataSource(`sqlite:${file}`);
    await dataSource.runMigrations({ transaction: 'each' });
    return {
      dataSource,
      where: `SQLite file ${file}`,
      async dispose() {
        await dataSource.destroy();
        fs.rmSync(directory, { recursive: true, force: true });
      },
    };
  } catch (error) {
    fs.rmSync(directory, { recursive: true, force: true });
    throw error;
  }
}
