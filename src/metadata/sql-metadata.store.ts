import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { FsError } from '../common/errors/fs-error';
import { durableSyncPoint } from './durable-sync-point';
import { toRecord } from './inode-record.util';
import { FsSettingModel, InodeModel, type SqlDialect } from './entities';
import { RestartTransaction } from './metadata-txn.util';
import { MetadataStore } from './metadata.store';
import {
  type ContentChange,
  type Credentials,
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
} from './metadata.types';
import { checkName, checkXattrName, dotKind } from './names.util';
import { SqlSyncJournal } from './sql-sync-journal';
import type { SyncJournal } from './sync-journal';
import { SqlTxnKit } from './sql-txn-kit';
import type { SqlSideAccess } from './fs-setting.util';
import { DEFAULT_PAGE, isDuplicateKey, MAX_PAGE, num, type SqlMetadataStoreOptions } from './sql-store.util';
import { INODE_COLUMNS } from './sql-inode-rows';
import { SqlAttributes } from './sql-attributes';
import { MetadataEvents } from './metadata-events';
import { SqlNamespace } from './sql-namespace';
import { SqlRemoteApply } from './sql-remote-apply';
import { SqlSessions } from './sql-sessions';

export type { SqlMetadataStoreOptions, TransactionEvent } from './sql-store.util';

const SETTING_FILESYSTEM_ID = 'filesystem_id';
const SETTING_FORMAT_VERSION = 'format_version';
const SETTING_ROOT_CAP = 'root_cap';

/**
 * The MetadataStore on TypeORM, for MySQL/MariaDB and SQLite: the filesystem settings and the reads here, the rest
 * delegated to its parts, which share one transaction kit (sql-txn-kit.ts, where the locking discipline is told):
 * sessions and open handles (sql-sessions.ts), namespace changes (sql-namespace.ts), attribute changes
 * (sql-attributes.ts) and what a pull found in Tahoe (sql-remote-apply.ts).
 */
/** Inodes asked about per statement by anyXattrWithPrefix(…, among). */
const XATTR_INODE_GROUP = 64;

export class SqlMetadataStore extends MetadataStore {
  readonly dialect: SqlDialect;
  readonly events = new MetadataEvents();
  private readonly kit: SqlTxnKit;
  private readonly sessions: SqlSessions;
  private readonly namespace: SqlNamespace;
  private readonly attributes: SqlAttributes;
  private readonly remote: SqlRemoteApply;

  constructor(dataSource: DataSource, options: SqlMetadataStoreOptions = {}) {
    super();
    this.kit = new SqlTxnKit(dataSource, options);
    this.dialect = this.kit.dialect;
    this.sessions = new SqlSessions(this.kit);
    this.namespace = new SqlNamespace(this.kit);
    this.attributes = new SqlAttributes(this.kit);
    this.remote = new SqlRemoteApply(this.kit);
  }

  /** For the SQL helpers kept outside the store (ledgers, census): its connection, on its discipline. */
  sideAccess(): SqlSideAccess {
    return { dataSource: this.kit.dataSource, exclusive: (task) => this.kit.exclusive(task) };
  }

  // ---- filesystem ------------------------------------------------------------------------------------

  async initFilesystem(root: RootOptions): Promise<FilesystemSettings> {
    await this.kit.write('initFilesystem', async (tx) => {
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
            .values({
              ...this.kit.newInode(tx, 'dir', root.mode, root),
              ino: ROOT_INO,
              parent: ROOT_INO,
              listedAt: null,
            })
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
    return await this.kit.read(async (manager) => {
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
    await this.kit.write('setRootCap', async (tx) => {
      const rows = await this.kit.lockInodes(tx, [ROOT_INO]);
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
      this.kit.markChanged(tx, root);
    });
    this.events.publish('syncStateChanged', { inos: [ROOT_INO] });
  }

  // ---- reads -------------------------------------------------------------------------------------------

  async getInode(ino: number): Promise<InodeRecord> {
    return await this.kit.readSql(async (sql) => toRecord(await this.kit.inodeOrThrow(sql, ino)));
  }

  async lookup(parent: number, name: Name): Promise<InodeRecord> {
    const bytes = checkName(name);
    return await this.kit.readSql(async (sql) => {
      const dots = dotKind(bytes);
      if (dots !== null) {
        const dir = await this.kit.inodeOrThrow(sql, parent);
        if (dir.type !== 'dir') {
          throw new FsError('ENOTDIR', `inode ${parent} is not a directory`);
        }
        return toRecord(dots === 'dot' ? dir : await this.kit.inodeOrThrow(sql, dir.parent ?? ROOT_INO));
      }
      // One statement answers both a hit and a miss: the directory's type, then the child's columns (null when the
      // name is absent). A miss is half the lookups of a create loop and of a build's probing.
      const [values] = await sql.values(
        `SELECT d.type, ${INODE_COLUMNS} FROM inode d LEFT JOIN dir_entry e ON e.parent = d.ino AND e.name = ? ` +
          'LEFT JOIN inode i ON i.ino = e.child WHERE d.ino = ?',
        [bytes, parent],
      );
      if (values === undefined) {
        throw new FsError('ENOENT', `no inode ${parent}`);
      }
      if (values[0] !== 'dir') {
        throw new FsError('ENOTDIR', `inode ${parent} is not a directory`);
      }
      if (values[1] === null) {
        throw FsError.answer('ENOENT', `no entry "${bytes.toString()}" in directory ${parent}`);
      }
      return toRecord(this.kit.inodeValues(values, 1));
    });
  }

  async readdir(dir: number, options: ReaddirOptions = {}): Promise<DirPage> {
    const limit = Math.min(Math.max(Math.trunc(options.limit ?? DEFAULT_PAGE), 1), MAX_PAGE);
    const after = Math.max(Math.trunc(options.after ?? 0), 0);
    const plus = options.plus === true;
    return await this.kit.readSql(async (sql) => {
      // One row more than asked tells whether another page follows, without a second query. The limit is written
      // into the text (an integer computed above): MySQL refuses some LIMIT parameters of a prepared statement.
      // readdirplus takes the inodes in the same statement. Each row's values: entry id, name, then the inode's
      // columns (plus) or its number and type.
      const raw = await sql.values(
        `SELECT e.id, e.name, ${plus ? INODE_COLUMNS : 'i.ino, i.type'} FROM dir_entry e ` +
          `JOIN inode i ON i.ino = e.child WHERE e.parent = ? AND e.id > ? ORDER BY e.id LIMIT ${limit + 1}`,
        [dir, after],
      );
      if (raw.length === 0) {
        const row = await this.kit.inodeOrThrow(sql, dir);
        if (row.type !== 'dir') {
          throw new FsError('ENOTDIR', `inode ${dir} is not a directory`);
        }
      }
      const more = raw.length > limit;
      const count = more ? limit : raw.length;
      const entries: DirEntryRecord[] = new Array<DirEntryRecord>(count);
      for (let index = 0; index < count; index++) {
        const values = raw[index];
        const entry: DirEntryRecord = {
          name: Buffer.from(values[1] as Buffer),
          ino: num(values[2]),
          type: values[3] as InodeType,
          cookie: num(values[0]),
        };
        if (plus) {
          entry.inode = toRecord(this.kit.inodeValues(values, 2));
        }
        entries[index] = entry;
      }
      return { entries, next: more ? entries[entries.length - 1].cookie : null };
    });
  }

  async readlink(ino: number): Promise<Buffer> {
    return await this.kit.readSql(async (sql) => {
      const row = await sql.get<{ target: Buffer }>('SELECT target FROM symlink WHERE ino = ?', [ino]);
      if (row !== undefined) {
        return Buffer.from(row.target);
      }
      await this.kit.inodeOrThrow(sql, ino);
      throw new FsError('EINVAL', `inode ${ino} is not a symlink`);
    });
  }

  async getXattr(ino: number, name: Name): Promise<Buffer> {
    const bytes = checkXattrName(name);
    return await this.kit.readSql(async (sql) => {
      // One statement for the answer and the inode's existence: `ls -l` asks every entry for an ACL and a security
      // label it does not have, so the miss is the common case (two statements were a third of its cost).
      const row = await sql.get<{ value: Buffer | null; present: number }>(
        'SELECT (SELECT value FROM xattr WHERE ino = ? AND name = ?) AS value, ' +
          '(SELECT COUNT(*) FROM inode WHERE ino = ?) AS present',
        [ino, bytes, ino],
      );
      if (row?.value !== null && row?.value !== undefined) {
        return Buffer.from(row.value);
      }
      if (Number(row?.present ?? 0) === 0) {
        throw new FsError('ENOENT', `no inode ${ino}`);
      }
      throw new FsError('ENODATA', `no xattr "${bytes.toString()}" on inode ${ino}`);
    });
  }

  async listXattr(ino: number): Promise<Buffer[]> {
    return await this.kit.readSql(async (sql) => {
      await this.kit.inodeOrThrow(sql, ino);
      const rows = await sql.all<{ name: Buffer }>('SELECT name FROM xattr WHERE ino = ? ORDER BY name', [ino]);
      return rows.map((row) => Buffer.from(row.name));
    });
  }

  async anyXattrWithPrefix(prefix: string, among?: readonly number[]): Promise<boolean> {
    const from = Buffer.from(prefix, 'latin1');
    if (from.length === 0) {
      throw new FsError('EINVAL', 'an xattr name prefix must not be empty');
    }
    // Names are bytes: [prefix, prefix with its last byte raised) holds exactly the names that start with it.
    const to = Buffer.from(from);
    to[to.length - 1] = to[to.length - 1] + 1;
    return await this.kit.readSql(async (sql) => {
      if (among === undefined) {
        const row = await sql.get('SELECT 1 AS found FROM xattr WHERE name >= ? AND name < ? LIMIT 1', [from, to]);
        return row !== undefined;
      }
      // Fixed-size groups (the last padded with a repeat), so that one prepared statement serves every call.
      for (let start = 0; start < among.length; start += XATTR_INODE_GROUP) {
        const group = among.slice(start, start + XATTR_INODE_GROUP);
        const inos = Array.from({ length: XATTR_INODE_GROUP }, (_, index) => group[index] ?? group[0]);
        const row = await sql.get(
          `SELECT 1 AS found FROM xattr WHERE ino IN (${inos.map(() => '?').join(', ')}) AND name >= ? AND name < ? LIMIT 1`,
          [...inos, from, to],
        );
        if (row !== undefined) {
          return true;
        }
      }
      return false;
    });
  }

  // ---- sessions and open handles (sql-sessions.ts) -----------------------------------------------------

  openSession(info: SessionInfo, options?: SessionOptions): Promise<number> {
    return this.sessions.openSession(info, options);
  }

  heartbeat(): Promise<void> {
    return this.sessions.heartbeat();
  }

  closeSession(): Promise<void> {
    return this.sessions.closeSession();
  }

  reapExpiredSessions(): Promise<number[]> {
    return this.sessions.reapExpiredSessions();
  }

  open(ino: number): Promise<InodeRecord> {
    return this.sessions.open(ino);
  }

  override openCreated(created: InodeRecord): Promise<InodeRecord> {
    return this.sessions.openCreated(created);
  }

  release(ino: number): Promise<ReleaseResult> {
    return this.sessions.release(ino);
  }

  // ---- namespace (sql-namespace.ts) ---------------------------------------------------------------------

  create(parent: number, name: Name, options: NewInodeOptions): Promise<InodeRecord> {
    return this.namespace.create(parent, name, options);
  }

  mkdir(parent: number, name: Name, options: NewInodeOptions): Promise<InodeRecord> {
    return this.namespace.mkdir(parent, name, options);
  }

  mknod(parent: number, name: Name, options: MknodOptions): Promise<InodeRecord> {
    return this.namespace.mknod(parent, name, options);
  }

  symlink(parent: number, name: Name, target: Name, owner: Credentials): Promise<InodeRecord> {
    return this.namespace.symlink(parent, name, target, owner);
  }

  link(ino: number, newParent: number, newName: Name): Promise<InodeRecord> {
    return this.namespace.link(ino, newParent, newName);
  }

  unlink(parent: number, name: Name): Promise<RemovedInode> {
    return this.namespace.unlink(parent, name);
  }

  rmdir(parent: number, name: Name): Promise<RemovedInode> {
    return this.namespace.rmdir(parent, name);
  }

  rename(parent: number, name: Name, newParent: number, newName: Name, options?: RenameOptions): Promise<RenameResult> {
    return this.namespace.rename(parent, name, newParent, newName, options);
  }

  /** fsync's durable point (durable-sync-point.ts), run alone on the connection. */
  async makeDurable(): Promise<void> {
    await this.kit.exclusive(() => durableSyncPoint(this.kit.dataSource, this.dialect));
  }

  // ---- attributes (sql-attributes.ts) -------------------------------------------------------------------

  setattr(ino: number, changes: SetAttrChanges): Promise<InodeRecord> {
    return this.attributes.setattr(ino, changes);
  }

  recordContentChange(ino: number, change: ContentChange): Promise<InodeRecord> {
    return this.attributes.recordContentChange(ino, change);
  }

  setXattr(ino: number, name: Name, value: Buffer, flags?: number): Promise<void> {
    return this.attributes.setXattr(ino, name, value, flags);
  }

  removeXattr(ino: number, name: Name): Promise<void> {
    return this.attributes.removeXattr(ino, name);
  }

  // ---- operations --------------------------------------------------------------------------------------------

  stats(): MetadataStats {
    return { ...this.kit.counters, retriesByCause: { ...this.kit.counters.retriesByCause } };
  }

  /** The sync worker's port on this database, with this store's transaction discipline (sql-sync-journal.ts). */
  syncJournal(): SyncJournal {
    return new SqlSyncJournal({
      dialect: this.kit.dialect,
      read: (body) => this.kit.read(body),
      readSql: (body) => this.kit.readSql(body),
      inodeRow: (row) => this.kit.inodeRow(row),
      write: (op, body) => this.kit.write(op, (tx) => body(tx.manager)),
      applyRemote: (dir, changes, options) => this.remote.applyRemote(dir, changes, options),
      events: this.events,
    });
  }

  override touchAccessTime(inode: InodeRecord): Promise<InodeRecord> {
    return Promise.resolve(this.attributes.touchKnownAccessTime(inode));
  }

  override async persistAccessTime(ino: number): Promise<void> {
    await this.kit.atimes.persist(ino);
  }

  async close(): Promise<void> {
    try {
      // Unmount: the access times still in memory are written while the database is open (lazytime).
      await this.kit.atimes.persistAll().finally(() => this.kit.atimes.stopTimer());
      await this.closeSession();
    } finally {
      if (this.kit.dataSource.isInitialized) {
        await this.kit.dataSource.destroy();
      }
    }
  }
}
