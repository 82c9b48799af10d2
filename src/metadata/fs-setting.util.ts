import type { DataSource } from 'typeorm';
import { FsSettingModel } from './entities';

/**
 * How the small SQL helpers outside SqlMetadataStore (settings rows, the Tahoe ledgers, the inode census) reach the
 * database: on the store's connection discipline. On SQLite the process has one connection, and the store begins
 * its transactions on the driver, so a statement or a TypeORM transaction run between two statements of a store
 * transaction would land inside it, or fail with "cannot start a transaction within a transaction".
 */
export interface SqlSideAccess {
  readonly dataSource: DataSource;
  /** Runs `task` when no store operation is running on this connection (SQLite); at once on MySQL's pool. */
  exclusive<T>(task: () => Promise<T>): Promise<T>;
}

/** The value of one `fs_setting` row, or null when there is none. */
export function readFsSetting(access: SqlSideAccess, name: string): Promise<string | null> {
  return access.exclusive(async () => {
    const row = await access.dataSource
      .createQueryBuilder(FsSettingModel, 's')
      .where('s.name = :name', { name })
      .getOne();
    return row?.value ?? null;
  });
}

/** Writes one `fs_setting` row, creating it when absent: one upsert statement, atomic without a transaction. */
export function writeFsSetting(access: SqlSideAccess, name: string, value: string): Promise<void> {
  return access.exclusive(async () => {
    await access.dataSource
      .createQueryBuilder()
      .insert()
      .into(FsSettingModel)
      .values({ name, value })
      .orUpdate(['value'], ['name'])
      .execute();
  });
}
