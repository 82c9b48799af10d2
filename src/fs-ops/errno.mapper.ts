import os from 'node:os';
import { type ErrnoName, FsError } from '../common/errors/fs-error';
import { type TahoeErrorCode, isTahoeError } from '../tahoe/tahoe.errors';

const ERRNO = os.constants.errno as Record<string, number>;

/** Linux errno number of a name (ENODATA is missing from Node's table on some builds; Linux's value is 61). */
export function errnoNumber(name: ErrnoName): number {
  return ERRNO[name] ?? (name === 'ENODATA' ? 61 : ERRNO.EIO);
}

function errnoOfTahoe(code: TahoeErrorCode): ErrnoName {
  switch (code) {
    case 'NOT_FOUND':
      return 'ENOENT';
    case 'ALREADY_EXISTS':
      return 'EEXIST';
    case 'READ_ONLY':
      return 'EROFS';
    // DESIGN.md §10: an unreachable or unhappy grid surfaces as EIO (never ENOSPC, which would send users
    // looking at their local disk).
    default:
      return 'EIO';
  }
}

/**
 * The one place an exception becomes an errno for FUSE. Domain errors carry their errno; Node's own system
 * errors (from cache files) keep theirs when they are meaningful to the caller; anything else is EIO, and the
 * caller logs it, because an unexpected error must never escape into fuse-native.
 */
export function toErrno(error: unknown): { errno: number; name: ErrnoName; expected: boolean } {
  if (error instanceof FsError) {
    return { errno: -errnoNumber(error.code), name: error.code, expected: true };
  }
  if (isTahoeError(error)) {
    const name = errnoOfTahoe(error.code);
    return { errno: -errnoNumber(name), name, expected: false };
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return { errno: -errnoNumber('ENOSPC'), name: 'ENOSPC', expected: false };
  }
  return { errno: -errnoNumber('EIO'), name: 'EIO', expected: false };
}
