import { yieldIfBusy } from '../common/event-loop/yield-if-busy';
import type { MetadataEvents } from './metadata-events';
import type { EntityManager } from 'typeorm';
import { toRecord } from './inode-record.util';
import type { SqlConnection } from './sql-driver';
import { INODE_COLUMNS } from './sql-inode-rows';
import { DirEntryModel, InodeModel, type SqlDialect, SyncedEntryModel } from './entities';
import {
  type CleanFlags,
  type InodeLink,
  type PublishedEntry,
  type RemoteApplyResult,
  type RemoteChange,
  type SyncChild,
  type SyncedEntry,
  type SyncInode,
  SyncJournal,
} from './sync-journal';

/** How the journal reaches the database: through its store's connection discipline (one at a time on SQLite). */
export interface SqlSyncJournalAccess {
  dialect: SqlDialect;
  read<T>(body: (manager: EntityManager) => Promise<T>): Promise<T>;
  /** Driver statements under the store's connection discipline, and its mapping of an inode row. */
  readSql<T>(body: (sql: SqlConnection) => Promise<T>): Promise<T>;
  inodeRow(row: Record<string, unknown>): InodeModel;
  write<T>(op: string, body: (manager: EntityManager) => Promise<T>): Promise<T>;
  /** Where the rows a write here changed are announced (the mount's metadata cache drops them). */
  events: MetadataEvents;
  applyRemote(
    dir: number,
    changes: RemoteChange[],
    options: { listedAt?: number; publishAfter: boolean },
  ): Promise<RemoteApplyResult>;
}

const PAGE = 1000;

/** Keeps IN (…) lists well below every driver's parameter limit. */
const CHUNK = 500;
const PENDING_STATES = ['dirty', 'syncing', 'failed'];
/** Longest error text kept on an inode. */
const MAX_ERROR = 1000;

function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) {
    result.push(items.slice(start, start + size));
  }
  return result;
}

/**
 * toRecord's fresh object extended in place: a publish maps every child of its directory, and copying each record
 * (a spread) made this the largest self time of the publisher (profiled).
 */
function toSyncInode(row: InodeModel): SyncInode {
  return Object.assign(toRecord(row), {
    changeSeq: row.changeSeq,
    syncError: row.syncError,
    syncTries: row.syncTries,
    publishedIno: row.publishedIno,
    dirtyOwner: row.dirtyOwner,
  });
}

/** A directory entry as a publish needs it. */
interface ChildRow {
  id: number;
  name: Buffer;
  inode: InodeModel;
  target?: Buffer;
  xattrs: { name: Buffer; value: Buffer }[];
}

/**
 * Entries of `dir` after entry id `after`, at most `limit`, each with its inode, symlink target and xattrs: three
 * statements of fixed text (prepared once), the last two over the same range of entry ids. The publisher reads every
 * child of a directory it publishes; through TypeORM's query builder and entity hydration that was the largest part
 * of RiverFS's CPU while small files were created or removed in a large directory (profiled: a third of the busy
 * time of 3,000 unlinks), and the whole listing held the SQLite connection, which the FUSE path waited for.
 */
async function readChildPage(
  sql: SqlConnection,
  inodeRow: (row: Record<string, unknown>) => InodeModel,
  dir: number,
  after: number,
  limit: number,
): Promise<ChildRow[]> {
  const rows = await sql.all<Record<string, unknown> & { entry_id: unknown; entry_name: Buffer }>(
    `SELECT e.id AS entry_id, e.name AS entry_name, ${INODE_COLUMNS} FROM dir_entry e JOIN inode i ON i.ino = e.child ` +
      `WHERE e.parent = ? AND e.id > ? ORDER BY e.id LIMIT ${Math.max(1, Math.floor(limit))}`,
    [dir, after],
  );
  if (rows.length === 0) {
    return [];
  }
  const last = num(rows[rows.length - 1].entry_id);
  const range = [dir, after, last];
  const targets = new Map<number, Buffer>();
  if (rows.some((row) => row.type === 'symlink')) {
    for (const row of await sql.all<{ ino: unknown; target: Buffer }>(
      'SELECT DISTINCT s.ino, s.target FROM symlink s JOIN dir_entry e ON e.child = s.ino ' +
        'WHERE e.parent = ? AND e.id > ? AND e.id <= ?',
      range,
    )) {
      targets.set(num(row.ino), Buffer.from(row.target));
    }
  }
  const xattrs = new Map<number, { name: Buffer; value: Buffer }[]>();
  for (const row of await sql.all<{ ino: unknown; name: Buffer; value: Buffer }>(
    'SELECT DISTINCT x.ino, x.name, x.value FROM xattr x JOIN dir_entry e ON e.child = x.ino ' +
      'WHERE e.parent = ? AND e.id > ? AND e.id <= ? ORDER BY x.ino, x.name',
    range,
  )) {
    const ino = num(row.ino);
    const list = xattrs.get(ino) ?? [];
    list.push({ name: Buffer.from(row.name), value: Buffer.from(row.value) });
    xattrs.set(ino, list);
  }
  return rows.map((row) => {
    const inode = inodeRow(row);
    const target = targets.get(inode.ino);
    return {
      id: num(row.entry_id),
      name: Buffer.from(row.entry_name),
      inode,
      ...(target === undefined ? {} : { target }),
      xattrs: xattrs.get(inode.ino) ?? [],
    };
  });
}
function toSyncedEntry(row: SyncedEntryModel): SyncedEntry {
  return {
    parent: row.parent,
    name: Buffer.from(row.name),
    child: row.child,
    cap: row.cap,
    metaHash: row.metaHash,
    syncedAt: row.syncedAt,
  };
}

/** Forgets what was published under these names of a directory (the store's pulls use it too). */
export async function deleteSyncedNames(manager: EntityManager, dir: number, names: Buffer[]): Promise<void> {
  await manager
    .createQueryBuilder()
    .delete()
    .from(SyncedEntryModel)
    .where('parent = :dir', { dir })
    .andWhere('name IN (:...names)', { names })
    .execute();
}

/** markClean's two statements, in the caller's transaction. */
async function cleanInode(manager: EntityManager, ino: number, changeSeq: number, flags: CleanFlags): Promise<boolean> {
  const changes: Partial<InodeModel> = {};
  if (flags.data) {
    changes.dataDirty = false;
    changes.dirtyOwner = null;
  }
  if (flags.attr) {
    changes.attrDirty = false;
  }
  if (flags.entries) {
    changes.entriesDirty = false;
  }
  const result = await manager
    .createQueryBuilder()
    .update(InodeModel)
    .set(Object.keys(changes).length > 0 ? changes : { changeSeq })
    .where('ino = :ino', { ino })
    .andWhere('change_seq = :changeSeq', { changeSeq })
    .execute();
  if ((result.affected ?? 0) === 0) {
    return false;
  }
  // Two statements: SQLite evaluates every SET against the old row, so the flags must be written first.
  await manager.query(
    "UPDATE inode SET sync_state = 'synced', dirty_since = NULL, sync_error = NULL, sync_tries = 0 " +
      'WHERE ino = ? AND change_seq = ? AND data_dirty = 0 AND attr_dirty = 0 AND entries_dirty = 0',
    [ino, changeSeq],
  );
  return true;
}

/**
 * SyncJournal on the metadata database (see SqlMetadataStore.syncJournal). Each write that changes inode rows announces
 * them as syncStateChanged once committed; applyRemote does not: its caller announces what it applied once the change
 * is whole (DownstreamPuller, DirnodePublisher).
 */
export class SqlSyncJournal extends SyncJournal {
  constructor(private readonly db: SqlSyncJournalAccess) {
    super();
  }

  private announce(inos: readonly number[]): void {
    if (inos.length > 0) {
      this.db.events.publish('syncStateChanged', { inos });
    }
  }

  /**
   * `SELECT <every inode column> FROM inode i WHERE <condition>` as a prepared statement on the driver: a block fetch
   * on the FUSE path and the worker's periodic scan ask for inodes often, and TypeORM's hydration of them was a tenth
   * of the process's CPU during a burst of creates (profiled).
   */
  private inodeRows(condition: string, params: readonly (string | number)[]): Promise<InodeModel[]> {
    return this.db.readSql(async (sql) =>
      (await sql.all<Record<string, unknown>>(`SELECT ${INODE_COLUMNS} FROM inode i WHERE ${condition}`, params)).map(
        (row) => this.db.inodeRow(row),
      ),
    );
  }

  async listDirty(options: { afterIno?: number; limit: number }): Promise<SyncInode[]> {
    // The limit is written into the text (an integer): MySQL refuses some LIMIT parameters of a prepared statement.
    const rows = await this.inodeRows(
      `i.sync_state IN (${PENDING_STATES.map(() => '?').join(', ')}) AND i.nlink > 0 AND i.ino > ? ` +
        `ORDER BY i.ino LIMIT ${Math.max(1, Math.floor(options.limit))}`,
      [...PENDING_STATES, options.afterIno ?? 0],
    );
    return rows.map(toSyncInode);
  }

  async getSyncInode(ino: number): Promise<SyncInode | null> {
    const [row] = await this.inodeRows('i.ino = ?', [ino]);
    return row === undefined ? null : toSyncInode(row);
  }

  async unpublishedSubdirectories(dir: number): Promise<number[]> {
    const rows = await this.db.readSql((sql) =>
      sql.all<{ ino: unknown }>(
        "SELECT i.ino FROM dir_entry e JOIN inode i ON i.ino = e.child WHERE e.parent = ? AND i.type = 'dir' " +
          'AND i.write_cap IS NULL AND i.nlink > 0 ORDER BY e.id',
        [dir],
      ),
    );
    return rows.map((row) => num(row.ino));
  }

  async childNames(dir: number): Promise<Buffer[]> {
    const rows = await this.db.readSql((sql) =>
      sql.all<{ name: Buffer }>('SELECT name FROM dir_entry WHERE parent = ? ORDER BY id', [dir]),
    );
    return rows.map((row) => Buffer.from(row.name));
  }

  async children(dir: number): Promise<SyncChild[]> {
    const result: SyncChild[] = [];
    for (let after = 0; ;) {
      // A page at a time, each its own statements: the FUSE path gets the connection between pages.
      const page = await this.db.readSql((sql) => readChildPage(sql, (row) => this.db.inodeRow(row), dir, after, PAGE));
      for (const row of page) {
        result.push({
          name: row.name,
          inode: toSyncInode(row.inode),
          ...(row.target === undefined ? {} : { target: row.target }),
          xattrs: row.xattrs,
        });
      }
      if (page.length < PAGE) {
        return result;
      }
      after = page[page.length - 1].id;
      await yieldIfBusy();
    }
  }

  async linksOf(ino: number): Promise<InodeLink[]> {
    return this.db.read(async (manager) => {
      const rows = await manager
        .createQueryBuilder(DirEntryModel, 'e')
        .where('e.child = :ino', { ino })
        .orderBy('e.id', 'ASC')
        .getMany();
      return rows.map((row) => ({ parent: row.parent, name: Buffer.from(row.name) }));
    });
  }

  async parentsOf(inos: readonly number[]): Promise<Map<number, number[]>> {
    const parents = new Map<number, number[]>();
    if (inos.length === 0) {
      return parents;
    }
    return this.db.read(async (manager) => {
      for (const part of chunks(inos)) {
        const rows = await manager.query<{ child: unknown; parent: unknown }[]>(
          `SELECT child, parent FROM dir_entry WHERE child IN (${part.map(() => '?').join(', ')}) ORDER BY id`,
          [...part],
        );
        for (const row of rows) {
          const child = num(row.child);
          const list = parents.get(child) ?? [];
          list.push(num(row.parent));
          parents.set(child, list);
        }
      }
      return parents;
    });
  }

  async syncedEntries(dir: number): Promise<SyncedEntry[]> {
    // Raw rows a page at a time: hydrating the 100,000 entities of a huge directory at once held the event loop (and
    // so every FUSE call) for seconds.
    const result: SyncedEntry[] = [];
    let after: Buffer | undefined;
    for (;;) {
      const rows = await this.db.read((manager) =>
        manager.query<{ name: Buffer; child: unknown; cap: string; meta_hash: string | null; synced_at: unknown }[]>(
          'SELECT name, child, cap, meta_hash, synced_at FROM synced_entry WHERE parent = ?' +
            (after === undefined ? '' : ' AND name > ?') +
            ' ORDER BY name LIMIT ?',
          after === undefined ? [dir, PAGE] : [dir, after, PAGE],
        ),
      );
      for (const row of rows) {
        result.push({
          parent: dir,
          name: Buffer.from(row.name),
          child: row.child === null ? null : num(row.child),
          cap: row.cap,
          metaHash: row.meta_hash,
          syncedAt: num(row.synced_at),
        });
      }
      if (rows.length < PAGE) {
        return result;
      }
      after = result[result.length - 1].name;
    }
  }

  async syncedLinksOf(ino: number): Promise<SyncedEntry[]> {
    return this.db.read(async (manager) => {
      const rows = await manager.createQueryBuilder(SyncedEntryModel, 's').where('s.child = :ino', { ino }).getMany();
      return rows.map(toSyncedEntry);
    });
  }

  async recordPublished(dir: number, entries: PublishedEntry[]): Promise<void> {
    if (entries.length === 0) {
      return;
    }
    await this.db.write('recordPublished', async (manager) => {
      const syncedAt = Date.now();
      for (const part of chunks(entries)) {
        await yieldIfBusy();
        await deleteSyncedNames(
          manager,
          dir,
          part.map((entry) => entry.name),
        );
        await manager
          .createQueryBuilder()
          .insert()
          .into(SyncedEntryModel)
          .values(
            part.map((entry) => ({
              parent: dir,
              name: entry.name,
              child: entry.child,
              cap: entry.cap,
              metaHash: entry.metaHash,
              syncedAt,
            })),
          )
          .execute();
      }
    });
  }

  async recordUnlinked(dir: number, names: Buffer[]): Promise<void> {
    if (names.length === 0) {
      return;
    }
    await this.db.write('recordUnlinked', async (manager) => {
      for (const part of chunks(names)) {
        await deleteSyncedNames(manager, dir, part);
      }
    });
  }

  async forgetDirectory(dir: number): Promise<void> {
    await this.db.write('forgetDirectory', async (manager) => {
      await manager.createQueryBuilder().delete().from(SyncedEntryModel).where('parent = :dir', { dir }).execute();
    });
  }

  async recordUpload(ino: number, contentVersion: number, cap: string, readCap: string): Promise<boolean> {
    const recorded = await this.db.write('recordUpload', async (manager) => {
      const result = await manager
        .createQueryBuilder()
        .update(InodeModel)
        .set({
          writeCap: cap,
          readCap,
          syncedContentVersion: contentVersion,
          dataDirty: false,
          dirtyOwner: null,
          syncError: null,
          syncTries: 0,
          // A new cap is a change: a publish planned with the old cap (running while this upload ended) must not
          // mark the file synced when it ends, or the new cap would never be linked (Tahoe kept the old content).
          changeSeq: () => 'change_seq + 1',
        })
        .where('ino = :ino', { ino })
        .andWhere('content_version = :contentVersion', { contentVersion })
        .execute();
      return (result.affected ?? 0) > 0;
    });
    if (recorded) {
      this.announce([ino]);
    }
    return recorded;
  }

  async recordCap(ino: number, cap: string, readCap: string): Promise<string> {
    const recorded = await this.db.write('recordCap', async (manager) => {
      await manager
        .createQueryBuilder()
        .update(InodeModel)
        .set({ writeCap: cap, readCap })
        .where('ino = :ino', { ino })
        .andWhere('write_cap IS NULL')
        .execute();
      const row = await manager.createQueryBuilder(InodeModel, 'i').where('i.ino = :ino', { ino }).getOne();
      return row?.writeCap ?? cap;
    });
    this.announce([ino]);
    return recorded;
  }

  async markDirty(ino: number, flags: { data?: boolean; entries?: boolean }): Promise<void> {
    const sets = [
      ...(flags.data ? ['data_dirty = 1', 'content_version = content_version + 1'] : []),
      ...(flags.entries ? ['entries_dirty = 1'] : []),
    ];
    if (sets.length === 0) {
      return;
    }
    await this.db.write('markDirty', async (manager) => {
      await manager.query(
        `UPDATE inode SET ${sets.join(', ')}, sync_state = 'dirty', change_seq = change_seq + 1, ` +
          'dirty_since = COALESCE(dirty_since, ?) WHERE ino = ?',
        [Date.now(), ino],
      );
    });
    this.announce([ino]);
  }

  async markSyncing(ino: number, changeSeq: number): Promise<void> {
    await this.db.write('markSyncing', async (manager) => {
      await manager.query(
        "UPDATE inode SET sync_state = 'syncing' WHERE ino = ? AND change_seq = ? AND sync_state <> 'synced'",
        [ino, changeSeq],
      );
    });
    this.announce([ino]);
  }

  async markClean(ino: number, changeSeq: number, flags: CleanFlags): Promise<boolean> {
    const cleaned = await this.db.write('markClean', (manager) => cleanInode(manager, ino, changeSeq, flags));
    if (cleaned) {
      this.announce([ino]);
    }
    return cleaned;
  }

  async markCleanMany(items: { ino: number; changeSeq: number; flags: CleanFlags }[]): Promise<number[]> {
    if (items.length === 0) {
      return [];
    }
    const cleaned = await this.db.write('markClean', async (manager) => {
      const done: number[] = [];
      for (const { ino, changeSeq, flags } of items) {
        await yieldIfBusy();
        if (await cleanInode(manager, ino, changeSeq, flags)) {
          done.push(ino);
        }
      }
      return done;
    });
    this.announce(cleaned);
    return cleaned;
  }

  async markFailed(ino: number, error: string, tries: number): Promise<void> {
    await this.db.write('markFailed', async (manager) => {
      await manager.query(
        "UPDATE inode SET sync_state = 'failed', sync_error = ?, sync_tries = ? WHERE ino = ? AND sync_state <> 'synced'",
        [error.slice(0, MAX_ERROR), tries, ino],
      );
    });
    this.announce([ino]);
  }

  applyRemote(
    dir: number,
    changes: RemoteChange[],
    options: { listedAt?: number; publishAfter: boolean },
  ): Promise<RemoteApplyResult> {
    return this.db.applyRemote(dir, changes, options);
  }
}
