import { yieldIfBusy } from '../common/event-loop/yield-if-busy';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { toRecord } from './inode-record.util';
import type { DataSource, EntityManager } from 'typeorm';
import { FsError } from '../common/errors/fs-error';
import { dialectOf } from './data-source';
import { durableSyncPoint } from './durable-sync-point';
import {
  DirEntryModel,
  FsSettingModel,
  SyncedEntryModel,
  GatewaySessionModel,
  InodeModel,
  SustainedInodeModel,
  SymlinkModel,
  XattrModel,
  type SqlDialect,
} from './entities';
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
import { MetadataStore } from './metadata.store';
import {
  type ContentChange,
  type Credentials,
  DEFAULT_SESSION_TTL_MS,
  type DirEntryRecord,
  type DirPage,
  type FilesystemSettings,
  FORMAT_VERSION,
  type InodeRecord,
  type InodeType,
  type MetadataStats,
  type MknodOptions,
  type Name,
  type NewInodeOptions,
  type ReaddirOptions,
  type ReleaseResult,
  type RemovedInode,
  type RenameOptions,
  type RenameResult,
  ROOT_INO,
  type RootOptions,
  type SessionInfo,
  type SessionOptions,
  type SetAttrChanges,
  type TimeChange,
  type Timespec,
  XATTR_CREATE,
  XATTR_REPLACE,
} from './metadata.types';
import { checkName, checkNewName, checkSymlinkTarget, checkXattrName, checkXattrValue, dotKind } from './names.util';
import { countLinks, findPublishedInode } from './published-inode.util';
import { SqlSyncJournal, deleteSyncedNames } from './sql-sync-journal';
import type { RemoteApplyResult, RemoteChange, RemoteNode, SyncJournal } from './sync-journal';

const S_ISGID = 0o2000;
const PERMISSION_BITS = 0o7777;
const DEFAULT_PAGE = 1000;
const MAX_PAGE = 10_000;
/** Deeper than any real tree; stops an ancestry walk that a corrupt database would make endless. */
const MAX_DEPTH = 100_000;

const SETTING_FILESYSTEM_ID = 'filesystem_id';
const SETTING_FORMAT_VERSION = 'format_version';
const SETTING_ROOT_CAP = 'root_cap';

export interface SqlMetadataStoreOptions {
  clock?: MetadataClock;
  /** Called after every write transaction, for the metrics (riverfs_meta_txn_duration_seconds). */
  onTransaction?: (event: TransactionEvent) => void;
  /**
   * The id of this gateway's data directory (data-directory-id.ts), recorded as the owner of every content it makes
   * dirty: its block cache holds those bytes, and only it may upload them. Unset: content made dirty has no owner.
   */
  cacheOwner?: string;
}

export interface TransactionEvent {
  op: string;
  durationMs: number;
  /** 1 when the first attempt committed. */
  attempts: number;
  ok: boolean;
}

/** State of one attempt of one write transaction. */
interface Tx {
  manager: EntityManager;
  now: Timespec;
  /** Inode rows changed in memory, written back before commit. */
  changed: Map<number, InodeModel>;
  /** In-memory bookkeeping applied only once the transaction committed. */
  afterCommit: (() => void)[];
}

interface RawEntry {
  id: number;
  child: number;
  type: InodeType;
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

function isDuplicateKey(error: unknown): boolean {
  const driverError = (error as { driverError?: { errno?: unknown; code?: unknown } } | null)?.driverError;
  return (
    driverError?.errno === 1062 ||
    (typeof driverError?.code === 'string' && driverError.code.startsWith('SQLITE_CONSTRAINT'))
  );
}

function checkTimespec(time: Timespec): Timespec {
  if (!Number.isSafeInteger(time.sec) || !Number.isInteger(time.nsec) || time.nsec < 0 || time.nsec >= 1e9) {
    throw new FsError('EINVAL', `invalid time ${time.sec}.${time.nsec}`);
  }
  return time;
}

function setAtime(row: InodeModel, time: Timespec): void {
  row.atimeSec = time.sec;
  row.atimeNsec = time.nsec;
}

function setMtime(row: InodeModel, time: Timespec): void {
  row.mtimeSec = time.sec;
  row.mtimeNsec = time.nsec;
}

function setCtime(row: InodeModel, time: Timespec): void {
  row.ctimeSec = time.sec;
  row.ctimeNsec = time.nsec;
}

type DirtyFlag = 'dataDirty' | 'attrDirty' | 'entriesDirty';

/**
 * The MetadataStore on TypeORM, for MySQL/MariaDB and SQLite.
 *
 * Every mutation is one transaction. On MySQL it first locks, with one SELECT … FOR UPDATE in inode-number
 * order, every inode row it will read-modify-write: the directories whose entries change and the inodes
 * named by those entries. Entries are only ever changed while their directory's row is locked, so once the
 * locks are held the entries cannot move. Which inodes an entry names is only known by reading it, so the
 * entries are read once before locking and again after; if one changed in between the attempt restarts.
 * Deadlocks and lock wait timeouts roll the attempt back and retry it with backoff. On SQLite a write
 * transaction already excludes every other writer; operations of this process run one at a time on its one
 * connection.
 */
export class SqlMetadataStore extends MetadataStore {
  readonly dialect: SqlDialect;
  private readonly clock: MetadataClock;
  private readonly onTransaction: ((event: TransactionEvent) => void) | undefined;
  private readonly cacheOwner: string | null;
  private readonly mutex = new Mutex();
  /** Open handles of this gateway, by inode. */
  private readonly openCounts = new Map<number, number>();
  /** Inodes this gateway keeps alive after their last name went (rows in sustained_inode). */
  private readonly sustainedHere = new Set<number>();
  private session: { sid: number; info: SessionInfo; ttlMs: number } | null = null;
  private readonly counters: MetadataStats = {
    transactions: 0,
    retries: 0,
    retriesByCause: {},
    restarts: 0,
    exhausted: 0,
  };

  constructor(
    private readonly dataSource: DataSource,
    options: SqlMetadataStoreOptions = {},
  ) {
    super();
    this.dialect = dialectOf(dataSource);
    this.clock = options.clock ?? systemClock;
    this.onTransaction = options.onTransaction;
    this.cacheOwner = options.cacheOwner ?? null;
  }

  // ---- transactions ------------------------------------------------------------------------------

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    return this.dialect === 'sqlite' ? this.mutex.run(task) : task();
  }

  /** A read outside any transaction: one statement sees the latest committed rows. */
  private read<T>(body: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.exclusive(() => body(this.dataSource.manager));
  }

  /** One operation = one transaction, retried as a whole when the database asks for it. */
  private write<T>(op: string, body: (tx: Tx) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      const started = performance.now();
      for (let attempt = 1; ; attempt += 1) {
        const queryRunner = this.dataSource.createQueryRunner('master');
        const tx: Tx = { manager: queryRunner.manager, now: this.clock.now(), changed: new Map(), afterCommit: [] };
        try {
          await queryRunner.startTransaction();
          const result = await body(tx);
          await this.flush(tx);
          await queryRunner.commitTransaction();
          this.counters.transactions += 1;
          for (const task of tx.afterCommit) {
            task();
          }
          this.onTransaction?.({ op, durationMs: performance.now() - started, attempts: attempt, ok: true });
          return result;
        } catch (error) {
          if (queryRunner.isTransactionActive) {
            await queryRunner.rollbackTransaction().catch(() => undefined);
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

  /** Writes back every inode row the transaction changed, in inode order. */
  private async flush(tx: Tx): Promise<void> {
    const rows = [...tx.changed.values()].sort((a, b) => a.ino - b.ino);
    for (const row of rows) {
      const { ino, ...columns } = row;
      await tx.manager.createQueryBuilder().update(InodeModel).set(columns).where('ino = :ino', { ino }).execute();
    }
  }

  private markChanged(tx: Tx, row: InodeModel, ...flags: DirtyFlag[]): void {
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
  private async lockInodes(tx: Tx, inos: readonly (number | null | undefined)[]): Promise<Map<number, InodeModel>> {
    const wanted = [...new Set(inos.filter((ino): ino is number => typeof ino === 'number'))].sort((a, b) => a - b);
    if (wanted.length === 0) {
      return new Map();
    }
    const query = tx.manager
      .createQueryBuilder(InodeModel, 'i')
      .where('i.ino IN (:...wanted)', { wanted })
      .orderBy('i.ino', 'ASC');
    if (this.dialect === 'mysql') {
      query.setLock('pessimistic_write');
    }
    const rows = await query.getMany();
    return new Map(rows.map((row) => [row.ino, row]));
  }

  /** A locked directory that may receive or lose entries: it must exist, be a directory, not be removed. */
  private liveDir(rows: Map<number, InodeModel>, ino: number): InodeModel {
    const row = rows.get(ino);
    if (row === undefined || row.nlink === 0) {
      throw new FsError('ENOENT', `directory ${ino} does not exist`);
    }
    if (row.type !== 'dir') {
      throw new FsError('ENOTDIR', `inode ${ino} is not a directory`);
    }
    return row;
  }

  private async entryAt(manager: EntityManager, parent: number, name: Buffer): Promise<RawEntry | null> {
    const rows = await manager.query<{ id: unknown; child: unknown; type: InodeType }[]>(
      'SELECT e.id AS id, e.child AS child, i.type AS type FROM dir_entry e JOIN inode i ON i.ino = e.child ' +
        'WHERE e.parent = ? AND e.name = ?',
      [parent, name],
    );
    if (rows.length === 0) {
      return null;
    }
    const [row] = rows;
    return { id: num(row.id), child: num(row.child), type: row.type };
  }

  private async hasEntries(manager: EntityManager, dir: number): Promise<boolean> {
    const rows = await manager.query<unknown[]>('SELECT 1 AS present FROM dir_entry WHERE parent = ? LIMIT 1', [dir]);
    return rows.length > 0;
  }

  private async insertEntry(tx: Tx, parent: number, name: Buffer, child: number): Promise<void> {
    await tx.manager.createQueryBuilder().insert().into(DirEntryModel).values({ parent, name, child }).execute();
  }

  private async deleteEntry(tx: Tx, id: number): Promise<void> {
    await tx.manager.createQueryBuilder().delete().from(DirEntryModel).where('id = :id', { id }).execute();
  }

  /** A directory whose entries changed: its mtime and ctime become now (and Tahoe must hear of it). */
  private touchDir(tx: Tx, dir: InodeModel): void {
    setMtime(dir, tx.now);
    setCtime(dir, tx.now);
    this.markChanged(tx, dir, 'entriesDirty', 'attrDirty');
  }

  /**
   * `row` lost one name (all of them for a directory). It is deleted when nothing refers to it any more;
   * kept, with nlink 0, while this gateway has it open.
   */
  private async dropLink(tx: Tx, row: InodeModel): Promise<RemovedInode> {
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
  private async deleteInode(tx: Tx, ino: number): Promise<void> {
    tx.changed.delete(ino);
    await tx.manager.createQueryBuilder().delete().from(InodeModel).where('ino = :ino', { ino }).execute();
  }

  // ---- filesystem and sessions ----------------------------------------------------------------------

  async initFilesystem(root: RootOptions): Promise<FilesystemSettings> {
    await this.write('initFilesystem', async (tx) => {
      const settings = await this.readSettings(tx.manager);
      if (settings.has(SETTING_FILESYSTEM_ID)) {
        const version = Number(settings.get(SETTING_FORMAT_VERSION));
        if (!(version <= FORMAT_VERSION)) {
          throw new Error(
            `the metadata database has format version ${settings.get(SETTING_FORMAT_VERSION)}; ` +
              `this RiverFS understands up to ${FORMAT_VERSION}`,
          );
        }
      } else {
        try {
          await tx.manager
            .createQueryBuilder()
            .insert()
            .into(InodeModel)
            // listedAt null: the root cap may name an existing tree, which the first look must wait for.
            .values({ ...this.newInode(tx, 'dir', root.mode, root), ino: ROOT_INO, parent: ROOT_INO, listedAt: null })
            .execute();
          await tx.manager
            .createQueryBuilder()
            .insert()
            .into(FsSettingModel)
            .values([
              { name: SETTING_FILESYSTEM_ID, value: randomUUID() },
              { name: SETTING_FORMAT_VERSION, value: String(FORMAT_VERSION) },
            ])
            .execute();
        } catch (error) {
          // Another gateway initialised the same database at the same moment: start again and find it.
          if (isDuplicateKey(error)) {
            throw new RestartTransaction('filesystem initialised concurrently');
          }
          throw error;
        }
      }
      // Unlinked inodes that no session keeps alive any more (their gateway died and was reaped).
      await tx.manager.query(
        'DELETE FROM inode WHERE nlink = 0 AND NOT EXISTS (SELECT 1 FROM sustained_inode s WHERE s.ino = inode.ino)',
      );
    });
    return this.getSettings();
  }

  private async readSettings(manager: EntityManager): Promise<Map<string, string>> {
    const rows = await manager.createQueryBuilder(FsSettingModel, 's').getMany();
    return new Map(rows.map((row) => [row.name, row.value]));
  }

  async getSettings(): Promise<FilesystemSettings> {
    return await this.read(async (manager) => {
      const settings = await this.readSettings(manager);
      const filesystemId = settings.get(SETTING_FILESYSTEM_ID);
      if (filesystemId === undefined) {
        throw new Error('the metadata database holds no filesystem yet: call initFilesystem() first');
      }
      return {
        filesystemId,
        formatVersion: Number(settings.get(SETTING_FORMAT_VERSION)),
        rootCap: settings.get(SETTING_ROOT_CAP) ?? null,
      };
    });
  }

  async setRootCap(cap: string): Promise<void> {
    await this.write('setRootCap', async (tx) => {
      const rows = await this.lockInodes(tx, [ROOT_INO]);
      const root = rows.get(ROOT_INO);
      if (root === undefined) {
        throw new Error('the metadata database holds no filesystem yet: call initFilesystem() first');
      }
      const updated = await tx.manager
        .createQueryBuilder()
        .update(FsSettingModel)
        .set({ value: cap })
        .where('name = :name', { name: SETTING_ROOT_CAP })
        .execute();
      if (!updated.affected) {
        await tx.manager
          .createQueryBuilder()
          .insert()
          .into(FsSettingModel)
          .values({ name: SETTING_ROOT_CAP, value: cap })
          .execute();
      }
      root.writeCap = cap;
      this.markChanged(tx, root);
    });
  }

  async openSession(info: SessionInfo, options: SessionOptions = {}): Promise<number> {
    if (this.session !== null) {
      throw new Error(`a session (${this.session.sid}) is already open`);
    }
    const ttlMs = options.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    const sid = await this.write('openSession', async (tx) => {
      const nowMs = toMs(tx.now);
      const result = await tx.manager
        .createQueryBuilder()
        .insert()
        .into(GatewaySessionModel)
        .values({ info: JSON.stringify(info), startedAt: nowMs, heartbeatAt: nowMs, expiresAt: nowMs + ttlMs })
        .execute();
      return num((result.identifiers[0] as { sid: unknown }).sid);
    });
    this.session = { sid, info, ttlMs };
    return sid;
  }

  async heartbeat(): Promise<void> {
    const session = this.requireSession();
    await this.write('heartbeat', async (tx) => {
      const nowMs = toMs(tx.now);
      const updated = await tx.manager
        .createQueryBuilder()
        .update(GatewaySessionModel)
        .set({ heartbeatAt: nowMs, expiresAt: nowMs + session.ttlMs })
        .where('sid = :sid', { sid: session.sid })
        .execute();
      if (updated.affected) {
        return;
      }
      // Reaped by another gateway while we were stalled: come back under the same id. Inodes we kept
      // open may have been freed by the reaper; those still present are kept again.
      await tx.manager
        .createQueryBuilder()
        .insert()
        .into(GatewaySessionModel)
        .values({
          sid: session.sid,
          info: JSON.stringify(session.info),
          startedAt: nowMs,
          heartbeatAt: nowMs,
          expiresAt: nowMs + session.ttlMs,
        })
        .execute();
      const kept = await this.lockInodes(tx, [...this.sustainedHere]);
      for (const ino of kept.keys()) {
        await tx.manager
          .createQueryBuilder()
          .insert()
          .into(SustainedInodeModel)
          .values({ sid: session.sid, ino })
          .execute();
      }
    });
  }

  async closeSession(): Promise<void> {
    const session = this.session;
    if (session === null) {
      return;
    }
    await this.write('closeSession', async (tx) => {
      await this.freeSessions(tx, [session.sid]);
    });
    this.session = null;
    this.sustainedHere.clear();
    this.openCounts.clear();
  }

  async reapExpiredSessions(): Promise<number[]> {
    return await this.write('reapExpiredSessions', async (tx) => {
      const expired = await tx.manager
        .createQueryBuilder(GatewaySessionModel, 's')
        .where('s.expiresAt < :now', { now: toMs(tx.now) })
        .andWhere('s.sid <> :mine', { mine: this.session?.sid ?? 0 })
        .getMany();
      return this.freeSessions(
        tx,
        expired.map((session) => session.sid),
      );
    });
  }

  /** Deletes sessions and every inode that only they kept alive; returns those inodes. */
  private async freeSessions(tx: Tx, sids: number[]): Promise<number[]> {
    if (sids.length === 0) {
      return [];
    }
    const held = await tx.manager
      .createQueryBuilder(SustainedInodeModel, 's')
      .where('s.sid IN (:...sids)', { sids })
      .getMany();
    const rows =
      held.length > 0
        ? await this.lockInodes(
            tx,
            held.map((row) => row.ino),
          )
        : new Map<number, InodeModel>();
    await tx.manager
      .createQueryBuilder()
      .delete()
      .from(GatewaySessionModel)
      .where('sid IN (:...sids)', { sids })
      .execute();
    const freed: number[] = [];
    for (const row of rows.values()) {
      const others = await tx.manager
        .createQueryBuilder(SustainedInodeModel, 's')
        .where('s.ino = :ino', { ino: row.ino })
        .getCount();
      if (row.nlink === 0 && others === 0) {
        await this.deleteInode(tx, row.ino);
        freed.push(row.ino);
      }
    }
    return freed;
  }

  private requireSession(): { sid: number; info: SessionInfo; ttlMs: number } {
    if (this.session === null) {
      throw new Error('MetadataStore: openSession() must be called before open handles are tracked');
    }
    return this.session;
  }

  // ---- reads -------------------------------------------------------------------------------------------

  private async findInode(manager: EntityManager, ino: number): Promise<InodeModel | null> {
    return manager.createQueryBuilder(InodeModel, 'i').where('i.ino = :ino', { ino }).getOne();
  }

  private async inodeOrThrow(manager: EntityManager, ino: number): Promise<InodeModel> {
    const row = await this.findInode(manager, ino);
    if (row === null) {
      throw new FsError('ENOENT', `no inode ${ino}`);
    }
    return row;
  }

  async getInode(ino: number): Promise<InodeRecord> {
    return await this.read(async (manager) => toRecord(await this.inodeOrThrow(manager, ino)));
  }

  async lookup(parent: number, name: Name): Promise<InodeRecord> {
    const bytes = checkName(name);
    return await this.read(async (manager) => {
      const dots = dotKind(bytes);
      if (dots !== null) {
        const dir = await this.inodeOrThrow(manager, parent);
        if (dir.type !== 'dir') {
          throw new FsError('ENOTDIR', `inode ${parent} is not a directory`);
        }
        return toRecord(dots === 'dot' ? dir : await this.inodeOrThrow(manager, dir.parent ?? ROOT_INO));
      }
      const row = await manager
        .createQueryBuilder(InodeModel, 'i')
        .innerJoin(DirEntryModel, 'e', 'e.child = i.ino')
        .where('e.parent = :parent', { parent })
        .andWhere('e.name = :name', { name: bytes })
        .getOne();
      if (row !== null) {
        return toRecord(row);
      }
      const dir = await this.inodeOrThrow(manager, parent);
      if (dir.type !== 'dir') {
        throw new FsError('ENOTDIR', `inode ${parent} is not a directory`);
      }
      throw new FsError('ENOENT', `no entry "${bytes.toString()}" in directory ${parent}`);
    });
  }

  async readdir(dir: number, options: ReaddirOptions = {}): Promise<DirPage> {
    const limit = Math.min(Math.max(Math.trunc(options.limit ?? DEFAULT_PAGE), 1), MAX_PAGE);
    const after = Math.max(Math.trunc(options.after ?? 0), 0);
    return await this.read(async (manager) => {
      // One row more than asked tells whether another page follows, without a second query.
      const raw = await manager.query<{ id: unknown; name: Buffer; child: unknown; type: InodeType }[]>(
        'SELECT e.id AS id, e.name AS name, e.child AS child, i.type AS type FROM dir_entry e ' +
          'JOIN inode i ON i.ino = e.child WHERE e.parent = ? AND e.id > ? ORDER BY e.id LIMIT ?',
        [dir, after, limit + 1],
      );
      if (raw.length === 0) {
        const row = await this.inodeOrThrow(manager, dir);
        if (row.type !== 'dir') {
          throw new FsError('ENOTDIR', `inode ${dir} is not a directory`);
        }
      }
      const more = raw.length > limit;
      const entries: DirEntryRecord[] = raw
        .slice(0, limit)
        .map((row) => ({ name: Buffer.from(row.name), ino: num(row.child), type: row.type, cookie: num(row.id) }));
      if (options.plus === true && entries.length > 0) {
        const inodes = await manager
          .createQueryBuilder(InodeModel, 'i')
          .where('i.ino IN (:...inos)', { inos: [...new Set(entries.map((entry) => entry.ino))] })
          .getMany();
        const byIno = new Map(inodes.map((row) => [row.ino, toRecord(row)]));
        for (const entry of entries) {
          entry.inode = byIno.get(entry.ino);
        }
      }
      return { entries, next: more ? entries[entries.length - 1].cookie : null };
    });
  }

  async readlink(ino: number): Promise<Buffer> {
    return await this.read(async (manager) => {
      const row = await manager.createQueryBuilder(SymlinkModel, 's').where('s.ino = :ino', { ino }).getOne();
      if (row !== null) {
        return Buffer.from(row.target);
      }
      await this.inodeOrThrow(manager, ino);
      throw new FsError('EINVAL', `inode ${ino} is not a symlink`);
    });
  }

  async getXattr(ino: number, name: Name): Promise<Buffer> {
    const bytes = checkXattrName(name);
    return await this.read(async (manager) => {
      const row = await manager
        .createQueryBuilder(XattrModel, 'x')
        .where('x.ino = :ino', { ino })
        .andWhere('x.name = :name', { name: bytes })
        .getOne();
      if (row !== null) {
        return Buffer.from(row.value);
      }
      await this.inodeOrThrow(manager, ino);
      throw new FsError('ENODATA', `no xattr "${bytes.toString()}" on inode ${ino}`);
    });
  }

  async listXattr(ino: number): Promise<Buffer[]> {
    return await this.read(async (manager) => {
      await this.inodeOrThrow(manager, ino);
      const rows = await manager
        .createQueryBuilder(XattrModel, 'x')
        .select(['x.ino', 'x.name'])
        .where('x.ino = :ino', { ino })
        .orderBy('x.name', 'ASC')
        .getMany();
      return rows.map((row) => Buffer.from(row.name));
    });
  }

  // ---- namespace ---------------------------------------------------------------------------------------

  private newInode(tx: Tx, type: InodeType, mode: number, owner: Credentials): Omit<InodeModel, 'ino'> {
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

  private async createNode(
    op: string,
    parent: number,
    name: Name,
    spec: { type: InodeType; mode: number; owner: Credentials; rdev?: number; target?: Buffer },
  ): Promise<InodeRecord> {
    const bytes = checkNewName(name);
    return await this.write(op, async (tx) => {
      const dir = this.liveDir(await this.lockInodes(tx, [parent]), parent);
      if ((await this.entryAt(tx.manager, parent, bytes)) !== null) {
        throw new FsError('EEXIST', `"${bytes.toString()}" exists in directory ${parent}`);
      }
      const row = this.newInode(tx, spec.type, spec.mode, spec.owner) as InodeModel;
      // Set-group-ID directories pass their group down, and the flag itself to subdirectories.
      if ((dir.mode & S_ISGID) !== 0) {
        row.gid = dir.gid;
        if (spec.type === 'dir') {
          row.mode |= S_ISGID;
        }
      }
      if (spec.type === 'dir') {
        row.parent = parent;
      }
      if (spec.type === 'char' || spec.type === 'block') {
        row.rdev = spec.rdev ?? 0;
      }
      if (spec.target !== undefined) {
        row.size = spec.target.length;
      }
      // A copy: on MariaDB TypeORM writes the RETURNING values (raw, untransformed) into the object given.
      const inserted = await tx.manager
        .createQueryBuilder()
        .insert()
        .into(InodeModel)
        .values({ ...row })
        .execute();
      row.ino = num((inserted.identifiers[0] as { ino: unknown }).ino);
      if (spec.target !== undefined) {
        await tx.manager
          .createQueryBuilder()
          .insert()
          .into(SymlinkModel)
          .values({ ino: row.ino, target: spec.target })
          .execute();
      }
      await this.insertEntry(tx, parent, bytes, row.ino);
      if (spec.type === 'dir') {
        dir.nlink += 1;
      }
      this.touchDir(tx, dir);
      return toRecord(row);
    });
  }

  async create(parent: number, name: Name, options: NewInodeOptions): Promise<InodeRecord> {
    return await this.createNode('create', parent, name, { type: 'file', mode: options.mode, owner: options });
  }

  async mkdir(parent: number, name: Name, options: NewInodeOptions): Promise<InodeRecord> {
    return await this.createNode('mkdir', parent, name, { type: 'dir', mode: options.mode, owner: options });
  }

  async mknod(parent: number, name: Name, options: MknodOptions): Promise<InodeRecord> {
    const allowed: readonly InodeType[] = ['file', 'fifo', 'socket', 'char', 'block'];
    if (!allowed.includes(options.type)) {
      throw new FsError('EINVAL', `mknod cannot make a ${String(options.type)}`);
    }
    return await this.createNode('mknod', parent, name, {
      type: options.type,
      mode: options.mode,
      owner: options,
      rdev: options.rdev,
    });
  }

  async symlink(parent: number, name: Name, target: Name, owner: Credentials): Promise<InodeRecord> {
    const bytes = checkSymlinkTarget(target);
    return await this.createNode('symlink', parent, name, { type: 'symlink', mode: 0o777, owner, target: bytes });
  }

  async link(ino: number, newParent: number, newName: Name): Promise<InodeRecord> {
    const bytes = checkNewName(newName);
    return await this.write('link', async (tx) => {
      const rows = await this.lockInodes(tx, [ino, newParent]);
      const row = rows.get(ino);
      if (row === undefined || row.nlink === 0) {
        throw new FsError('ENOENT', `no inode ${ino}`);
      }
      const dir = this.liveDir(rows, newParent);
      if (row.type === 'dir') {
        throw new FsError('EPERM', 'hard links to directories are not allowed');
      }
      if ((await this.entryAt(tx.manager, newParent, bytes)) !== null) {
        throw new FsError('EEXIST', `"${bytes.toString()}" exists in directory ${newParent}`);
      }
      await this.insertEntry(tx, newParent, bytes, ino);
      row.nlink += 1;
      setCtime(row, tx.now);
      this.markChanged(tx, row, 'attrDirty');
      this.touchDir(tx, dir);
      return toRecord(row);
    });
  }

  async unlink(parent: number, name: Name): Promise<RemovedInode> {
    const bytes = checkName(name);
    if (dotKind(bytes) !== null) {
      // `.` and `..` are directories: unlink(2) answers EISDIR.
      throw new FsError('EISDIR', `cannot unlink "${bytes.toString()}"`);
    }
    return await this.write('unlink', async (tx) => {
      const { dir, entry, child } = await this.lockEntry(tx, parent, bytes);
      if (child.type === 'dir') {
        throw new FsError('EISDIR', `"${bytes.toString()}" is a directory`);
      }
      await this.deleteEntry(tx, entry.id);
      this.touchDir(tx, dir);
      return this.dropLink(tx, child);
    });
  }

  async rmdir(parent: number, name: Name): Promise<RemovedInode> {
    const bytes = checkName(name);
    const dots = dotKind(bytes);
    if (dots !== null) {
      throw new FsError(dots === 'dot' ? 'EINVAL' : 'ENOTEMPTY', `cannot rmdir "${bytes.toString()}"`);
    }
    return await this.write('rmdir', async (tx) => {
      const { dir, entry, child } = await this.lockEntry(tx, parent, bytes);
      if (child.type !== 'dir') {
        throw new FsError('ENOTDIR', `"${bytes.toString()}" is not a directory`);
      }
      if (await this.hasEntries(tx.manager, child.ino)) {
        throw new FsError('ENOTEMPTY', `directory "${bytes.toString()}" is not empty`);
      }
      await this.deleteEntry(tx, entry.id);
      dir.nlink -= 1;
      this.touchDir(tx, dir);
      return this.dropLink(tx, child);
    });
  }

  /**
   * Locks directory `parent` and the inode its entry `name` names, in inode order, and returns both
   * with the entry. ENOENT when there is no such entry.
   */
  private async lockEntry(
    tx: Tx,
    parent: number,
    name: Buffer,
  ): Promise<{ dir: InodeModel; entry: RawEntry; child: InodeModel }> {
    const seen = await this.entryAt(tx.manager, parent, name);
    const rows = await this.lockInodes(tx, [parent, seen?.child]);
    const dir = this.liveDir(rows, parent);
    const entry = await this.entryAt(tx.manager, parent, name);
    if (entry?.child !== seen?.child) {
      throw new RestartTransaction(`entry "${name.toString()}" of ${parent} changed before it was locked`);
    }
    if (entry === null) {
      throw new FsError('ENOENT', `no entry "${name.toString()}" in directory ${parent}`);
    }
    return { dir, entry, child: rows.get(entry.child)! };
  }

  async rename(
    parent: number,
    name: Name,
    newParent: number,
    newName: Name,
    options: RenameOptions = {},
  ): Promise<RenameResult> {
    const source = checkName(name);
    const target = checkName(newName);
    // Linux refuses `.` and `..` on either side with EBUSY (EEXIST for the target under NOREPLACE).
    if (dotKind(source) !== null) {
      throw new FsError('EBUSY', `cannot rename "${source.toString()}"`);
    }
    if (dotKind(target) !== null) {
      throw new FsError(options.noReplace ? 'EEXIST' : 'EBUSY', `cannot rename onto "${target.toString()}"`);
    }
    return await this.write('rename', async (tx) => {
      const seenSource = await this.entryAt(tx.manager, parent, source);
      const seenTarget = await this.entryAt(tx.manager, newParent, target);
      // Moving a directory to another parent is the one change that can make a cycle; like Linux's
      // per-filesystem rename mutex, these renames are serialised, here on the root inode's row
      // (the lowest inode number, so it is still taken first).
      const movesDir = seenSource?.type === 'dir' && parent !== newParent;
      const rows = await this.lockInodes(tx, [
        movesDir ? ROOT_INO : null,
        parent,
        newParent,
        seenSource?.child,
        seenTarget?.child,
      ]);
      const fromDir = this.liveDir(rows, parent);
      const toDir = this.liveDir(rows, newParent);
      const from = await this.entryAt(tx.manager, parent, source);
      const to = await this.entryAt(tx.manager, newParent, target);
      if (from?.child !== seenSource?.child || to?.child !== seenTarget?.child) {
        throw new RestartTransaction('rename: an entry changed before it was locked');
      }
      if (from === null) {
        throw new FsError('ENOENT', `no entry "${source.toString()}" in directory ${parent}`);
      }
      if (to !== null && options.noReplace) {
        throw new FsError('EEXIST', `"${target.toString()}" exists in directory ${newParent}`);
      }
      if (to !== null && to.child === from.child) {
        // Both names are links to the same inode (or the very same name): rename(2) does nothing.
        return { ino: from.child, replaced: null };
      }
      const moved = rows.get(from.child)!;
      const victim = to === null ? null : rows.get(to.child)!;
      if (movesDir && (await this.isSameOrBelow(tx.manager, newParent, moved.ino))) {
        throw new FsError('EINVAL', 'cannot move a directory into itself or its own subtree');
      }
      if (victim !== null) {
        if (moved.type === 'dir' && victim.type !== 'dir') {
          throw new FsError('ENOTDIR', `"${target.toString()}" is not a directory`);
        }
        if (moved.type !== 'dir' && victim.type === 'dir') {
          throw new FsError('EISDIR', `"${target.toString()}" is a directory`);
        }
        if (victim.type === 'dir' && (await this.hasEntries(tx.manager, victim.ino))) {
          throw new FsError('ENOTEMPTY', `directory "${target.toString()}" is not empty`);
        }
        await this.deleteEntry(tx, to!.id);
      }
      // The entry keeps its id, so a directory being read sees it once, at its old place.
      await tx.manager
        .createQueryBuilder()
        .update(DirEntryModel)
        .set({ parent: newParent, name: target })
        .where('id = :id', { id: from.id })
        .execute();
      if (movesDir) {
        fromDir.nlink -= 1;
        toDir.nlink += 1;
        moved.parent = newParent;
      }
      if (victim?.type === 'dir') {
        toDir.nlink -= 1;
      }
      setCtime(moved, tx.now);
      this.markChanged(tx, moved, 'attrDirty');
      this.touchDir(tx, fromDir);
      this.touchDir(tx, toDir);
      const replaced = victim === null ? null : await this.dropLink(tx, victim);
      return { ino: moved.ino, replaced };
    });
  }

  /** Whether directory `dir` is `ancestor` or lies below it, following the parent pointers up to the root. */
  private async isSameOrBelow(manager: EntityManager, dir: number, ancestor: number): Promise<boolean> {
    let current = dir;
    for (let depth = 0; depth < MAX_DEPTH; depth += 1) {
      if (current === ancestor) {
        return true;
      }
      if (current === ROOT_INO) {
        return false;
      }
      const rows = await manager.query<{ parent: unknown }[]>('SELECT parent FROM inode WHERE ino = ?', [current]);
      if (rows.length === 0 || rows[0].parent === null) {
        throw new Error(`directory ${current} has no parent: the metadata database is inconsistent`);
      }
      current = num(rows[0].parent);
    }
    throw new Error(`directory ${dir} is more than ${MAX_DEPTH} levels deep: the parent pointers form a cycle`);
  }

  // ---- attributes ----------------------------------------------------------------------------------------

  async setattr(ino: number, changes: SetAttrChanges): Promise<InodeRecord> {
    if (changes.accessOnly) {
      const { atime, accessOnly: _, ...others } = changes;
      if (atime === undefined || Object.values(others).some((value) => value !== undefined)) {
        throw new FsError('EINVAL', 'an access-only setattr changes atime and nothing else');
      }
    }
    return await this.write('setattr', async (tx) => {
      const row = (await this.lockInodes(tx, [ino])).get(ino);
      if (row === undefined) {
        throw new FsError('ENOENT', `no inode ${ino}`);
      }
      const resolve = (time: TimeChange): Timespec => (time === 'now' ? tx.now : checkTimespec(time));
      if (changes.accessOnly) {
        setAtime(row, resolve(changes.atime!));
        this.markChanged(tx, row);
        return toRecord(row);
      }
      const flags: DirtyFlag[] = ['attrDirty'];
      if (changes.size !== undefined) {
        if (row.type === 'dir') {
          throw new FsError('EISDIR', 'cannot truncate a directory');
        }
        if (row.type !== 'file') {
          throw new FsError('EINVAL', `cannot truncate a ${row.type}`);
        }
        if (!Number.isInteger(changes.size) || changes.size < 0) {
          throw new FsError('EINVAL', `invalid size ${changes.size}`);
        }
        if (!Number.isSafeInteger(changes.size)) {
          throw new FsError('EFBIG', `size ${changes.size} is too large`);
        }
        if (changes.size !== row.size) {
          row.size = changes.size;
          row.contentVersion += 1;
          flags.push('dataDirty');
        }
        // truncate(2) sets mtime and ctime even when the size does not change.
        setMtime(row, tx.now);
      }
      if (changes.mode !== undefined) {
        row.mode = changes.mode & PERMISSION_BITS;
      }
      if (changes.uid !== undefined) {
        row.uid = changes.uid;
      }
      if (changes.gid !== undefined) {
        row.gid = changes.gid;
      }
      if (changes.atime !== undefined) {
        setAtime(row, resolve(changes.atime));
      }
      if (changes.mtime !== undefined) {
        setMtime(row, resolve(changes.mtime));
      }
      setCtime(row, tx.now);
      this.markChanged(tx, row, ...flags);
      return toRecord(row);
    });
  }

  async recordContentChange(ino: number, change: ContentChange): Promise<InodeRecord> {
    // Checked before the transaction: a bad argument is the caller's bug and needs no database round trip.
    if (!Number.isSafeInteger(change.size) || change.size < 0) {
      throw new FsError('EINVAL', `invalid size ${change.size}`);
    }
    const mtime = change.mtime === 'now' ? null : checkTimespec(change.mtime);
    return await this.write('recordContentChange', async (tx) => {
      // Only the file's own row: no directory changes, so flushes of files in one directory never wait
      // on each other or on namespace operations there.
      const row = (await this.lockInodes(tx, [ino])).get(ino);
      if (row === undefined) {
        throw new FsError('ENOENT', `no inode ${ino}`);
      }
      if (row.type === 'dir') {
        throw new FsError('EISDIR', `inode ${ino} is a directory`);
      }
      if (row.type !== 'file') {
        throw new FsError('EINVAL', `inode ${ino} is a ${row.type}, not a regular file`);
      }
      row.size = change.size;
      row.contentVersion += 1;
      setMtime(row, mtime ?? tx.now);
      setCtime(row, tx.now);
      // attrDirty too: mtime and ctime travel in the edge metadata, which must be republished with the link.
      this.markChanged(tx, row, 'dataDirty', 'attrDirty');
      return toRecord(row);
    });
  }

  async makeDurable(): Promise<void> {
    await this.exclusive(() => durableSyncPoint(this.dataSource, this.dialect));
  }

  async setXattr(ino: number, name: Name, value: Buffer, flags = 0): Promise<void> {
    const bytes = checkXattrName(name);
    checkXattrValue(value);
    if ((flags & ~(XATTR_CREATE | XATTR_REPLACE)) !== 0) {
      throw new FsError('EINVAL', `unknown setxattr flags ${flags}`);
    }
    return await this.write('setXattr', async (tx) => {
      const row = (await this.lockInodes(tx, [ino])).get(ino);
      if (row === undefined) {
        throw new FsError('ENOENT', `no inode ${ino}`);
      }
      const existing = await tx.manager
        .createQueryBuilder(XattrModel, 'x')
        .select(['x.ino', 'x.name'])
        .where('x.ino = :ino', { ino })
        .andWhere('x.name = :name', { name: bytes })
        .getOne();
      if (existing !== null && (flags & XATTR_CREATE) !== 0) {
        throw new FsError('EEXIST', `xattr "${bytes.toString()}" exists`);
      }
      if (existing === null && (flags & XATTR_REPLACE) !== 0) {
        throw new FsError('ENODATA', `no xattr "${bytes.toString()}" to replace`);
      }
      if (existing === null) {
        await tx.manager.createQueryBuilder().insert().into(XattrModel).values({ ino, name: bytes, value }).execute();
      } else {
        await tx.manager
          .createQueryBuilder()
          .update(XattrModel)
          .set({ value })
          .where('ino = :ino', { ino })
          .andWhere('name = :name', { name: bytes })
          .execute();
      }
      setCtime(row, tx.now);
      this.markChanged(tx, row, 'attrDirty');
    });
  }

  async removeXattr(ino: number, name: Name): Promise<void> {
    const bytes = checkXattrName(name);
    return await this.write('removeXattr', async (tx) => {
      const row = (await this.lockInodes(tx, [ino])).get(ino);
      if (row === undefined) {
        throw new FsError('ENOENT', `no inode ${ino}`);
      }
      const removed = await tx.manager
        .createQueryBuilder()
        .delete()
        .from(XattrModel)
        .where('ino = :ino', { ino })
        .andWhere('name = :name', { name: bytes })
        .execute();
      if (!removed.affected) {
        throw new FsError('ENODATA', `no xattr "${bytes.toString()}" on inode ${ino}`);
      }
      setCtime(row, tx.now);
      this.markChanged(tx, row, 'attrDirty');
    });
  }

  // ---- open handles ----------------------------------------------------------------------------------------

  async open(ino: number): Promise<InodeRecord> {
    this.requireSession();
    // Counted before the inode is read: an unlink that commits after this point sees the handle and
    // keeps the inode; one that committed before makes the read below fail.
    this.openCounts.set(ino, (this.openCounts.get(ino) ?? 0) + 1);
    return await this.read(async (manager) => {
      if (this.dialect === 'mysql') {
        // A locking read waits for an unlink of this inode that is still in flight to commit, so a
        // handle is never granted on an inode that transaction is about to free.
        await manager.query('SELECT ino FROM inode WHERE ino = ? FOR UPDATE', [ino]);
      }
      return toRecord(await this.inodeOrThrow(manager, ino));
    }).catch((error: unknown) => {
      this.forgetHandle(ino);
      throw error;
    });
  }

  private forgetHandle(ino: number): number {
    const left = (this.openCounts.get(ino) ?? 0) - 1;
    if (left > 0) {
      this.openCounts.set(ino, left);
    } else {
      this.openCounts.delete(ino);
    }
    return Math.max(left, 0);
  }

  async release(ino: number): Promise<ReleaseResult> {
    if (this.forgetHandle(ino) > 0 || !this.sustainedHere.has(ino)) {
      return { freed: false };
    }
    const session = this.requireSession();
    return await this.write('release', async (tx) => {
      if ((this.openCounts.get(ino) ?? 0) > 0) {
        // Opened again (through /proc/…/fd) while this release waited for its turn.
        return { freed: false };
      }
      const row = (await this.lockInodes(tx, [ino])).get(ino);
      tx.afterCommit.push(() => this.sustainedHere.delete(ino));
      if (row === undefined) {
        return { freed: false };
      }
      await tx.manager
        .createQueryBuilder()
        .delete()
        .from(SustainedInodeModel)
        .where('sid = :sid', { sid: session.sid })
        .andWhere('ino = :ino', { ino })
        .execute();
      const others = await tx.manager
        .createQueryBuilder(SustainedInodeModel, 's')
        .where('s.ino = :ino', { ino })
        .getCount();
      if (row.nlink > 0 || others > 0) {
        return { freed: false };
      }
      await this.deleteInode(tx, ino);
      return { freed: true };
    });
  }

  // ---- operations --------------------------------------------------------------------------------------------

  stats(): MetadataStats {
    return { ...this.counters, retriesByCause: { ...this.counters.retriesByCause } };
  }

  /** The sync worker's port on this database, with this store's transaction discipline (sql-sync-journal.ts). */
  syncJournal(): SyncJournal {
    return new SqlSyncJournal({
      dialect: this.dialect,
      read: (body) => this.read(body),
      write: (op, body) => this.write(op, (tx) => body(tx.manager)),
      applyRemote: (dir, changes, options) => this.applyRemote(dir, changes, options),
    });
  }

  // ---- downstream (what a pull found in Tahoe) -----------------------------------------------------------------

  /** See SyncJournal.applyRemote. Remote changes never mark anything dirty, except where local must win. */
  private async applyRemote(
    dir: number,
    changes: RemoteChange[],
    options: { listedAt?: number; publishAfter: boolean },
  ): Promise<RemoteApplyResult> {
    return await this.write('applyRemote', async (tx) => {
      const result: RemoteApplyResult = { applied: 0, skipped: 0, added: [], dropData: [], changed: [] };
      const dirRow = (await this.lockInodes(tx, [dir])).get(dir);
      if (dirRow === undefined || dirRow.type !== 'dir' || dirRow.nlink === 0) {
        return result;
      }
      let publish = options.publishAfter;
      for (const change of changes) {
        await yieldIfBusy();
        const outcome = await this.applyRemoteChange(tx, dirRow, change, result);
        if (outcome === 'skipped') {
          result.skipped += 1;
          continue;
        }
        result.applied += 1;
        publish ||= outcome === 'publish';
      }
      dirRow.listedAt = options.listedAt ?? dirRow.listedAt;
      if (publish) {
        this.markChanged(tx, dirRow, 'entriesDirty');
      } else {
        tx.changed.set(dirRow.ino, dirRow);
      }
      result.changed.push(dir);
      return result;
    });
  }

  private async applyRemoteChange(
    tx: Tx,
    dir: InodeModel,
    change: RemoteChange,
    result: RemoteApplyResult,
  ): Promise<'applied' | 'skipped' | 'publish'> {
    switch (change.kind) {
      case 'acknowledge':
        await this.recordSynced(tx, dir.ino, change.name, change.child, change.cap, change.metaHash);
        return 'applied';
      case 'forget':
        await this.forgetSynced(tx, dir.ino, [change.name]);
        // The local entry, if any, is linked again by the next publish.
        return 'publish';
      case 'add':
        return this.addRemote(tx, dir, change, result);
      case 'update':
        return this.updateRemote(tx, dir, change, result);
      case 'remove':
        return this.removeRemote(tx, dir, change, result);
    }
  }

  private async recordSynced(
    tx: Tx,
    dir: number,
    name: Buffer,
    child: number | null,
    cap: string,
    metaHash: string | null,
  ): Promise<void> {
    await this.forgetSynced(tx, dir, [name]);
    await tx.manager
      .createQueryBuilder()
      .insert()
      .into(SyncedEntryModel)
      .values({ parent: dir, name, child, cap, metaHash, syncedAt: Date.now() })
      .execute();
  }

  private async forgetSynced(tx: Tx, dir: number, names: Buffer[]): Promise<void> {
    await deleteSyncedNames(tx.manager, dir, names);
  }

  /** A pulled inode's symlink target and xattrs, replacing what it had (each only when the edge carries it). */
  private async writeRemoteExtras(tx: Tx, ino: number, extras: Pick<RemoteNode, 'target' | 'xattrs'>): Promise<void> {
    if (extras.target !== undefined) {
      await tx.manager.createQueryBuilder().delete().from(SymlinkModel).where('ino = :ino', { ino }).execute();
      await tx.manager
        .createQueryBuilder()
        .insert()
        .into(SymlinkModel)
        .values({ ino, target: extras.target })
        .execute();
    }
    if (extras.xattrs !== undefined) {
      await tx.manager.createQueryBuilder().delete().from(XattrModel).where('ino = :ino', { ino }).execute();
      for (const xattr of extras.xattrs) {
        await tx.manager
          .createQueryBuilder()
          .insert()
          .into(XattrModel)
          .values({ ino, ...xattr })
          .execute();
      }
    }
  }

  private async addRemote(
    tx: Tx,
    dir: InodeModel,
    change: Extract<RemoteChange, { kind: 'add' }>,
    result: RemoteApplyResult,
  ): Promise<'applied' | 'skipped' | 'publish'> {
    let name: Buffer;
    try {
      name = checkNewName(change.name);
    } catch {
      // A name no local filesystem can hold (the planner filters these): left out, never the whole pull failed.
      return 'skipped';
    }
    if ((await this.entryAt(tx.manager, dir.ino, name)) !== null) {
      return 'skipped';
    }
    const { node } = change;
    // A rebuild's wanted number is the published one.
    const publishedIno = change.publishedIno ?? change.ino;
    let linkTo = change.linkTo;
    if (linkTo === undefined && publishedIno !== undefined && node.type !== 'dir') {
      // Looked up here, in the transaction: the other name may have been added by this same listing.
      linkTo = (await findPublishedInode(tx.manager, publishedIno, node)) ?? undefined;
    }
    let ino: number;
    let joined: InodeModel | undefined;
    if (linkTo !== undefined) {
      joined = (await this.lockInodes(tx, [linkTo])).get(linkTo);
      if (joined === undefined || joined.nlink === 0 || joined.type === 'dir' || joined.type !== node.type) {
        return 'skipped';
      }
      ino = joined.ino;
    } else {
      const nowMs = toMs(tx.now);
      const row: Omit<InodeModel, 'ino'> & { ino?: number } = {
        type: node.type,
        mode: node.mode & PERMISSION_BITS,
        uid: node.uid,
        gid: node.gid,
        size: node.type === 'symlink' ? (node.target?.length ?? 0) : node.size,
        nlink: node.type === 'dir' ? 2 : 1,
        rdev: node.rdev,
        parent: node.type === 'dir' ? dir.ino : null,
        atimeSec: node.mtime.sec,
        atimeNsec: node.mtime.nsec,
        mtimeSec: node.mtime.sec,
        mtimeNsec: node.mtime.nsec,
        ctimeSec: node.ctime.sec,
        ctimeNsec: node.ctime.nsec,
        contentVersion: 0,
        writeCap: node.writeCap,
        readCap: node.readCap,
        // The cap holds this content: uncached blocks are read from it (RemoteBlocks).
        syncedContentVersion: 0,
        syncState: 'synced',
        dataDirty: false,
        attrDirty: false,
        entriesDirty: false,
        dirtySince: null,
        // A directory's own listing is fetched when it is first looked into.
        listedAt: node.type === 'dir' ? null : nowMs,
        changeSeq: 0,
        syncError: null,
        syncTries: 0,
        // Its edges keep carrying that number, whatever number it gets here.
        publishedIno: publishedIno ?? null,
        dirtyOwner: null,
      };
      if (change.ino !== undefined && (await this.findInode(tx.manager, change.ino)) === null) {
        row.ino = change.ino;
      }
      const inserted = await tx.manager
        .createQueryBuilder()
        .insert()
        .into(InodeModel)
        .values({ ...row })
        .execute();
      ino = row.ino ?? num((inserted.identifiers[0] as { ino: unknown }).ino);
      await this.writeRemoteExtras(tx, ino, {
        ...node,
        target: node.type === 'symlink' ? (node.target ?? Buffer.alloc(0)) : undefined,
      });
      if (node.type === 'dir') {
        dir.nlink += 1;
        tx.changed.set(dir.ino, dir);
      }
    }
    await this.insertEntry(tx, dir.ino, name, ino);
    if (joined !== undefined) {
      joined.nlink = await countLinks(tx.manager, joined.ino);
      tx.changed.set(joined.ino, joined);
    }
    if (change.publish) {
      return 'publish';
    }
    await this.recordSynced(tx, dir.ino, name, ino, node.writeCap, change.metaHash);
    result.added.push({ name, ino });
    result.changed.push(ino);
    return 'applied';
  }

  /** The entry still names `child`, and `child` is unchanged since the pull read it and has nothing to push. */
  private async unchangedRemoteChild(
    tx: Tx,
    dir: number,
    name: Buffer,
    child: number,
    changeSeq: number,
  ): Promise<InodeModel | null> {
    const entry = await this.entryAt(tx.manager, dir, name);
    if (entry === null || entry.child !== child) {
      return null;
    }
    const row = (await this.lockInodes(tx, [child])).get(child);
    if (row === undefined || row.changeSeq !== changeSeq || row.syncState !== 'synced') {
      return null;
    }
    return row;
  }

  private async updateRemote(
    tx: Tx,
    dir: InodeModel,
    change: Extract<RemoteChange, { kind: 'update' }>,
    result: RemoteApplyResult,
  ): Promise<'applied' | 'skipped'> {
    const row = await this.unchangedRemoteChild(tx, dir.ino, change.name, change.child, change.changeSeq);
    const { node } = change;
    if (row === null || row.type !== node.type) {
      return 'skipped';
    }
    row.mode = node.mode & PERMISSION_BITS;
    row.uid = node.uid;
    row.gid = node.gid;
    row.rdev = node.rdev;
    setMtime(row, node.mtime);
    setCtime(row, node.ctime);
    if (change.contentChanged) {
      row.writeCap = node.writeCap;
      row.readCap = node.readCap;
      if (row.type === 'dir') {
        // Another dirnode: its listing is fetched again at the next look.
        row.listedAt = null;
      } else {
        row.size = row.type === 'symlink' ? (node.target?.length ?? 0) : node.size;
        row.contentVersion += 1;
        row.syncedContentVersion = row.contentVersion;
        result.dropData.push(row.ino);
      }
    }
    await this.writeRemoteExtras(tx, row.ino, { ...node, target: row.type === 'symlink' ? node.target : undefined });
    tx.changed.set(row.ino, row);
    await this.recordSynced(tx, dir.ino, change.name, row.ino, node.writeCap, change.metaHash);
    result.changed.push(row.ino);
    return 'applied';
  }

  private async removeRemote(
    tx: Tx,
    dir: InodeModel,
    change: Extract<RemoteChange, { kind: 'remove' }>,
    result: RemoteApplyResult,
  ): Promise<'applied' | 'skipped' | 'publish'> {
    const row = await this.unchangedRemoteChild(tx, dir.ino, change.name, change.child, change.changeSeq);
    if (row === null) {
      return 'skipped';
    }
    if (row.type === 'dir' && !(await this.treeInSync(tx.manager, row.ino))) {
      // Local changes below it win: the directory stays and is linked again by the next publish.
      await this.forgetSynced(tx, dir.ino, [change.name]);
      return 'publish';
    }
    const entry = (await this.entryAt(tx.manager, dir.ino, change.name))!;
    await this.deleteEntry(tx, entry.id);
    await this.forgetSynced(tx, dir.ino, [change.name]);
    if (row.type === 'dir') {
      dir.nlink -= 1;
      tx.changed.set(dir.ino, dir);
      await this.removeTree(tx, row, result);
      return 'applied';
    }
    await this.loseRemoteName(tx, row, result);
    return 'applied';
  }

  /**
   * A file whose entry was removed because Tahoe lost the name. Its link count is recounted from the names left; with
   * none left it goes as an unlink's would. A hard link that keeps other names is not marked dirty: nothing changed
   * here to push, and republishing its other names would link again a name removed remotely in a directory listed
   * after this one (its local inode no longer clean, the pull would keep it as a local change).
   */
  private async loseRemoteName(tx: Tx, row: InodeModel, result: RemoteApplyResult): Promise<void> {
    const left = await countLinks(tx.manager, row.ino);
    result.changed.push(row.ino);
    if (left > 0) {
      row.nlink = left;
      tx.changed.set(row.ino, row);
      return;
    }
    row.nlink = 1;
    const removed = await this.dropLink(tx, row);
    if (removed.freed || removed.nlink === 0) {
      result.dropData.push(row.ino);
    }
  }

  /** True when no inode in the directory's tree has anything to push. */
  private async treeInSync(manager: EntityManager, root: number): Promise<boolean> {
    const pending = [root];
    for (let depth = 0; pending.length > 0 && depth < MAX_DEPTH; depth += 1) {
      const dir = pending.pop()!;
      const rows = await manager.query<{ child: unknown; type: InodeType; sync_state: string }[]>(
        'SELECT e.child AS child, i.type AS type, i.sync_state AS sync_state FROM dir_entry e ' +
          'JOIN inode i ON i.ino = e.child WHERE e.parent = ?',
        [dir],
      );
      for (const row of rows) {
        if (row.sync_state !== 'synced') {
          return false;
        }
        if (row.type === 'dir') {
          pending.push(num(row.child));
        }
      }
    }
    return true;
  }

  /** Removes a directory that lost its entry, and everything below it (hard links elsewhere keep their inodes). */
  private async removeTree(tx: Tx, root: InodeModel, result: RemoteApplyResult): Promise<void> {
    const entries = await tx.manager.query<{ id: unknown; child: unknown }[]>(
      'SELECT id, child FROM dir_entry WHERE parent = ? ORDER BY id',
      [root.ino],
    );
    for (const entry of entries) {
      const child = (await this.lockInodes(tx, [num(entry.child)])).get(num(entry.child));
      await this.deleteEntry(tx, num(entry.id));
      if (child === undefined) {
        continue;
      }
      if (child.type === 'dir') {
        await this.removeTree(tx, child, result);
        result.changed.push(child.ino);
      } else {
        await this.loseRemoteName(tx, child, result);
      }
    }
    await tx.manager
      .createQueryBuilder()
      .delete()
      .from(SyncedEntryModel)
      .where('parent = :dir', { dir: root.ino })
      .execute();
    root.nlink = 0;
    await this.dropLink(tx, root);
    result.changed.push(root.ino);
  }

  async close(): Promise<void> {
    try {
      await this.closeSession();
    } finally {
      if (this.dataSource.isInitialized) {
        await this.dataSource.destroy();
      }
    }
  }
}
