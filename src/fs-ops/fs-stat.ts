import { FsError } from '../common/errors/fs-error';
import type { InodeType, Timespec } from '../metadata/metadata.types';
import type { StatFs } from '../fuse-lowlevel';
import { PATH_ENCODING } from './fs-path';

/** What getattr answers; times carry nanoseconds. */
export interface FsStat {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blksize: number;
  blocks: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

/** What statfs answers: the binding's StatFs with every figure given. */
export type FsStatfs = Required<StatFs>;

/** File type bits of st_mode (S_IFMT and friends), as Linux defines them. */
export const S_IFMT = 0o170000;
export const TYPE_BITS: Record<InodeType, number> = {
  file: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  fifo: 0o010000,
  socket: 0o140000,
  char: 0o020000,
  block: 0o060000,
};

export function typeFromMode(mode: number): InodeType {
  switch (mode & S_IFMT) {
    case 0:
    case TYPE_BITS.file:
      return 'file';
    case TYPE_BITS.dir:
      return 'dir';
    case TYPE_BITS.symlink:
      return 'symlink';
    case TYPE_BITS.fifo:
      return 'fifo';
    case TYPE_BITS.socket:
      return 'socket';
    case TYPE_BITS.char:
      return 'char';
    case TYPE_BITS.block:
      return 'block';
    default:
      throw new FsError('EINVAL', `unknown file type in mode ${mode.toString(8)}`);
  }
}

export function compareTime(a: Timespec, b: Timespec): number {
  return a.sec !== b.sec ? a.sec - b.sec : a.nsec - b.nsec;
}

/**
 * The xattr namespaces a Linux filesystem keeps (ext4, tmpfs). FUSE hands every name to the filesystem, so the
 * checks the VFS leaves to ext4 are made here: another namespace is EOPNOTSUPP, a bare prefix EINVAL. (system.* ACLs
 * are refused: without FUSE_POSIX_ACL the kernel asks for an inode's ACL at most once, and keeps "none".)
 */
export const SECURITY_XATTR_PREFIX = 'security.';
const XATTR_NAMESPACES = ['user.', 'trusted.', SECURITY_XATTR_PREFIX];

/** `encoding`: how the FUSE binding spelled the name (fuse-native: latin1, one char per byte; low-level: UTF-8). */
export function xattrName(name: string, encoding: BufferEncoding = PATH_ENCODING): Buffer {
  const bytes = Buffer.from(name, encoding);
  const namespace = XATTR_NAMESPACES.find((prefix) => name.startsWith(prefix));
  if (namespace === undefined) {
    throw new FsError('ENOTSUP', `xattr namespace of "${bytes.toString()}"`);
  }
  if (name.length === namespace.length) {
    throw new FsError('EINVAL', `xattr name "${name}" has nothing after its namespace`);
  }
  return bytes;
}
