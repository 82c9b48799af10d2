import { createHash } from 'node:crypto';
import type { InodeType, Timespec } from '../metadata/metadata.types';
import type { SyncChild } from '../metadata/sync-journal';

/** The key of RiverFS's attributes in a Tahoe edge's metadata (Tahoe keeps every key but `tahoe` as given). */
export const EDGE_METADATA_KEY = 'riverfs';
export const EDGE_METADATA_VERSION = 1;

/** Extended attributes travel in the edge only while their values stay this small in total (bytes). */
export const MAX_EDGE_XATTR_BYTES = 4096;

/** The cap linked for fifos, sockets and devices: the empty file, all their meaning is in the edge metadata. */
export const SPECIAL_FILE_CAP = 'URI:LIT:';

/**
 * What RiverFS publishes with every link (DESIGN.md §2): the POSIX attributes Tahoe lacks, enough to rebuild the
 * metadata database from the tree. Times are nanoseconds since the epoch as decimal strings (a JSON number loses
 * precision beyond 2^53). Byte strings that are not UTF-8 are carried in base64 under a `_b64` key.
 */
export interface RiverFsEdgeMetadata {
  v: typeof EDGE_METADATA_VERSION;
  type: InodeType;
  /** The inode number on the gateway that published it: tells hard links (same ino) from equal content (same cap). */
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  mtime_ns: string;
  ctime_ns: string;
  /** Character and block devices. */
  rdev?: number;
  /** Symlinks. */
  target?: string;
  target_b64?: string;
  /** Extended attributes: name → value in base64. */
  xattrs?: Record<string, string>;
  /** Set when the xattrs were too large for the edge and were left out. */
  xattrs_omitted?: true;
}

export function timespecNs(time: Timespec): string {
  return (BigInt(time.sec) * 1_000_000_000n + BigInt(time.nsec)).toString();
}

/** The bytes as a string when they are valid UTF-8 that round-trips exactly; undefined otherwise. */
export function exactUtf8(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
}

/**
 * The name a directory entry gets in Tahoe, or undefined when Tahoe cannot hold it: Tahoe names are Unicode, so a
 * name that is not valid UTF-8 has no exact counterpart.
 */
export function tahoeName(name: Buffer): string | undefined {
  const text = exactUtf8(name);
  return text === undefined || text === '' || text.includes('/') ? undefined : text;
}

export function edgeMetadata(child: SyncChild): RiverFsEdgeMetadata {
  const { inode } = child;
  const metadata: RiverFsEdgeMetadata = {
    v: EDGE_METADATA_VERSION,
    type: inode.type,
    ino: inode.ino,
    mode: inode.mode,
    uid: inode.uid,
    gid: inode.gid,
    mtime_ns: timespecNs(inode.mtime),
    ctime_ns: timespecNs(inode.ctime),
  };
  if (inode.type === 'char' || inode.type === 'block') {
    metadata.rdev = inode.rdev;
  }
  if (inode.type === 'symlink' && child.target !== undefined) {
    const text = exactUtf8(child.target);
    if (text === undefined) {
      metadata.target_b64 = child.target.toString('base64');
    } else {
      metadata.target = text;
    }
  }
  if (child.xattrs.length > 0) {
    const total = child.xattrs.reduce((sum, xattr) => sum + xattr.name.length + xattr.value.length, 0);
    const names = child.xattrs.map((xattr) => exactUtf8(xattr.name));
    if (total > MAX_EDGE_XATTR_BYTES || names.some((name) => name === undefined)) {
      metadata.xattrs_omitted = true;
    } else {
      const xattrs: Record<string, string> = Object.create(null) as Record<string, string>;
      child.xattrs.forEach((xattr, index) => {
        xattrs[names[index]!] = xattr.value.toString('base64');
      });
      metadata.xattrs = xattrs;
    }
  }
  return metadata;
}

/** Identifies what an edge carries (cap and metadata): equal hashes need no republish. */
export function edgeHash(cap: string, metadata: RiverFsEdgeMetadata): string {
  return createHash('sha256')
    .update(JSON.stringify([cap, metadata]))
    .digest('hex');
}
