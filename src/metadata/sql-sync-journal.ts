import { yieldIfBusy } from '../common/event-loop/yield-if-busy';
import type { MetadataEvents } from './metadata-events';
import type { EntityManager } from 'typeorm';
import { toRecord } from './inode-record.util';
import { DirEntryModel, InodeModel, type SqlDialect, SymlinkModel, SyncedEntryModel, XattrModel } from './entities';
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
  /**
   * `SELECT <every inode column> FROM inode i WHERE <condition>` as a prepared statement on the driver: a block fetch
   * on the FUSE path and the worker's periodic scan ask for inodes often, and TypeORM's hydration of them was a tenth
   * of the process's CPU during a burst of creates (profiled).
   */
  inodeRows(condition: string, params: readonly (string | number)[]): Promise<InodeModel[]>;
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

function toSyncInode(row: InodeModel): SyncInode {
  return {
    ...toRecord(row),
    changeSeq: row.changeSeq,
    syncError: row.syncError,
    syncTries: row.syncTries,
    publishedIno: row.publishedIno,
    dirtyOwner: row.dirtyOwner,
  };
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

  async listDirty(options: { afterIno?: number; limit: number }): Promise<SyncInode[]> {
    // The limit is written into the text (an integer): MySQL refuses some LIMIT parameters of a prepared statement.
    const rows = await this.db.inodeRows(
      `i.sync_state IN (${PENDING_STATES.map(() => '?').join(', ')}) AND i.nlink > 0 AND i.ino > ? ` +
        `ORDER BY i.ino LIMIT ${Math.max(1, Math.floor(options.limit))}`,
      [...PENDING_STATES, options.afterIno ?? 0],
    );
    return rows.map(toSyncInode);
  }

  async getSyncInode(ino: number): Promise<SyncInode | null> {
    const [row] = await this.db.inodeRows('i.ino = ?', [ino]);
    return row === undefined ? null : toSyncInode(row);
  }

  async children(dir: number): Promise<SyncChild[]> {
    return this.db.read(async (manager) => {
      const result: SyncChild[] = [];
      for (let after = 0; ;) {
        const entries = await manager.query<{ id: unknown; name: Buffer; child: unknown }[]>(
          'SELECT id, name, child FROM dir_entry WHERE parent = ? AND id > ? ORDER BY id LIMIT ?',
          [dir, after, PAGE],
        );
        if (entries.length === 0) {
          return result;
        }
        after = num(entries[entries.length - 1].id);
        const inos = [...new Set(entries.map((entry) => num(entry.child)))];
        const inodes = new Map<number, SyncInode>();
        const targets = new Map<number, Buffer>();
        const xattrs = new Map<number, { name: Buffer; value: Buffer }[]>();
        for (const part of chunks(inos)) {
          await yieldIfBusy();
          for (const row of await manager
            .createQueryBuilder(InodeModel, 'i')
            .where('i.ino IN (:...part)', { part })
            .getMany()) {
            inodes.set(row.ino, toSyncInode(row));
          }
          for (const row of await manager
            .createQueryBuilder(SymlinkModel, 's')
            .where('s.ino IN (:...part)', { part })
            .getMany()) {
            targets.set(row.ino, Buffer.from(row.target));
          }
          for (const row of await manager
            .createQueryBuilder(XattrModel, 'x')
            .where('x.ino IN (:...part)', { part })
            .orderBy('x.ino', 'ASC')
            .addOrderBy('x.name', 'ASC')
            .getMany()) {
            const list = xattrs.get(row.ino) ?? [];
            list.push({ name: Buffer.from(row.name), value: Buffer.from(row.value) });
            xattrs.set(row.ino, list);
          }
        }
        for (const entry of entries) {
          const inode = inodes.get(num(entry.child));
          if (inode === undefined) {
            continue;
          }
          const target = targets.get(inode.ino);
          result.push({
            name: Buffer.from(entry.name),
            inode,
            ...(target === undefined ? {} : { target }),
            xattrs: xattrs.get(inode.ino) ?? [],
          });
        }
        if (entries.length < PAGE) {
          return result;
        }
      }
    });
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
