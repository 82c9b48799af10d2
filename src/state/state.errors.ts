export const STATE_ERROR_CODES = [
  /** A lock stayed held by someone else for the whole wait. */
  'LOCK_TIMEOUT',
  /** A lock this holder had is no longer held (expired, reaped, or its renewal failed for too long). */
  'LOCK_LOST',
  /** The backing store (Redis) cannot be reached; the operation may be retried. */
  'UNAVAILABLE',
  /** A lock was asked for on behalf of a session that is not registered or has expired. */
  'SESSION_UNKNOWN',
  'INVALID_ARGUMENT',
  /** The store was closed. */
  'CLOSED',
] as const;

export type StateErrorCode = (typeof STATE_ERROR_CODES)[number];

export class StateError extends Error {
  constructor(
    readonly code: StateErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
    this.name = 'StateError';
  }
}

export function isStateError(error: unknown, code?: StateErrorCode): error is StateError {
  return error instanceof StateError && (code === undefined || error.code === code);
}
