import type { InodeModel } from './entities';
import type { InodeType, SyncState } from './metadata.types';
import type { SqlParam } from './sql-driver';

/**
 * The `inode` row in the driver's terms, for the statements run without TypeORM (sql-driver.ts): the columns in one
 * order, and the mapping both ways. The schema itself stays with the entity (entities/inode.entity.ts) and the
 * migrations; this list must name the same columns.
 */
const COLUMNS: readonly [keyof InodeModel, string][] = [
  ['type', 'type'],
  ['mode', 'mode'],
  ['uid', 'uid'],
  ['gid', 'gid'],
  ['size', 'size'],
  ['nlink', 'nlink'],
  ['rdev', 'rdev'],
  ['parent', 'parent'],
  ['atimeSec', 'atime_sec'],
  ['atimeNsec', 'atime_nsec'],
  ['mtimeSec', 'mtime_sec'],
  ['mtimeNsec', 'mtime_nsec'],
  ['ctimeSec', 'ctime_sec'],
  ['ctimeNsec', 'ctime_nsec'],
  ['contentVersion', 'content_version'],
  ['writeCap', 'write_cap'],
  ['readCap', 'read_cap'],
  ['syncedContentVersion', 'synced_content_version'],
  ['syncState', 'sync_state'],
  ['dataDirty', 'data_dirty'],
  ['attrDirty', 'attr_dirty'],
  ['entriesDirty', 'entries_dirty'],
  ['dirtySince', 'dirty_since'],
  ['listedAt', 'listed_at'],
  ['changeSeq', 'change_seq'],
  ['syncError', 'sync_error'],
  ['syncTries', 'sync_tries'],
  ['publishedIno', 'published_ino'],
  ['dirtyOwner', 'dirty_owner'],
];

/** Every column of `inode`, for `SELECT ${INODE_COLUMNS} FROM inode` (prefixed `i.`: queries join it as `i`). */
export const INODE_COLUMNS = ['ino', ...COLUMNS.map(([, column]) => column)].map((column) => `i.${column}`).join(', ');

/** Every column but `ino`, in the order of `inodeParams`. */
export const INSERT_INODE_SQL = `INSERT INTO inode (${COLUMNS.map(([, column]) => column).join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`;
export const INSERT_INODE_WITH_INO_SQL = `INSERT INTO inode (${COLUMNS.map(([, column]) => column).join(', ')}, ino) VALUES (${COLUMNS.map(() => '?').join(', ')}, ?)`;
/** Writes every column back (what TypeORM's update did); parameters: `inodeParams(row)` then the ino. */
export const UPDATE_INODE_SQL = `UPDATE inode SET ${COLUMNS.map(([, column]) => `${column} = ?`).join(', ')} WHERE ino = ?`;

/** The positions (in `inodeParams` order) whose values differ between two parameter lists of the same row. */
export function changedColumns(before: readonly SqlParam[], after: readonly SqlParam[]): number[] {
  const changed: number[] = [];
  for (let column = 0; column < after.length; column++) {
    const was = before[column];
    const now = after[column];
    if (was !== now && !(Buffer.isBuffer(was) && Buffer.isBuffer(now) && was.equals(now))) {
      changed.push(column);
    }
  }
  return changed;
}

const updateStatements = new Map<string, string>();

/**
 * `UPDATE inode SET` the given columns (positions in `inodeParams` order) `WHERE ino = ?`. A transaction changes a
 * few known sets of columns (a close's size and times, a create's directory times, an unlink's link count), so the
 * distinct texts, and the statements the drivers prepare for them, stay few.
 */
export function updateInodeSql(columns: readonly number[]): string {
  const key = columns.join(',');
  let sql = updateStatements.get(key);
  if (sql === undefined) {
    sql = `UPDATE inode SET ${columns.map((column) => `${COLUMNS[column][1]} = ?`).join(', ')} WHERE ino = ?`;
    updateStatements.set(key, sql);
  }
  return sql;
}

/** MySQL (mysql2 with bigNumberStrings) returns BIGINT columns as strings; SQLite returns numbers. */
function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : num(value);
}

/** SQLite and MySQL both keep booleans as 0/1 integers. */
function bool(value: unknown): boolean {
  return value === true || num(value) === 1;
}

/** An inode from a row keyed by column name (TypeORM's raw queries, `SqlConnection.all`). */
export function inodeFromRow(row: Record<string, unknown>): InodeModel {
  return inodeFromValues(INODE_COLUMN_NAMES.map((column) => row[column]));
}

/** The names of `INODE_COLUMNS`, in its order: `inodeFromValues` reads a row by these positions. */
export const INODE_COLUMN_NAMES: readonly string[] = ['ino', ...COLUMNS.map(([, column]) => column)];

/**
 * An inode from the values of a row read with `SqlConnection.values`, its `INODE_COLUMNS` starting at `at` (a join
 * selects other columns first). The positions follow COLUMNS (sql-inode-rows.spec.ts checks each).
 */
export function inodeFromValues(values: readonly unknown[], at = 0): InodeModel {
  return {
    ino: num(values[at]),
    type: values[at + 1] as InodeType,
    mode: num(values[at + 2]),
    uid: num(values[at + 3]),
    gid: num(values[at + 4]),
    size: num(values[at + 5]),
    nlink: num(values[at + 6]),
    rdev: num(values[at + 7]),
    parent: numOrNull(values[at + 8]),
    atimeSec: num(values[at + 9]),
    atimeNsec: num(values[at + 10]),
    mtimeSec: num(values[at + 11]),
    mtimeNsec: num(values[at + 12]),
    ctimeSec: num(values[at + 13]),
    ctimeNsec: num(values[at + 14]),
    contentVersion: num(values[at + 15]),
    writeCap: (values[at + 16] as string | null) ?? null,
    readCap: (values[at + 17] as string | null) ?? null,
    syncedContentVersion: numOrNull(values[at + 18]),
    syncState: values[at + 19] as SyncState,
    dataDirty: bool(values[at + 20]),
    attrDirty: bool(values[at + 21]),
    entriesDirty: bool(values[at + 22]),
    dirtySince: numOrNull(values[at + 23]),
    listedAt: numOrNull(values[at + 24]),
    changeSeq: num(values[at + 25]),
    syncError: (values[at + 26] as string | null) ?? null,
    syncTries: num(values[at + 27]),
    publishedIno: numOrNull(values[at + 28]),
    dirtyOwner: (values[at + 29] as string | null) ?? null,
  };
}

/** The row's columns but `ino`, in the order of the statements above. */
export function inodeParams(row: Omit<InodeModel, 'ino'>): SqlParam[] {
  return COLUMNS.map(([property]) => {
    const value = (row as Record<string, unknown>)[property];
    return typeof value === 'boolean' ? (value ? 1 : 0) : ((value ?? null) as SqlParam);
  });
}
