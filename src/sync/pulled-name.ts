import { ROOT_INO } from '../metadata/metadata.types';
import type { RemoteChange, RemoteNode } from '../metadata/sync-journal';
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
