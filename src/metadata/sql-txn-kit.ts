import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource, EntityManager } from 'typeorm';
import { FsError } from '../common/errors/fs-error';
import { dialectOf } from './data-source';
import { type InodeModel, type SqlDialect, SustainedInodeModel } from './entities';
import {
  backoffMs,
  MAX_ATTEMPTS,
  type MetadataClock,
  Mutex,
  RestartTransaction,
  retryCause,
  systemClock,
  toMs,
} from './metadata-txn.util';
import type { Credentials, InodeType, MetadataStats, RemovedInode, SessionInfo } from './metadata.types';
import {
  type DirtyFlag,
  num,
  PERMISSION_BITS,
  type RawEntry,
  setCtime,
  setMtime,
  type SqlMetadataStoreOptions,
  type TransactionEvent,
  type Tx,
} from './sql-store.util';
import { type SqlConnection, SqlDriver } from './sql-driver';
import { LazyAtimes } from './sql-lazy-atime';
import {
  changedColumns,
  INODE_COLUMNS,
  inodeFromRow,
  inodeFromValues,
  inodeParams,
  UPDATE_INODE_SQL,
  updateInodeSql,
} from './sql-inode-rows';

/**
 * How SqlMetadataStore reaches its database, for MySQL/MariaDB and SQLite.
 *
 * Every mutation is one transaction. On MySQL it first locks, with one SELECT … FOR UPDATE in inode-number
 * order, every inode row it will read-modify-write: the directories whose entries change and the inodes
 * named by those entries. Entries are only ever changed while their directory's row is locked, so once the
 * locks are held the entries cannot move. Which inodes an entry names is only known by reading it, so the
 * entries are read once before locking and again after; if one changed in between the attempt restarts.
 * Deadlocks and lock wait timeouts roll the attempt back and retry it with backoff. On SQLite a write
 * transaction already excludes every other writer; operations of this process run one at a time on its one
 * connection.
 *
 * This class is the transaction kit the parts of SqlMetadataStore share (sql-metadata.store.ts): the transaction
 * runner, row locking, the entry helpers, and the state of this gateway's session and open handles.
 */
export class SqlTxnKit {
  readonly dialect: SqlDialect;
  readonly clock: MetadataClock;
  readonly onTransaction: ((event: TransactionEvent) => void) | undefined;
  readonly cacheOwner: string | null;
  /** The hot path's statements, run on the driver (sql-driver.ts); TypeORM keeps the rest. */
  readonly driver: SqlDriver;
  /** Access times not written yet (lazytime): every inode row this kit reads shows them. */
  readonly atimes: LazyAtimes;
  private readonly mutex = new Mutex();
  /** Open handles of this gateway, by inode. */
  readonly openCounts = new Map<number, number>();
  /** Inodes this gateway keeps alive after their last name went (rows in sustained_inode). */
  readonly sustainedHere = new Set<number>();
  session: { sid: number; info: SessionInfo; ttlMs: number } | null = null;
  readonly counters: MetadataStats = {
    transactions: 0,
    retries: 0,
    retriesByCause: {},
    restarts: 0,
    exhausted: 0,
  };

  constructor(
    readonly dataSource: DataSource,
    options: SqlMetadataStoreOptions = {},
  ) {
    this.dialect = dialectOf(dataSource);
    this.clock = options.clock ?? systemClock;
    this.onTransaction = options.onTransaction;
    this.cacheOwner = options.cacheOwner ?? null;
    this.driver = new SqlDriver(dataSource, this.dialect);
    this.atimes = new LazyAtimes((op, body) => this.write(op, (tx) => body(tx.sql)), options.atimeFlushMs);
  }

  // ---- transactions ------------------------------------------------------------------------------

  exclusive<T>(task: () => Promise<T>): Promise<T> {
    return this.dialect === 'sqlite' ? this.mutex.run(task) : task();
  }

  /** A read outside any transaction: one statement sees the latest committed rows. */
  read<T>(body: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.exclusive(() => body(this.dataSource.manager));
  }

  /** The same, with driver statements. */
  readSql<T>(body: (sql: SqlConnection) => Promise<T>): Promise<T> {
    return this.exclusive(() => body(this.driver.shared()));
  }

  /** One operation = one transaction, retried as a whole when the database asks for it. */
  write<T>(op: string, body: (tx: Tx) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      const started = performance.now();
      for (let attempt = 1; ; attempt += 1) {
        const queryRunner = this.dataSource.createQueryRunner('master');
        // Begun and ended on the driver, so TypeORM's query runner does not know of it: this flag does.
        let active = false;
        try {
          const sql = await this.driver.of(queryRunner);
          const tx: Tx = {
            manager: queryRunner.manager,
            sql,
            now: this.clock.now(),
            changed: new Map(),
            afterCommit: [],
            seenAtimes: new Map(),
            lockedValues: new Map(),
          };
          await this.driver.begin(sql);
          active = true;
          const result = await body(tx);
          await this.flush(tx);
          await sql.command('COMMIT');
          active = false;
          this.counters.transactions += 1;
          for (const ino of tx.changed.keys()) {
            this.atimes.written(ino, tx.seenAtimes.get(ino));
          }
          for (const task of tx.afterCommit) {
            task();
          }
          this.onTransaction?.({ op, durationMs: performance.now() - started, attempts: attempt, ok: true });
          return result;
        } catch (error) {
          if (active) {
            const sql = await this.driver.of(queryRunner);
            await sql.command('ROLLBACK').catch(() => undefined);
          }
          const cause = retryCause(error);
          const restart = error instanceof RestartTransaction;
          if ((cause !== null || restart) && attempt < MAX_ATTEMPTS) {
            if (restart) {
              this.counters.restarts += 1;
              // The first restart is free; repeated ones mean a hot entry, so let the others finish.
              if (attempt > 1) {
                await sleep(backoffMs(attempt - 1));
              }
            } else {
              this.counters.retries += 1;
              this.counters.retriesByCause[cause!] = (this.counters.retriesByCause[cause!] ?? 0) + 1;
              await sleep(backoffMs(attempt));
            }
            continue;
          }
          this.onTransaction?.({ op, durationMs: performance.now() - started, attempts: attempt, ok: false });
          if (cause !== null || restart) {
            this.counters.exhausted += 1;
            const failure = new FsError(
              'EIO',
              `${op}: gave up after ${attempt} attempts (${(error as Error).message})`,
            );
            failure.cause = error;
            throw failure;
          }
          throw error;
        } finally {
          await queryRunner.release();
        }
      }
    });
  }

  /**
   * Writes back every inode row the transaction changed, in inode order: of a row it locked, only the columns that
   * differ from what it read. An UPDATE rewrites every index on a column it sets, whether or not the value moved:
   * setting all 29 columns made a close's size change write 4 pages into SQLite's WAL (the row and the three inode
   * indexes) instead of 1, and a create's touch of its directory 4 instead of 1.
   */
  private async flush(tx: Tx): Promise<void> {
    const rows = [...tx.changed.values()].sort((a, b) => a.ino - b.ino);
    for (const row of rows) {
      const params = inodeParams(row);
      const read = tx.lockedValues.get(row.ino);
      if (read === undefined) {
        await tx.sql.run(UPDATE_INODE_SQL, [...params, row.ino]);
        continue;
      }
      const changed = changedColumns(inodeParams(inodeFromValues(read)), params);
      if (changed.length > 0) {
        await tx.sql.run(updateInodeSql(changed), [...changed.map((column) => params[column]), row.ino]);
      }
    }
  }

  markChanged(tx: Tx, row: InodeModel, ...flags: DirtyFlag[]): void {
    for (const flag of flags) {
      row[flag] = true;
    }
    if (flags.includes('dataDirty')) {
      row.dirtyOwner = this.cacheOwner;
    }
    if (flags.length > 0) {
      row.syncState = 'dirty';
      row.dirtySince ??= toMs(tx.now);
      // The sync worker compares this before clearing flags, so a change made while it worked is never lost.
      row.changeSeq += 1;
    }
    tx.changed.set(row.ino, row);
  }

  /**
   * Locks the given inode rows (MySQL: SELECT … FOR UPDATE, always in ascending inode order so that two
   * transactions never wait on each other in a cycle) and returns those that exist.
   */
  async lockInodes(tx: Tx, inos: readonly (number | null | undefined)[]): Promise<Map<number, InodeModel>> {
    const wanted = [...new Set(inos.filter((ino): ino is number => typeof ino === 'number'))].sort((a, b) => a - b);
    if (wanted.length === 0) {
      return new Map();
    }
    const rows = await tx.sql.values(
      `SELECT ${INODE_COLUMNS} FROM inode i WHERE i.ino IN (${wanted.map(() => '?').join(', ')}) ORDER BY i.ino` +
        (this.dialect === 'mysql' ? ' FOR UPDATE' : ''),
      wanted,
    );
    const locked = new Map<number, InodeModel>();
    for (const values of rows) {
      const row = inodeFromValues(values);
      // As the database holds it, without the pending access time laid over it below: that time is a change the
      // write-back must carry. Compared only for the rows the transaction changes (flush).
      tx.lockedValues.set(row.ino, values);
      const atime = this.atimes.overlay(row);
      if (atime !== undefined) {
        tx.seenAtimes.set(row.ino, atime);
      }
      locked.set(row.ino, row);
    }
    return locked;
  }

  /** A locked directory that may receive or lose entries: it must exist, be a directory, not be removed. */
  liveDir(rows: Map<number, InodeModel>, ino: number): InodeModel {
    const row = rows.get(ino);
    if (row === undefined || row.nlink === 0) {
      throw new FsError('ENOENT', `directory ${ino} does not exist`);
    }
    if (row.type !== 'dir') {
      throw new FsError('ENOTDIR', `inode ${ino} is not a directory`);
    }
    return row;
  }

  async entryAt(sql: SqlConnection, parent: number, name: Buffer): Promise<RawEntry | null> {
    const row = await sql.get<{ id: unknown; child: unknown; type: InodeType }>(
      'SELECT e.id AS id, e.child AS child, i.type AS type FROM dir_entry e JOIN inode i ON i.ino = e.child ' +
        'WHERE e.parent = ? AND e.name = ?',
      [parent, name],
    );
    return row === undefined ? null : { id: num(row.id), child: num(row.child), type: row.type };
  }

  /**
   * The entry `seen` read before its rows were locked, as it is now that they are. MySQL reads it again: another
   * transaction may have changed it in between. SQLite need not: its transactions run one at a time on this
   * process's one connection (and one gateway holds the database), so nothing ran in between.
   */
  async entryOnceLocked(
    sql: SqlConnection,
    parent: number,
    name: Buffer,
    seen: RawEntry | null,
  ): Promise<RawEntry | null> {
    return this.dialect === 'mysql' ? await this.entryAt(sql, parent, name) : seen;
  }

  async hasEntries(sql: SqlConnection, dir: number): Promise<boolean> {
    return (await sql.get('SELECT 1 AS present FROM dir_entry WHERE parent = ? LIMIT 1', [dir])) !== undefined;
  }

  async insertEntry(tx: Tx, parent: number, name: Buffer, child: number): Promise<void> {
    await tx.sql.run('INSERT INTO dir_entry (parent, name, child) VALUES (?, ?, ?)', [parent, name, child]);
  }

  async deleteEntry(tx: Tx, id: number): Promise<void> {
    await tx.sql.run('DELETE FROM dir_entry WHERE id = ?', [id]);
  }

  /** A directory whose entries changed: its mtime and ctime become now (and Tahoe must hear of it). */
  touchDir(tx: Tx, dir: InodeModel): void {
    setMtime(dir, tx.now);
    setCtime(dir, tx.now);
    this.markChanged(tx, dir, 'entriesDirty', 'attrDirty');
  }

  /**
   * `row` lost one name (all of them for a directory). It is deleted when nothing refers to it any more;
   * kept, with nlink 0, while this gateway has it open.
   */
  async dropLink(tx: Tx, row: InodeModel): Promise<RemovedInode> {
    row.nlink = row.type === 'dir' ? 0 : row.nlink - 1;
    setCtime(row, tx.now);
    if (row.nlink > 0) {
      this.markChanged(tx, row, 'attrDirty');
      return { ino: row.ino, type: row.type, nlink: row.nlink, freed: false };
    }
    if ((this.openCounts.get(row.ino) ?? 0) > 0 && this.session !== null) {
      await tx.manager
        .createQueryBuilder()
        .insert()
        .into(SustainedInodeModel)
        .values({ sid: this.session.sid, ino: row.ino })
        .orIgnore()
        .execute();
      this.markChanged(tx, row);
      tx.afterCommit.push(() => this.sustainedHere.add(row.ino));
      return { ino: row.ino, type: row.type, nlink: 0, freed: false };
    }
    await this.deleteInode(tx, row.ino);
    return { ino: row.ino, type: row.type, nlink: 0, freed: true };
  }

  /** Deletes an inode with no names; its symlink target, xattrs and sustained rows go by cascade. */
  async deleteInode(tx: Tx, ino: number): Promise<void> {
    tx.changed.delete(ino);
    await tx.sql.run('DELETE FROM inode WHERE ino = ?', [ino]);
    tx.afterCommit.push(() => this.atimes.forget(ino));
  }

  /** A row read outside a transaction's locks, as the store shows it: with its pending access time. */
  inodeRow(raw: Record<string, unknown>): InodeModel {
    const row = inodeFromRow(raw);
    this.atimes.overlay(row);
    return row;
  }

  /** Like `inodeRow`, from a row read with `SqlConnection.values` whose inode columns start at `at`. */
  inodeValues(values: readonly unknown[], at = 0): InodeModel {
    const row = inodeFromValues(values, at);
    this.atimes.overlay(row);
    return row;
  }

  async findInode(sql: SqlConnection, ino: number): Promise<InodeModel | null> {
    const [values] = await sql.values(`SELECT ${INODE_COLUMNS} FROM inode i WHERE i.ino = ?`, [ino]);
    return values === undefined ? null : this.inodeValues(values);
  }

  async inodeOrThrow(sql: SqlConnection, ino: number): Promise<InodeModel> {
    const row = await this.findInode(sql, ino);
    if (row === null) {
      throw new FsError('ENOENT', `no inode ${ino}`);
    }
    return row;
  }

  newInode(tx: Tx, type: InodeType, mode: number, owner: Credentials): Omit<InodeModel, 'ino'> {
    const { sec, nsec } = tx.now;
    const nowMs = toMs(tx.now);
    return {
      type,
      mode: mode & PERMISSION_BITS,
      uid: owner.uid,
      gid: owner.gid,
      size: 0,
      nlink: type === 'dir' ? 2 : 1,
      rdev: 0,
      parent: null,
      atimeSec: sec,
      atimeNsec: nsec,
      mtimeSec: sec,
      mtimeNsec: nsec,
      ctimeSec: sec,
      ctimeNsec: nsec,
      contentVersion: 0,
      writeCap: null,
      readCap: null,
      syncedContentVersion: null,
      // A new file must be uploaded, a new directory's dirnode created; other types live only in
      // their parent's edge metadata.
      syncState: 'dirty',
      dataDirty: type === 'file',
      attrDirty: type !== 'file' && type !== 'dir',
      entriesDirty: type === 'dir',
      dirtySince: nowMs,
      // A directory made here is complete: there is nothing in Tahoe to list yet.
      listedAt: type === 'dir' ? nowMs : null,
      changeSeq: 0,
      syncError: null,
      syncTries: 0,
      publishedIno: null,
      dirtyOwner: type === 'file' ? this.cacheOwner : null,
    };
  }
  requireSession(): { sid: number; info: SessionInfo; ttlMs: number } {
    if (this.session === null) {
      throw new Error('MetadataStore: openSession() must be called before open handles are tracked');
    }
    return this.session;
  }
}
