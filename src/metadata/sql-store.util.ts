import type { EntityManager } from 'typeorm';
import { FsError } from '../common/errors/fs-error';
import { type InodeModel } from './entities';
import type { MetadataClock } from './metadata-txn.util';
import type { InodeType, Timespec } from './metadata.types';
import type { SqlConnection } from './sql-driver';

/** What the parts of SqlMetadataStore share: constants, row helpers and the shape of one transaction. */

export const S_ISGID = 0o2000;
export const PERMISSION_BITS = 0o7777;
export const DEFAULT_PAGE = 1000;
export const MAX_PAGE = 10_000;
/** Deeper than any real tree; stops an ancestry walk that a corrupt database would make endless. */
export const MAX_DEPTH = 100_000;

export interface SqlMetadataStoreOptions {
  clock?: MetadataClock;
  /** Called after every write transaction, for the metrics (riverfs_meta_txn_duration_seconds). */
  onTransaction?: (event: TransactionEvent) => void;
  /**
   * The id of this gateway's data directory (data-directory-id.ts), recorded as the owner of every content it makes
   * dirty: its block cache holds those bytes, and only it may upload them. Unset: content made dirty has no owner.
   */
  cacheOwner?: string;
  /** How long access times wait in memory before they are written (sql-lazy-atime.ts); default 30 s. */
  atimeFlushMs?: number;
}

export interface TransactionEvent {
  op: string;
  durationMs: number;
  /** 1 when the first attempt committed. */
  attempts: number;
  ok: boolean;
}

/** State of one attempt of one write transaction. */
export interface Tx {
  manager: EntityManager;
  /** The same connection, for statements run on the driver (sql-driver.ts). */
  sql: SqlConnection;
  now: Timespec;
  /** Inode rows changed in memory, written back before commit. */
  changed: Map<number, InodeModel>;
  /** In-memory bookkeeping applied only once the transaction committed. */
  afterCommit: (() => void)[];
  /** The pending access time each locked row was loaded with (LazyAtimes.written). */
  seenAtimes: Map<number, Timespec>;
  /** Each locked row's values as read (`INODE_COLUMNS` order): the write-back sends only the columns that moved. */
  lockedValues: Map<number, readonly unknown[]>;
}

export interface RawEntry {
  id: number;
  child: number;
  type: InodeType;
}

export function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

export function isDuplicateKey(error: unknown): boolean {
  // TypeORM wraps the driver's error in driverError; a statement run on the driver throws it as it is.
  const driverError =
    (error as { driverError?: { errno?: unknown; code?: unknown } } | null)?.driverError ??
    (error as { errno?: unknown; code?: unknown } | null);
  return (
    driverError?.errno === 1062 ||
    (typeof driverError?.code === 'string' && driverError.code.startsWith('SQLITE_CONSTRAINT'))
  );
}

export function checkTimespec(time: Timespec): Timespec {
  if (!Number.isSafeInteger(time.sec) || !Number.isInteger(time.nsec) || time.nsec < 0 || time.nsec >= 1e9) {
    throw new FsError('EINVAL', `invalid time ${time.sec}.${time.nsec}`);
  }
  return time;
}

export function setAtime(row: InodeModel, time: Timespec): void {
  row.atimeSec = time.sec;
  row.atimeNsec = time.nsec;
}

export function setMtime(row: InodeModel, time: Timespec): void {
  row.mtimeSec = time.sec;
  row.mtimeNsec = time.nsec;
}

export function setCtime(row: InodeModel, time: Timespec): void {
  row.ctimeSec = time.sec;
  row.ctimeNsec = time.nsec;
}

export type DirtyFlag = 'dataDirty' | 'attrDirty' | 'entriesDirty';
