import type { InodeRecord, InodeType, Timespec } from './metadata.types';

/** An inode as the sync worker sees it: the record plus the bookkeeping it compares and sets. */
export interface SyncInode extends InodeRecord {
  /** Bumped by every change that marks the inode dirty (see SyncJournal.markClean). */
  changeSeq: number;
  /** The last sync failure, caps redacted; null after a success. */
  syncError: string | null;
  /** Failed sync attempts since the last success. */
  syncTries: number;
  /**
   * The inode number its edges carry in Tahoe when that is not `ino` (pulled from a tree published with other
   * numbers); absent or null: `ino`. Publishes keep it, so every name of a hard-linked inode keeps one identity.
   */
  publishedIno?: number | null;
  /** The data-directory id of the gateway whose cache holds the dirty content; null when unknown (older rows). */
  dirtyOwner: string | null;
}

/** One entry of a directory with what its edge metadata needs. */
export interface SyncChild {
  name: Buffer;
  inode: SyncInode;
  /** Symlinks: the target. */
  target?: Buffer;
  /** Extended attributes, by name (bytes), in name order. */
  xattrs: { name: Buffer; value: Buffer }[];
}

/** One `synced_entry` row: what was last published as child `name` of directory `parent`. */
export interface SyncedEntry {
  parent: number;
  name: Buffer;
  child: number | null;
  cap: string;
  metaHash: string | null;
  syncedAt: number;
}

export interface PublishedEntry {
  name: Buffer;
  child: number | null;
  cap: string;
  metaHash: string;
}

/** A link of an inode: entry `name` of directory `parent`. */
export interface InodeLink {
  parent: number;
  name: Buffer;
}

/** Which dirty flags a completed push may clear. */
export interface CleanFlags {
  data?: boolean;
  attr?: boolean;
  entries?: boolean;
}

/**
 * The sync worker's port to the metadata database (DESIGN.md §3): the dirty queue, the children of a directory with
 * their attributes, the last published state of each edge (`synced_entry`), and compare-and-set updates of the
 * sync bookkeeping. Every flag is cleared only when the inode did not change since it was read (`changeSeq`,
 * `contentVersion`), so a change made while a push runs is never marked clean.
 */
export abstract class SyncJournal {
  /** Inodes with something to push (sync state other than `synced`) that still have a name, by inode number. */
  abstract listDirty(options: { afterIno?: number; limit: number }): Promise<SyncInode[]>;
  /** Null when the inode no longer exists. */
  abstract getSyncInode(ino: number): Promise<SyncInode | null>;
  /** The entries of a directory with their inodes, symlink targets and xattrs (the whole directory). */
  abstract children(dir: number): Promise<SyncChild[]>;
  /** Subdirectories of `dir` with a name and no dirnode yet (no write cap), in entry order: less than `children`. */
  abstract unpublishedSubdirectories(dir: number): Promise<number[]>;
  /** The names in a directory, without their inodes: less than `children`. */
  abstract childNames(dir: number): Promise<Buffer[]>;
  /** Every entry naming the inode (its hard links; a directory's one entry). */
  abstract linksOf(ino: number): Promise<InodeLink[]>;
  /** The directories that name each of `inos` (a scan's batch in one query instead of one per inode). */
  abstract parentsOf(inos: readonly number[]): Promise<Map<number, number[]>>;

  /** What was last published in the directory's dirnode. */
  abstract syncedEntries(dir: number): Promise<SyncedEntry[]>;
  /** Published edges that named this inode. */
  abstract syncedLinksOf(ino: number): Promise<SyncedEntry[]>;
  /** Records edges published by one set_children (insert or replace). */
  abstract recordPublished(dir: number, entries: PublishedEntry[]): Promise<void>;
  /** Forgets edges unlinked from the directory's dirnode. */
  abstract recordUnlinked(dir: number, names: Buffer[]): Promise<void>;
  /** Forgets everything published in a directory (its dirnode is gone or replaced). */
  abstract forgetDirectory(dir: number): Promise<void>;

  /**
   * Records the cap an upload of `contentVersion` produced, and marks the data clean, if the content is still that
   * version. False (nothing written) when it changed meanwhile.
   */
  abstract recordUpload(ino: number, contentVersion: number, cap: string, readCap: string): Promise<boolean>;
  /** Sets the cap of an inode that has none yet (a new dirnode, a symlink's target). Returns the cap in force. */
  abstract recordCap(ino: number, cap: string, readCap: string): Promise<string>;
  /**
   * Marks an inode dirty again: `entries` (its dirnode must be reconciled again), `data` (its content must be
   * uploaded again: a new content version).
   */
  abstract markDirty(ino: number, flags: { data?: boolean; entries?: boolean }): Promise<void>;

  /** `syncing`, unless the inode changed since `changeSeq` was read. */
  abstract markSyncing(ino: number, changeSeq: number): Promise<void>;
  /**
   * Clears the given flags if the inode is unchanged since `changeSeq`; the inode becomes `synced` when no flag is
   * left. True when the flags were cleared.
   */
  abstract markClean(ino: number, changeSeq: number, flags: CleanFlags): Promise<boolean>;
  /** markClean of many inodes in one transaction (a publish clears every child it linked); the inodes cleared. */
  abstract markCleanMany(items: { ino: number; changeSeq: number; flags: CleanFlags }[]): Promise<number[]>;
  /** Records a failed attempt (the flags stay set). */
  abstract markFailed(ino: number, error: string, tries: number): Promise<void>;

  /**
   * Applies what a pull found in a directory's dirnode, in one transaction, and records the directory as listed at
   * `listedAt` (left as it was without one: a publish that kept conflict copies applied only those, not the whole
   * listing). With `publishAfter`, the directory is marked for a publish (local wins somewhere and must reach Tahoe).
   */
  abstract applyRemote(
    dir: number,
    changes: RemoteChange[],
    options: { listedAt?: number; publishAfter: boolean },
  ): Promise<RemoteApplyResult>;
}

/** A child as Tahoe has it, in the terms of an inode: what a pull creates or updates locally. */
export interface RemoteNode {
  type: InodeType;
  mode: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  mtime: Timespec;
  ctime: Timespec;
  writeCap: string;
  readCap: string;
  /** Symlinks. */
  target?: Buffer;
  /** Undefined: not carried by the edge (the local ones stay as they are). */
  xattrs?: { name: Buffer; value: Buffer }[];
}

/**
 * One change a pull applies to a directory (DESIGN.md §4). Each is checked again inside the transaction: an entry
 * that changed locally since the pull planned the change is left alone (`skipped`), and the next pull looks again.
 */
export type RemoteChange =
  /**
   * A name that exists only remotely: a new inode, already in sync — or a new link of an inode already here: of
   * `linkTo`, or of the live inode whose identity is `publishedIno` with the same cap (a hard link whose other name was
   * pulled before, in this directory or any other).
   */
  | {
      kind: 'add';
      name: Buffer;
      node: RemoteNode;
      metaHash: string | null;
      /** The inode number the edge's `riverfs` metadata carries: joins the names of one inode (hard links). */
      publishedIno?: number;
      /** Keep this inode number when it is free (a rebuild keeps the numbers the tree was published with). */
      ino?: number;
      /** A hard link: the existing inode this edge names too. */
      linkTo?: number;
      /** A conflict copy: not in Tahoe under this name yet, so the directory must be published. */
      publish?: boolean;
    }
  /** The entry changed remotely and is unchanged locally since `changeSeq`: it takes the remote attributes (and cap). */
  | {
      kind: 'update';
      name: Buffer;
      child: number;
      changeSeq: number;
      node: RemoteNode;
      contentChanged: boolean;
      metaHash: string | null;
    }
  /** The entry is gone remotely and unchanged locally (a directory: its whole tree); removed locally too. */
  | { kind: 'remove'; name: Buffer; child: number; changeSeq: number }
  /** Records what Tahoe now holds under the name without touching the entry (agreement, or local wins). */
  | { kind: 'acknowledge'; name: Buffer; child: number | null; cap: string; metaHash: string | null }
  /** Forgets what was published under the name (gone remotely; the local entry, if any, is published again). */
  | { kind: 'forget'; name: Buffer };

export interface RemoteApplyResult {
  applied: number;
  /** Changes not applied because the local entry changed meanwhile. */
  skipped: number;
  /** Inodes added by `add`, by name. */
  added: { name: Buffer; ino: number }[];
  /** Inodes whose content changed or that were freed: their cached blocks must go. */
  dropData: number[];
  /** Every inode whose row changed. */
  changed: number[];
}
