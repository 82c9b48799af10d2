import type { EntitySchemaColumnOptions, ValueTransformer } from 'typeorm';

/** The two SQL dialects RiverFS keeps its metadata in. */
export type SqlDialect = 'mysql' | 'sqlite';

/**
 * SQLite has no VARBINARY/MEDIUMBLOB and MySQL cannot put a unique index on a BLOB, so the byte columns
 * differ per dialect. That is why the entities are EntitySchemas built per dialect rather than decorated
 * classes: decorators are global and would force one type on both databases.
 */
export interface ColumnTypes {
  /** An auto-increment BIGINT key (SQLite only auto-increments an INTEGER PRIMARY KEY). */
  serial(): Pick<EntitySchemaColumnOptions, 'type'>;
  /** Short machine text: enum-like values and Tahoe caps (base32), compared as bytes. */
  ascii(length: number): Pick<EntitySchemaColumnOptions, 'type' | 'length' | 'charset' | 'collation'>;
  /** Free UTF-8 text (JSON, setting values). */
  text(): Pick<EntitySchemaColumnOptions, 'type' | 'charset' | 'collation'>;
  /** A byte string of at most `length` bytes that can sit in an index (names). */
  bytes(length: number): Pick<EntitySchemaColumnOptions, 'type' | 'length'>;
  /** An unindexed value of up to 64 KiB (xattr values). */
  blob(): Pick<EntitySchemaColumnOptions, 'type'>;
}

export function columnTypes(dialect: SqlDialect): ColumnTypes {
  switch (dialect) {
    case 'mysql':
      return {
        serial: () => ({ type: 'bigint' }),
        // Explicit character sets: the tables must not depend on the database's default (often latin1).
        ascii: (length) => ({ type: 'varchar', length, charset: 'ascii', collation: 'ascii_bin' }),
        text: () => ({ type: 'text', charset: 'utf8mb4', collation: 'utf8mb4_bin' }),
        bytes: (length) => ({ type: 'varbinary', length }),
        // BLOB stops at 65 535 bytes, one short of XATTR_SIZE_MAX.
        blob: () => ({ type: 'mediumblob' }),
      };
    case 'sqlite':
      return {
        serial: () => ({ type: 'integer' }),
        ascii: (length) => ({ type: 'varchar', length }),
        text: () => ({ type: 'text' }),
        bytes: () => ({ type: 'blob' }),
        blob: () => ({ type: 'blob' }),
      };
  }
}

function toSafeNumber(value: unknown): number {
  const number = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(number)) {
    throw new RangeError(`BIGINT value ${String(value)} is outside JavaScript's exact integer range`);
  }
  return number;
}

/**
 * mysql2 returns BIGINT as strings (TypeORM turns on bigNumberStrings so nothing is rounded silently);
 * better-sqlite3 returns numbers. Both become numbers here, and a value beyond 2^53 fails loudly.
 */
export const bigintAsNumber: ValueTransformer = {
  to: (value: unknown) => value,
  from: (value: unknown) => (value === null || value === undefined ? value : toSafeNumber(value)),
};

export function bigint(options: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions {
  return { type: 'bigint', transformer: bigintAsNumber, ...options };
}
