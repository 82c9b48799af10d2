import path from 'node:path';
import mysql from 'mysql2/promise';
import { DataSource, type MigrationInterface } from 'typeorm';
import { mysqlMigrations } from '../../migrations/mysql';
import { sqliteMigrations } from '../../migrations/sqlite';
import { metadataEntities, type SqlDialect } from './entities';
import { protectSqliteFiles } from './sqlite-files';

export type DbLocation = { dialect: 'sqlite'; file: string } | { dialect: 'mysql'; url: URL };

/** Which server speaks the MySQL protocol; TypeORM reads their catalogues differently. */
export type MysqlFlavor = 'mysql' | 'mariadb';

export interface DataSourceTuning {
  /** MySQL connections in the pool (default 10). Ignored by SQLite, which has one connection. */
  poolSize?: number;
  /** Log every SQL statement (debugging only). */
  logging?: boolean;
  /**
   * The server behind a mysql:// URL. When absent, `mariadb://` means MariaDB and `mysql://` MySQL;
   * openDataSource() asks the server instead, so that a MariaDB behind a mysql:// URL is read correctly.
   */
  flavor?: MysqlFlavor;
}

/** Name of TypeORM's bookkeeping table of applied migrations. */
export const MIGRATIONS_TABLE = 'schema_migrations';

/** Seconds a start-up waits for another process's migrations before giving up. */
const MIGRATION_LOCK_TIMEOUT_S = 300;

/** Milliseconds better-sqlite3 waits on a database locked by another process before SQLITE_BUSY. */
const SQLITE_BUSY_TIMEOUT_MS = 5000;

/** Reads the `db` setting: `sqlite:/abs/path`, or `mysql://user:pass@host:port/db` (`mariadb://` too). */
export function parseDbUrl(db: string): DbLocation {
  if (db.startsWith('sqlite:')) {
    const file = db.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (file === '' || !path.isAbsolute(file)) {
      throw new Error(`db: sqlite needs an absolute file path (sqlite:/var/lib/riverfs/riverfs.sqlite)`);
    }
    return { dialect: 'sqlite', file };
  }
  let url: URL;
  try {
    url = new URL(db);
  } catch {
    throw new Error('db: not a sqlite: path nor a mysql:// URL');
  }
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') {
    throw new Error(`db: scheme "${url.protocol}" is not sqlite:, mysql: or mariadb:`);
  }
  if (url.pathname.replace(/^\//, '') === '') {
    throw new Error('db: the URL names no database (mysql://user:password@host:3306/riverfs)');
  }
  return { dialect: 'mysql', url };
}

export function migrationsFor(dialect: SqlDialect): (new () => MigrationInterface)[] {
  return dialect === 'mysql' ? mysqlMigrations : sqliteMigrations;
}

/**
 * Builds (without connecting) the DataSource for a `db` setting. Migrations are passed as classes from
 * one index file per dialect, so the same code runs compiled (dist/migrations) and from TypeScript
 * under Jest, without globs that depend on the file extension. `synchronize` is never on: the schema
 * only changes through reviewed migrations.
 */
export function createDataSource(db: string, tuning: DataSourceTuning = {}): DataSource {
  const location = parseDbUrl(db);
  const common = {
    entities: metadataEntities(location.dialect),
    migrations: migrationsFor(location.dialect),
    migrationsTableName: MIGRATIONS_TABLE,
    migrationsTransactionMode: 'each' as const,
    synchronize: false,
    migrationsRun: false,
    logging: tuning.logging ?? false,
  };
  if (location.dialect === 'sqlite') {
    return new DataSource({
      ...common,
      type: 'better-sqlite3',
      database: location.file,
      // WAL lets readers in other processes (riverfs CLI commands) run while the gateway writes.
      enableWAL: true,
      timeout: SQLITE_BUSY_TIMEOUT_MS,
      prepareDatabase: (database: { pragma(source: string): unknown }) => {
        // The contract of a local filesystem (README, "Durability"): a commit must survive a crash of RiverFS, which
        // a commit into the WAL does without a sync; only fsync/fsyncdir owe survival of a machine crash, and they
        // reach it through a checkpoint (durable-sync-point.ts). FULL would sync the WAL at every commit, the cost
        // of every create, unlink and close (about 2 ms each here). NORMAL still never corrupts the database.
        database.pragma('synchronous = NORMAL');
      },
    });
  }
  const { url } = location;
  return new DataSource({
    ...common,
    // MariaDB reports column defaults in its own way; with the wrong type TypeORM sees schema
    // differences that are not there (and the migration drift check would fail).
    type: tuning.flavor ?? (url.protocol === 'mariadb:' ? 'mariadb' : 'mysql'),
    host: url.hostname,
    port: url.port === '' ? 3306 : Number(url.port),
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.replace(/^\//, '')),
    charset: 'utf8mb4_bin',
    timezone: 'Z',
    poolSize: tuning.poolSize ?? 10,
    // READ COMMITTED rather than InnoDB's REPEATABLE READ: correctness comes from the explicit
    // SELECT … FOR UPDATE on inode rows (every change to a directory's entries holds that directory's
    // row lock), and each statement must see the latest committed rows once those locks are held — not a
    // snapshot taken earlier in the transaction. READ COMMITTED also takes no gap locks on dir_entry,
    // the main source of the deadlocks JuiceFS saw on MySQL (juicedata/juicefs#3665, fixed in #3677).
    isolationLevel: 'READ COMMITTED',
  });
}

/** Asks a MySQL-protocol server whether it is MariaDB (its version string says so). */
export async function detectMysqlFlavor(db: string): Promise<MysqlFlavor> {
  const location = parseDbUrl(db);
  if (location.dialect !== 'mysql') {
    throw new Error('detectMysqlFlavor: not a mysql:// URL');
  }
  const { url } = location;
  const connection = await mysql.createConnection({
    host: url.hostname,
    port: url.port === '' ? 3306 : Number(url.port),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    connectTimeout: 10_000,
  });
  try {
    const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT VERSION() AS version');
    return String(rows[0]?.version).includes('MariaDB') ? 'mariadb' : 'mysql';
  } finally {
    await connection.end();
  }
}

export function dialectOf(dataSource: DataSource): SqlDialect {
  return dataSource.options.type === 'better-sqlite3' ? 'sqlite' : 'mysql';
}

/** Connects a DataSource for `db`; a SQLite file (and its directory) is created private when missing, and kept so. */
export async function openDataSource(db: string, tuning: DataSourceTuning = {}): Promise<DataSource> {
  const location = parseDbUrl(db);
  if (location.dialect === 'sqlite') {
    protectSqliteFiles(location.file);
  } else if (tuning.flavor === undefined) {
    tuning = { ...tuning, flavor: await detectMysqlFlavor(db) };
  }
  const dataSource = createDataSource(db, tuning);
  await dataSource.initialize();
  return dataSource;
}

/**
 * Applies every pending migration, each in its own transaction (MySQL commits DDL implicitly anyway),
 * and returns the names applied. Given a URL it opens and closes its own connection (`riverfs migrate`);
 * given a DataSource it uses it (start-up). On MySQL a named server lock makes gateways that start at
 * the same moment take turns, since TypeORM itself does not guard against two concurrent runs.
 */
export async function runMigrations(db: string | DataSource): Promise<string[]> {
  // Two connections: one holds the lock while TypeORM runs the migrations on the other.
  const dataSource = typeof db === 'string' ? await openDataSource(db, { poolSize: 2 }) : db;
  try {
    if (dialectOf(dataSource) === 'sqlite') {
      return await applyMigrations(dataSource);
    }
    const lock = dataSource.createQueryRunner('master');
    const name = `riverfs-migrate:${String(dataSource.options.database)}`.slice(0, 64);
    try {
      const [granted] = (await lock.query('SELECT GET_LOCK(?, ?) AS granted', [name, MIGRATION_LOCK_TIMEOUT_S])) as {
        granted: unknown;
      }[];
      if (Number(granted?.granted) !== 1) {
        throw new Error(`another process has been migrating ${String(dataSource.options.database)} for too long`);
      }
      try {
        return await applyMigrations(dataSource);
      } finally {
        await lock.query('SELECT RELEASE_LOCK(?)', [name]);
      }
    } finally {
      await lock.release();
    }
  } finally {
    if (typeof db === 'string') {
      await dataSource.destroy();
    }
  }
}

async function applyMigrations(dataSource: DataSource): Promise<string[]> {
  const applied = await dataSource.runMigrations({ transaction: 'each' });
  return applied.map((migration) => migration.name);
}
