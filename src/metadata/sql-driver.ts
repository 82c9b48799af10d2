import type { DataSource, QueryRunner } from 'typeorm';
import type { SqlDialect } from './entities';

/** A parameter as both drivers take it (booleans are written as 0/1 by the callers: better-sqlite3 refuses them). */
export type SqlParam = number | string | Buffer | null;

export interface SqlRunResult {
  /** Rows changed (SQLite `changes`, MySQL `affectedRows`). */
  changes: number;
  /** The AUTO_INCREMENT / ROWID the statement made, 0 when none. */
  insertId: number;
}

/**
 * One connection's statements, run directly on the driver: the FUSE hot path's SQL skips TypeORM's query building
 * and result mapping (about half of the gateway's busy CPU in the metadata benchmarks). On SQLite every distinct
 * statement is prepared once on the better-sqlite3 handle and kept; on MySQL mysql2's `execute` keeps a prepared
 * statement per connection and SQL text. Callers write the SQL with `?` placeholders and a fixed text per shape
 * (a number of placeholders, never values spliced in), so the caches stay small.
 */
export interface SqlConnection {
  all<R>(sql: string, params?: readonly SqlParam[]): Promise<R[]>;
  get<R>(sql: string, params?: readonly SqlParam[]): Promise<R | undefined>;
  /**
   * The rows as arrays of their values, in the order the statement selects them. For the reads that return many
   * columns on the FUSE path (an inode row has 30): building a keyed object per row cost half of a readdirplus page
   * on SQLite (bench: 110 µs against 58 µs for a directory of 17 entries).
   */
  values(sql: string, params?: readonly SqlParam[]): Promise<unknown[][]>;
  run(sql: string, params?: readonly SqlParam[]): Promise<SqlRunResult>;
  /** A statement with neither parameters nor rows (BEGIN, COMMIT): MySQL runs it over the text protocol. */
  command(sql: string): Promise<void>;
}

/** What this module needs of a better-sqlite3 Database and Statement (the package's own types are not installed). */
interface SqliteStatement {
  readonly reader: boolean;
  all(...params: unknown[]): unknown[];
  get(...params: unknown[]): unknown;
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  raw(toggle: boolean): SqliteStatement;
}
interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
}

/** What this module needs of a mysql2 (callback API) connection or pool. */
interface MysqlExecutor {
  execute(
    sql: string | { sql: string; rowsAsArray: boolean },
    params: readonly SqlParam[],
    callback: (error: Error | null, result: unknown) => void,
  ): unknown;
  query(sql: string, callback: (error: Error | null) => void): unknown;
}

/**
 * better-sqlite3's errors rethrown as plain Errors with the same message, `code` and the original as `cause`. The
 * native addon is loaded once per process and builds its errors from the class of the first module instance that
 * loaded it: under a test runner with one module registry per file, that class belongs to another realm and the
 * errors fail `instanceof Error`. The retry logic reads `code` (SQLITE_BUSY, SQLITE_CONSTRAINT…), kept here.
 */
function sqliteError(error: unknown): Error {
  const { message, code } = error as { message?: unknown; code?: unknown };
  const wrapped = new Error(String(message), { cause: error }) as Error & { code?: unknown };
  wrapped.code = code;
  return wrapped;
}

class SqliteConnection implements SqlConnection {
  private readonly statements = new Map<string, SqliteStatement>();
  /** The statements read with `values`: raw mode belongs to a prepared statement, so they are prepared apart. */
  private readonly rawStatements = new Map<string, SqliteStatement>();

  constructor(private readonly db: SqliteDatabase) {}

  private rawStatement(sql: string): SqliteStatement {
    let statement = this.rawStatements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql).raw(true);
      this.rawStatements.set(sql, statement);
    }
    return statement;
  }

  private statement(sql: string): SqliteStatement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  // better-sqlite3 is synchronous: each method runs the statement at once and hands back a settled promise.
  private settle<T>(run: () => T): Promise<T> {
    try {
      return Promise.resolve(run());
    } catch (error) {
      return Promise.reject(sqliteError(error));
    }
  }

  all<R>(sql: string, params: readonly SqlParam[] = []): Promise<R[]> {
    return this.settle(() => this.statement(sql).all(...params) as R[]);
  }

  get<R>(sql: string, params: readonly SqlParam[] = []): Promise<R | undefined> {
    return this.settle(() => this.statement(sql).get(...params) as R | undefined);
  }

  values(sql: string, params: readonly SqlParam[] = []): Promise<unknown[][]> {
    return this.settle(() => this.rawStatement(sql).all(...params) as unknown[][]);
  }

  run(sql: string, params: readonly SqlParam[] = []): Promise<SqlRunResult> {
    return this.settle(() => {
      const result = this.statement(sql).run(...params);
      return { changes: result.changes, insertId: Number(result.lastInsertRowid) };
    });
  }

  command(sql: string): Promise<void> {
    return this.settle(() => {
      this.statement(sql).run();
    });
  }
}

class MysqlConnection implements SqlConnection {
  constructor(private readonly executor: MysqlExecutor) {}

  private execute(sql: string | { sql: string; rowsAsArray: boolean }, params: readonly SqlParam[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.executor.execute(sql, params, (error, result) => (error ? reject(error) : resolve(result)));
    });
  }

  async all<R>(sql: string, params: readonly SqlParam[] = []): Promise<R[]> {
    return (await this.execute(sql, params)) as R[];
  }

  async get<R>(sql: string, params: readonly SqlParam[] = []): Promise<R | undefined> {
    return ((await this.execute(sql, params)) as R[])[0];
  }

  async values(sql: string, params: readonly SqlParam[] = []): Promise<unknown[][]> {
    return (await this.execute({ sql, rowsAsArray: true }, params)) as unknown[][];
  }

  async run(sql: string, params: readonly SqlParam[] = []): Promise<SqlRunResult> {
    const result = (await this.execute(sql, params)) as { affectedRows?: number; insertId?: number };
    return { changes: result.affectedRows ?? 0, insertId: Number(result.insertId ?? 0) };
  }

  command(sql: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.executor.query(sql, (error) => (error ? reject(error) : resolve()));
    });
  }
}

/**
 * The driver-level connections of a DataSource: `shared()` for reads outside a transaction (SQLite's one handle;
 * MySQL's pool, any free connection), `of(queryRunner)` for the connection a TypeORM query runner holds, so that a
 * transaction's driver statements and its TypeORM ones run on one connection.
 */
export class SqlDriver {
  private readonly byNative = new WeakMap<object, SqlConnection>();
  /** MySQL connections whose session already runs READ COMMITTED (see `begin`). */
  private readonly readCommitted = new WeakSet<object>();

  constructor(
    private readonly dataSource: DataSource,
    readonly dialect: SqlDialect,
  ) {}

  private wrap(native: object): SqlConnection {
    let connection = this.byNative.get(native);
    if (connection === undefined) {
      connection =
        this.dialect === 'sqlite'
          ? new SqliteConnection(native as SqliteDatabase)
          : new MysqlConnection(native as MysqlExecutor);
      this.byNative.set(native, connection);
    }
    return connection;
  }

  shared(): SqlConnection {
    const driver = this.dataSource.driver as unknown as { databaseConnection?: object; pool?: object };
    // better-sqlite3: the one Database handle; mysql2: the pool (`execute` takes a free connection per statement).
    const native = this.dialect === 'sqlite' ? driver.databaseConnection : driver.pool;
    if (native === undefined) {
      throw new Error('the metadata database is not connected');
    }
    return this.wrap(native);
  }

  async of(queryRunner: QueryRunner): Promise<SqlConnection> {
    return this.wrap((await queryRunner.connect()) as object);
  }

  /**
   * Starts a transaction on the connection with one statement. MySQL's isolation level (READ COMMITTED, data-source.ts
   * says why) is set once per pooled connection, for its session, instead of before every transaction as TypeORM's
   * startTransaction does: one round trip less per operation. SQLite: a deferred BEGIN, as TypeORM's.
   */
  async begin(connection: SqlConnection): Promise<void> {
    if (this.dialect === 'mysql' && !this.readCommitted.has(connection)) {
      await connection.command('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
      this.readCommitted.add(connection);
    }
    await connection.command(this.dialect === 'sqlite' ? 'BEGIN' : 'START TRANSACTION');
  }
}
