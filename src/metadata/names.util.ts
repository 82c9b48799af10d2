import { FsError } from '../common/errors/fs-error';
import { NAME_MAX, type Name, SYMLINK_MAX, XATTR_NAME_MAX, XATTR_SIZE_MAX } from './metadata.types';

const SLASH = 0x2f;
const NUL = 0x00;
const DOT = 0x2e;

export function nameBytes(name: Name): Buffer {
  return typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
}

export type DotKind = 'dot' | 'dotdot' | null;

export function dotKind(bytes: Buffer): DotKind {
  if (bytes.length === 1 && bytes[0] === DOT) {
    return 'dot';
  }
  if (bytes.length === 2 && bytes[0] === DOT && bytes[1] === DOT) {
    return 'dotdot';
  }
  return null;
}

/**
 * Checks one path component as Linux's path walk would: empty → ENOENT, longer than NAME_MAX bytes →
 * ENAMETOOLONG. A `/` or NUL cannot reach a filesystem through a path at all; we answer EINVAL. `.` and
 * `..` are returned as they are: which errno they earn depends on the operation (see the callers).
 */
export function checkName(name: Name): Buffer {
  const bytes = nameBytes(name);
  if (bytes.length === 0) {
    throw new FsError('ENOENT', 'empty name');
  }
  if (bytes.length > NAME_MAX) {
    throw new FsError('ENAMETOOLONG', `name of ${bytes.length} bytes (at most ${NAME_MAX})`);
  }
  if (bytes.includes(SLASH) || bytes.includes(NUL)) {
    throw new FsError('EINVAL', 'name contains "/" or NUL');
  }
  return bytes;
}

/**
 * A name that a new entry will get (create, mkdir, mknod, symlink, link). Linux answers EEXIST for `.`
 * and `..`: they always exist.
 */
export function checkNewName(name: Name): Buffer {
  const bytes = checkName(name);
  if (dotKind(bytes) !== null) {
    throw new FsError('EEXIST', `"${bytes.toString()}" always exists`);
  }
  return bytes;
}

export function checkSymlinkTarget(target: Name): Buffer {
  const bytes = nameBytes(target);
  if (bytes.length === 0) {
    // symlink("", path) fails with ENOENT on Linux.
    throw new FsError('ENOENT', 'empty symlink target');
  }
  if (bytes.length > SYMLINK_MAX) {
    throw new FsError('ENAMETOOLONG', `symlink target of ${bytes.length} bytes (at most ${SYMLINK_MAX})`);
  }
  if (bytes.includes(NUL)) {
    throw new FsError('EINVAL', 'symlink target contains NUL');
  }
  return bytes;
}

/** Extended attribute names: Linux answers ERANGE for an empty one or one over XATTR_NAME_MAX bytes. */
export function checkXattrName(name: Name): Buffer {
  const bytes = nameBytes(name);
  if (bytes.length === 0 || bytes.length > XATTR_NAME_MAX) {
    throw new FsError('ERANGE', `xattr name of ${bytes.length} bytes (1 to ${XATTR_NAME_MAX})`);
  }
  if (bytes.includes(NUL)) {
    throw new FsError('EINVAL', 'xattr name contains NUL');
  }
  return bytes;
}

/** Values over XATTR_SIZE_MAX: setxattr(2) fails with E2BIG. */
export function checkXattrValue(value: Buffer): Buffer {
  if (value.length > XATTR_SIZE_MAX) {
    throw new FsError('E2BIG', `xattr value of ${value.length} bytes (at most ${XATTR_SIZE_MAX})`);
  }
  return value;
}
