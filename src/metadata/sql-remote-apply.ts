import { yieldIfBusy } from '../common/event-loop/yield-if-busy';
import type { EntityManager } from 'typeorm';
import { InodeModel, SymlinkModel, SyncedEntryModel, XattrModel } from './entities';
import { toMs } from './metadata-txn.util';
import type { InodeType } from './metadata.types';
import { checkNewName } from './names.util';
import { countLinks, findPublishedInode } from './published-inode.util';
import { deleteSyncedNames } from './sql-sync-journal';
import type { RemoteApplyResult, RemoteChange, RemoteNode } from './sync-journal';
import { type SqlTxnKit } from './sql-txn-kit';
import { MAX_DEPTH, num, PERMISSION_BITS, setCtime, setMtime, type Tx } from './sql-store.util';

/** Downstream: what a pull found in Tahoe, applied to the local namespace (part of SqlMetadataStore). */
export class SqlRemoteApply {
  constructor(private readonly kit: SqlTxnKit) {}

  /** See SyncJournal.applyRemote. Remote changes never mark anything dirty, except where local must win. */
  async applyRemote(
    dir: number,
    changes: RemoteChange[],
    options: { listedAt?: number; publishAfter: boolean },
  ): Promise<RemoteApplyResult> {
    return await this.kit.write('applyRemote', async (tx) => {
      const result: RemoteApplyResult = { applied: 0, skipped: 0, added: [], dropData: [], changed: [] };
      const dirRow = (await this.kit.lockInodes(tx, [dir])).get(dir);
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
        this.kit.markChanged(tx, dirRow, 'entriesDirty');
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
    if ((await this.kit.entryAt(tx.sql, dir.ino, name)) !== null) {
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
      joined = (await this.kit.lockInodes(tx, [linkTo])).get(linkTo);
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
      if (change.ino !== undefined && (await this.kit.findInode(tx.sql, change.ino)) === null) {
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
    await this.kit.insertEntry(tx, dir.ino, name, ino);
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
    const entry = await this.kit.entryAt(tx.sql, dir, name);
    if (entry === null || entry.child !== child) {
      return null;
    }
    const row = (await this.kit.lockInodes(tx, [child])).get(child);
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
    const entry = (await this.kit.entryAt(tx.sql, dir.ino, change.name))!;
    await this.kit.deleteEntry(tx, entry.id);
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
    const removed = await this.kit.dropLink(tx, row);
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
      const child = (await this.kit.lockInodes(tx, [num(entry.child)])).get(num(entry.child));
      await this.kit.deleteEntry(tx, num(entry.id));
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
    await this.kit.dropLink(tx, root);
    result.changed.push(root.ino);
  }
}
