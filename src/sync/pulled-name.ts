import type { NameChange } from '../metadata/metadata-events';
import { ROOT_INO } from '../metadata/metadata.types';
import type { RemoteChange, RemoteNode, SyncInode } from '../metadata/sync-journal';
import { type RiverFsEdgeMetadata, publishedInoOf } from './edge-metadata.util';

/** A child of a dirnode listing, read: what a pull compares with SQL. */
export interface RemoteEntry {
  /** As Tahoe has it (NFC). */
  name: string;
  bytes: Buffer;
  node: RemoteNode;
  metadata: RiverFsEdgeMetadata | null;
  hash: string;
}

/**
 * The change that adds a name only Tahoe has. Its edge's inode identity goes with it: the transaction that adds it
 * joins it to the inode already pulled under another name with that identity and cap (a hard link), whichever
 * directory held that name and whenever it was listed, and otherwise keeps the identity on the new inode for the
 * names still to come. A rebuild (`keepInodeNumbers`) also asks for the published number as the inode number.
 */
export function addedName(entry: RemoteEntry, keepInodeNumbers: boolean): RemoteChange {
  const change: RemoteChange = { kind: 'add', name: entry.bytes, node: entry.node, metaHash: entry.hash };
  const publishedIno = publishedInoOf(entry.metadata);
  if (publishedIno === undefined) {
    return change;
  }
  return { ...change, publishedIno, ...(keepInodeNumbers && publishedIno > ROOT_INO ? { ino: publishedIno } : {}) };
}

/** An added name that may join an inode another name made (see addedName). */
export function joinsByIdentity(change: RemoteChange): boolean {
  return change.kind === 'add' && change.publishedIno !== undefined && change.node.type !== 'dir';
}

/**
 * True when a remote change of a name that is one of several links of a local inode put another file there: its edge
 * carries another identity (a file replaced by rename over it, as editors save). Its other names keep the old file,
 * so the name leaves that inode rather than changing its content. The same identity with another cap is the file
 * changed in place: the gateway that changed it republishes every name.
 */
export function replacesHardLink(mine: SyncInode, entry: RemoteEntry): boolean {
  const identity = publishedInoOf(entry.metadata);
  return mine.nlink > 1 && identity !== undefined && identity !== (mine.publishedIno ?? mine.ino);
}

/** The names remote changes to `dir` add or remove, as the kernel must be told of them (RemoteApplied.names). */
export function namesChangedBy(dir: number, changes: readonly RemoteChange[]): NameChange[] {
  return changes.flatMap((change): NameChange[] => {
    switch (change.kind) {
      case 'add':
        return [{ parent: dir, name: change.name }];
      case 'remove':
        return [{ parent: dir, name: change.name, gone: change.child }];
      default:
        return [];
    }
  });
}
