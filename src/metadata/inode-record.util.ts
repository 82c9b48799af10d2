import type { InodeModel } from './entities';
import type { InodeRecord } from './metadata.types';

/** An inode row as the MetadataStore port shows it (no TypeORM type leaves the metadata module). */
export function toRecord(row: InodeModel): InodeRecord {
  return {
    ino: row.ino,
    type: row.type,
    mode: row.mode,
    uid: row.uid,
    gid: row.gid,
    size: row.size,
    nlink: row.nlink,
    rdev: row.rdev,
    atime: { sec: row.atimeSec, nsec: row.atimeNsec },
    mtime: { sec: row.mtimeSec, nsec: row.mtimeNsec },
    ctime: { sec: row.ctimeSec, nsec: row.ctimeNsec },
    parent: row.parent,
    contentVersion: row.contentVersion,
    writeCap: row.writeCap,
    readCap: row.readCap,
    syncedContentVersion: row.syncedContentVersion,
    syncState: row.syncState,
    dataDirty: row.dataDirty,
    attrDirty: row.attrDirty,
    entriesDirty: row.entriesDirty,
    dirtySince: row.dirtySince,
    listedAt: row.listedAt,
  };
}
