import type { InodeRecord } from './metadata.types';

/** An inode as the sync worker sees it: the record plus the bookkeeping it compares and sets. */
export interface SyncInode extends InodeRecord {
  /** Bumped by every change that marks the inode dirty (see SyncJournal.markClean). */
  changeSeq: number;
  /** The last sync failure, caps redacted; null after a success. */
  syncError: string | null;
  /** Failed sync attempts since the last success. */
  syncTries: number;
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
  /** Every entry naming the inode (its hard links; a directory's one entry). */
  abstract linksOf(ino: number): Promise<InodeLink[]>;

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
  /** Records a failed attempt (the flags stay set). */
  abstract markFailed(ino: number, error: string, tries: number): Promise<void>;
}
