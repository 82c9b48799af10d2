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

  /**
   * An answer rather than a fault (a lookup of a name that is not there), made without capturing a stack: nothing
   * reads it, and a build or `open(O_CREAT)` in a loop asks for missing names thousands of times a second (the
   * stack was 14 µs of a 30 µs negative lookup).
   */
  static answer(code: ErrnoName, message?: string): FsError {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new FsError(code, message);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}

export function isFsError(error: unknown, code?: ErrnoName): error is FsError {
  return error instanceof FsError && (code === undefined || error.code === code);
}
