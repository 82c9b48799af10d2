/**
 * The POSIX errno names RiverFS answers with. Layers below FsOps throw FsError with the errno a local
 * filesystem would return; the single errno mapper in FsOps turns it into the negative number for FUSE.
 */
export const ERRNO_NAMES = [
  'EPERM',
  'ENOENT',
  'EIO',
  'EBADF',
  'EAGAIN',
  'EACCES',
  'EBUSY',
  'EEXIST',
  'EXDEV',
  'ENOTDIR',
  'EISDIR',
  'EINVAL',
  'EFBIG',
  'ENOSPC',
  'EROFS',
  'EMLINK',
  'ERANGE',
  'E2BIG',
  'ENAMETOOLONG',
  'ENOTEMPTY',
  'ELOOP',
  'ENODATA',
  'ENOTSUP',
  'ETIMEDOUT',
  // File locks (src/locks): a deadlock F_SETLKW would wait into, no lock service to ask, a wait interrupted.
  'EDEADLK',
  'ENOLCK',
  'EINTR',
] as const;

export type ErrnoName = (typeof ERRNO_NAMES)[number];

export class FsError extends Error {
  constructor(
    readonly code: ErrnoName,
    message?: string,
  ) {
    super(message ? `${code}: ${message}` : code);
    this.name = 'FsError';
  }
}

export function isFsError(error: unknown, code?: ErrnoName): error is FsError {
  return error instanceof FsError && (code === undefined || error.code === code);
}
