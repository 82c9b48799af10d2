import { createHash } from 'node:crypto';
import { INODE_TYPES, type InodeType, type Timespec } from '../metadata/metadata.types';
import type { RemoteNode, SyncChild } from '../metadata/sync-journal';
import type { TahoeNode } from '../tahoe/tahoe.types';

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
  /**
   * The inode's identity in the tree: its number on the gateway that first published it (a gateway that pulled it
   * keeps publishing that number). Tells hard links (same ino and cap) from equal content (same cap only).
   */
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
    ino: inode.publishedIno ?? inode.ino,
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

/** JSON with object keys sorted: the same value always hashes the same, whatever order a peer wrote its keys in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Identifies what an edge carries (cap and `riverfs` metadata, null for none): equal hashes need no republish, and a
 * pull that finds another hash than the one last synced knows the edge changed remotely.
 */
export function edgeHash(cap: string, metadata: RiverFsEdgeMetadata | null): string {
  return createHash('sha256')
    .update(canonicalJson([cap, metadata]))
    .digest('hex');
}

/** The inode identity an edge's metadata carries, when it is a usable one (a positive safe integer). */
export function publishedInoOf(metadata: RiverFsEdgeMetadata | null): number | undefined {
  const ino = metadata?.ino;
  return typeof ino === 'number' && Number.isSafeInteger(ino) && ino > 0 ? ino : undefined;
}

/** Attributes a pulled entry gets when its edge carries no `riverfs` metadata (DESIGN.md §4, issue 5). */
export interface RemoteDefaults {
  uid: number;
  gid: number;
  /** Used when the edge has no linkmotime either. */
  now: Timespec;
}

const MODE_BITS = 0o7777;

function isUint(value: unknown, max = 0xffffffff): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

function nsTimespec(value: unknown): Timespec | undefined {
  if (typeof value !== 'string' || !/^\d{1,20}$/.test(value)) {
    return undefined;
  }
  const ns = BigInt(value);
  const sec = Number(ns / 1_000_000_000n);
  return Number.isSafeInteger(sec) ? { sec, nsec: Number(ns % 1_000_000_000n) } : undefined;
}

function secondsTimespec(value: number | undefined): Timespec | undefined {
  if (value === undefined || !Number.isFinite(value) || value < 0) {
    return undefined;
  }
  const sec = Math.floor(value);
  return { sec, nsec: Math.min(999_999_999, Math.round((value - sec) * 1e9)) };
}

function decodeBytes(text: unknown, base64: unknown): Buffer | undefined {
  if (typeof text === 'string') {
    return Buffer.from(text, 'utf8');
  }
  if (typeof base64 === 'string') {
    return Buffer.from(base64, 'base64');
  }
  return undefined;
}

/**
 * The `riverfs` metadata of an edge when it is of a version this code reads; fields of the wrong shape are dropped
 * one by one (a foreign or damaged edge still yields whatever is usable), null when there is nothing to read.
 */
export function readEdgeMetadata(custom: Record<string, unknown> | undefined): RiverFsEdgeMetadata | null {
  const raw = custom?.[EDGE_METADATA_KEY];
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return null;
  }
  const value = raw as Record<string, unknown>;
  if (value.v !== EDGE_METADATA_VERSION) {
    return null;
  }
  return value as unknown as RiverFsEdgeMetadata;
}

/**
 * What a child of a listing is, as an inode: attributes from its `riverfs` metadata, or the defaults (files 0644,
 * directories 0755, mtime from the link's linkmotime, the mounting user as owner) for a tree written by other
 * Tahoe clients. Undefined for a node RiverFS cannot mount (an unknown cap format).
 */
export function remoteNodeOf(
  node: TahoeNode,
  defaults: RemoteDefaults,
): { node: RemoteNode; metadata: RiverFsEdgeMetadata | null } | undefined {
  if (node.type === 'unknown') {
    return undefined;
  }
  const writeCap = node.type === 'directory' ? (node.rwUri ?? node.roUri) : (node.roUri ?? node.rwUri);
  if (writeCap === undefined) {
    return undefined;
  }
  const readCap = node.roUri ?? writeCap;
  const metadata = readEdgeMetadata(node.metadata?.custom);
  const linkTime = secondsTimespec(node.metadata?.linkmotime) ?? defaults.now;
  const isDir = node.type === 'directory';
  const declared =
    metadata !== null && (INODE_TYPES as readonly unknown[]).includes(metadata.type) ? metadata.type : undefined;
  // A declared type must agree with what Tahoe holds: a directory is a dirnode, everything else a file.
  const type: InodeType = declared !== undefined && (declared === 'dir') === isDir ? declared : isDir ? 'dir' : 'file';
  const readOnlyDir = isDir && node.rwUri === undefined;
  const defaultMode = isDir ? (readOnlyDir ? 0o555 : 0o755) : 0o644;
  const mtime = nsTimespec(metadata?.mtime_ns) ?? linkTime;
  const result: RemoteNode = {
    type,
    mode: isUint(metadata?.mode, MODE_BITS) ? metadata.mode : defaultMode,
    uid: isUint(metadata?.uid) ? metadata.uid : defaults.uid,
    gid: isUint(metadata?.gid) ? metadata.gid : defaults.gid,
    rdev: (type === 'char' || type === 'block') && isUint(metadata?.rdev) ? metadata.rdev : 0,
    size: node.type === 'file' && isUint(node.size, Number.MAX_SAFE_INTEGER) ? node.size : 0,
    mtime,
    ctime: nsTimespec(metadata?.ctime_ns) ?? mtime,
    writeCap,
    readCap,
  };
  if (type === 'symlink') {
    result.target = decodeBytes(metadata?.target, metadata?.target_b64);
  }
  if (metadata !== null && metadata.xattrs_omitted !== true) {
    const xattrs = metadata.xattrs;
    result.xattrs =
      xattrs !== null && typeof xattrs === 'object'
        ? Object.entries(xattrs)
            .filter(([, item]) => typeof item === 'string')
            .map(([name, item]) => ({ name: Buffer.from(name, 'utf8'), value: Buffer.from(item, 'base64') }))
            .sort((a, b) => Buffer.compare(a.name, b.name))
        : [];
  }
  return { node: result, metadata };
}
