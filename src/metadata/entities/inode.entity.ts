import { EntitySchema } from 'typeorm';
import type { InodeType, SyncState } from '../metadata.types';
import { bigint, columnTypes, type SqlDialect } from './column-types';

/** One row of `inode`: POSIX attributes plus the bookkeeping of the Tahoe sync (DESIGN.md §3). */
export class InodeModel {
  ino!: number;
  type!: InodeType;
  mode!: number;
  uid!: number;
  gid!: number;
  size!: number;
  nlink!: number;
  rdev!: number;
  /** Directories only; see InodeRecord.parent. */
  parent!: number | null;
  atimeSec!: number;
  atimeNsec!: number;
  mtimeSec!: number;
  mtimeNsec!: number;
  ctimeSec!: number;
  ctimeNsec!: number;
  contentVersion!: number;
  writeCap!: string | null;
  readCap!: string | null;
  syncedContentVersion!: number | null;
  syncState!: SyncState;
  dataDirty!: boolean;
  attrDirty!: boolean;
  entriesDirty!: boolean;
  dirtySince!: number | null;
  listedAt!: number | null;
  /** Bumped by every change that marks the inode dirty: the sync worker clears flags only if it is unchanged. */
  changeSeq!: number;
  /** The last sync failure (caps redacted); null after a success. */
  syncError!: string | null;
  /** Failed sync attempts since the last success. */
  syncTries!: number;
  /**
   * The inode number this inode's edges carry in Tahoe (`riverfs` metadata `ino`) when it is not its own: an inode
   * pulled from a tree published with another number (another gateway's, or one taken here already). Null: its own.
   * Pulls join names by it (hard links); publishes keep it, so every name of the inode keeps one identity in Tahoe.
   */
  publishedIno!: number | null;
  /**
   * The data-directory id of the gateway whose block cache holds the dirty content (set whenever the content becomes
   * dirty, cleared when it is clean): only that gateway may upload it. Null on rows from before it was recorded.
   */
  dirtyOwner!: string | null;
}

/** Long enough for any Tahoe cap, including MDMF caps with extension fields. */
export const CAP_LENGTH = 512;

export function inodeEntity(dialect: SqlDialect): EntitySchema<InodeModel> {
  const types = columnTypes(dialect);
  return new EntitySchema<InodeModel>({
    name: 'InodeModel',
    target: InodeModel,
    tableName: 'inode',
    columns: {
      ino: bigint({ ...types.serial(), primary: true, generated: 'increment' }),
      type: { ...types.ascii(8) },
      mode: { type: 'int' },
      // uid_t/gid_t/dev_t are unsigned 32-bit: too large for a signed INT, and UNSIGNED is MySQL-only.
      uid: bigint(),
      gid: bigint(),
      size: bigint({ default: 0 }),
      nlink: { type: 'int' },
      rdev: bigint({ default: 0 }),
      parent: bigint({ nullable: true }),
      atimeSec: bigint({ name: 'atime_sec' }),
      atimeNsec: { type: 'int', name: 'atime_nsec' },
      mtimeSec: bigint({ name: 'mtime_sec' }),
      mtimeNsec: { type: 'int', name: 'mtime_nsec' },
      ctimeSec: bigint({ name: 'ctime_sec' }),
      ctimeNsec: { type: 'int', name: 'ctime_nsec' },
      contentVersion: bigint({ name: 'content_version', default: 0 }),
      writeCap: { ...types.ascii(CAP_LENGTH), name: 'write_cap', nullable: true },
      readCap: { ...types.ascii(CAP_LENGTH), name: 'read_cap', nullable: true },
      syncedContentVersion: bigint({ name: 'synced_content_version', nullable: true }),
      syncState: { ...types.ascii(8), name: 'sync_state', default: 'dirty' },
      dataDirty: { type: 'boolean', name: 'data_dirty', default: false },
      attrDirty: { type: 'boolean', name: 'attr_dirty', default: false },
      entriesDirty: { type: 'boolean', name: 'entries_dirty', default: false },
      dirtySince: bigint({ name: 'dirty_since', nullable: true }),
      listedAt: bigint({ name: 'listed_at', nullable: true }),
      changeSeq: bigint({ name: 'change_seq', default: 0 }),
      syncError: { ...types.text(), name: 'sync_error', nullable: true },
      syncTries: { type: 'int', name: 'sync_tries', default: 0 },
      publishedIno: bigint({ name: 'published_ino', nullable: true }),
      dirtyOwner: { ...types.ascii(64), name: 'dirty_owner', nullable: true },
    },
    indices: [
      // The sync worker's queue: dirty inodes, oldest first.
      { name: 'IDX_inode_sync_state_dirty_since', columns: ['syncState', 'dirtySince'] },
      // Start-up cleanup of unlinked inodes whose last holder died.
      { name: 'IDX_inode_nlink', columns: ['nlink'] },
      // A pull joining a name to the inode already pulled under another name (hard links).
      { name: 'IDX_inode_published_ino', columns: ['publishedIno'] },
    ],
  });
}
