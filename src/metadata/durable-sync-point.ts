import type { DataSource } from 'typeorm';
import { FsError } from '../common/errors/fs-error';
import type { SqlDialect } from './entities';

/** What `PRAGMA wal_checkpoint` answers: busy 1 when it could not finish, and the WAL frames it saw and copied. */
interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

/**
 * The database's durable sync point (fsync, fdatasync, fsyncdir): returns once every transaction committed so far
 * would survive a crash of the machine. The caller runs it alone on the connection (SQLite: the store's lock).
 *
 * SQLite runs in WAL with `synchronous = NORMAL`: a commit is in the WAL file (it survives a crash of RiverFS) but the
 * WAL is synced only at a checkpoint, which syncs the WAL, copies it into the database file and syncs that. A FULL
 * checkpoint copies every frame (it waits, within the busy timeout, for readers of older snapshots such as a CLI
 * command); a PASSIVE one would skip the sync when a reader keeps it from copying anything. One that cannot finish
 * is EIO: the caller asked for durability that was not reached.
 *
 * MySQL/MariaDB: nothing to do. Each commit is already durable against a crash of the machine with InnoDB's default
 * `innodb_flush_log_at_trx_commit = 1` (the redo log is flushed at every commit), which RiverFS relies on.
 */
export async function durableSyncPoint(dataSource: DataSource, dialect: SqlDialect): Promise<CheckpointResult | null> {
  if (dialect !== 'sqlite') {
    return null;
  }
  const rows = await dataSource.query<CheckpointResult[]>('PRAGMA wal_checkpoint(FULL)');
  const result = rows[0];
  if (result === undefined || result.busy !== 0) {
    throw new FsError('EIO', `the SQLite checkpoint could not finish (${JSON.stringify(result)})`);
  }
  return result;
}
