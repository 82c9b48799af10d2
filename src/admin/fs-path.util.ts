import { NAME_MAX } from '../metadata/metadata.types';
import { AdminError } from './admin.errors';

/** Longest path the admin API accepts, in UTF-8 bytes (Linux PATH_MAX). */
export const PATH_MAX = 4096;

// A lone surrogate has no UTF-8 form: Buffer.from would turn it into U+FFFD and look up a different name.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why `value` is not a path inside the mounted filesystem, or undefined when it is one. Paths are looked up name by
 * name from the root in the metadata database, never on the host's disk, so they cannot reach outside the
 * filesystem; still, `..`, `.`, empty segments and relative paths are refused rather than interpreted, so that what
 * an operator typed is exactly what is acted on.
 */
export function fsPathProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') {
    return 'must be a string';
  }
  if (value === '') {
    return 'must not be empty';
  }
  if (value.includes('\0')) {
    return 'must not contain NUL';
  }
  if (!value.startsWith('/')) {
    return 'must be absolute (start with "/")';
  }
  if (LONE_SURROGATE.test(value)) {
    return 'is not valid Unicode (lone surrogate)';
  }
  if (Buffer.byteLength(value, 'utf8') > PATH_MAX) {
    return `must not be longer than ${PATH_MAX} bytes`;
  }
  if (value === '/') {
    return undefined;
  }
  for (const segment of value.slice(1).split('/')) {
    if (segment === '') {
      return 'must not contain empty segments ("//" or a trailing "/")';
    }
    if (segment === '.' || segment === '..') {
      return 'must not contain "." or ".." segments';
    }
    if (Buffer.byteLength(segment, 'utf8') > NAME_MAX) {
      return `must not have a name longer than ${NAME_MAX} bytes`;
    }
  }
  return undefined;
}

/** The names of a valid absolute path, root first ([] for "/"); INVALID_PATH otherwise. */
export function splitFsPath(value: unknown): string[] {
  const problem = fsPathProblem(value);
  if (problem !== undefined) {
    throw new AdminError('INVALID_PATH', `path ${problem}`, { errors: [{ field: 'path', reason: problem }] });
  }
  const path = value as string;
  return path === '/' ? [] : path.slice(1).split('/');
}

/** Joins names (as stored: bytes) into a display path; names that are not UTF-8 show U+FFFD. */
export function joinFsPath(names: readonly (Buffer | string)[]): string {
  return '/' + names.map((name) => (typeof name === 'string' ? name : name.toString('utf8'))).join('/');
}
