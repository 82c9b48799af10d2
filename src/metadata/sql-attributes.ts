import { FsError } from '../common/errors/fs-error';
import { toRecord } from './inode-record.util';
import { XattrModel } from './entities';
import {
  type ContentChange,
  type InodeRecord,
  type Name,
  type SetAttrChanges,
  type TimeChange,
  type Timespec,
  XATTR_CREATE,
  XATTR_REPLACE,
} from './metadata.types';
import { checkXattrName, checkXattrValue } from './names.util';
import { type SqlTxnKit } from './sql-txn-kit';
import { checkTimespec, type DirtyFlag, PERMISSION_BITS, setAtime, setCtime, setMtime } from './sql-store.util';

/** Attribute changes: setattr, the write path's content changes, xattrs (part of SqlMetadataStore). */
export class SqlAttributes {
  constructor(private readonly kit: SqlTxnKit) {}

  // ---- attributes ----------------------------------------------------------------------------------------

  async setattr(ino: number, changes: SetAttrChanges): Promise<InodeRecord> {
    if (changes.accessOnly) {
      const { atime, accessOnly: _, ...others } = changes;
      if (atime === undefined || Object.values(others).some((value) => value !== undefined)) {
        throw new FsError('EINVAL', 'an access-only setattr changes atime and nothing else');
      }
      return await this.touchAccessTime(ino, atime === 'now' ? this.kit.clock.now() : checkTimespec(atime));
    }
    return await this.kit.write('setattr', async (tx) => {
      const row = (await this.kit.lockInodes(tx, [ino])).get(ino);
      if (row === undefined) {
        throw new FsError('ENOENT', `no inode ${ino}`);
      }
      const resolve = (time: TimeChange): Timespec => (time === 'now' ? tx.now : checkTimespec(time));
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
      this.kit.markChanged(tx, row, ...flags);
      return toRecord(row);
    });
  }

  /**
   * The access-time update of a read (relatime): kept in memory and written later in a batch (lazytime,
   * sql-lazy-atime.ts), so that a read never waits for a write transaction. Only this inode's row is read.
   */
  /** relatime's update of a record the caller holds: the time waits in memory (LazyAtimes), with no read of the row. */
  touchKnownAccessTime(inode: InodeRecord): InodeRecord {
    const atime = this.kit.clock.now();
    this.kit.atimes.defer(inode.ino, atime);
    return { ...inode, atime };
  }

  private async touchAccessTime(ino: number, atime: Timespec): Promise<InodeRecord> {
    const row = await this.kit.readSql((sql) => this.kit.inodeOrThrow(sql, ino));
    this.kit.atimes.defer(ino, atime);
    setAtime(row, atime);
    return toRecord(row);
  }

  async recordContentChange(ino: number, change: ContentChange): Promise<InodeRecord> {
    // Checked before the transaction: a bad argument is the caller's bug and needs no database round trip.
    if (!Number.isSafeInteger(change.size) || change.size < 0) {
      throw new FsError('EINVAL', `invalid size ${change.size}`);
    }
    const mtime = change.mtime === 'now' ? null : checkTimespec(change.mtime);
    return await this.kit.write('recordContentChange', async (tx) => {
      // Only the file's own row: no directory changes, so flushes of files in one directory never wait
      // on each other or on namespace operations there.
      const row = (await this.kit.lockInodes(tx, [ino])).get(ino);
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
      this.kit.markChanged(tx, row, 'dataDirty', 'attrDirty');
      return toRecord(row);
    });
  }

  async setXattr(ino: number, name: Name, value: Buffer, flags = 0): Promise<void> {
    const bytes = checkXattrName(name);
    checkXattrValue(value);
    if ((flags & ~(XATTR_CREATE | XATTR_REPLACE)) !== 0) {
      throw new FsError('EINVAL', `unknown setxattr flags ${flags}`);
    }
    return await this.kit.write('setXattr', async (tx) => {
      const row = (await this.kit.lockInodes(tx, [ino])).get(ino);
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
      this.kit.markChanged(tx, row, 'attrDirty');
    });
  }

  async removeXattr(ino: number, name: Name): Promise<void> {
    const bytes = checkXattrName(name);
    return await this.kit.write('removeXattr', async (tx) => {
      const row = (await this.kit.lockInodes(tx, [ino])).get(ino);
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
      this.kit.markChanged(tx, row, 'attrDirty');
    });
  }
}
