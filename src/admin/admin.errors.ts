/**
 * Failures of the operator surface itself (auth, request shape, jobs, missing subsystems), as one domain error with
 * a code. Services and guards throw these, never HTTP exceptions; the problem filter maps the code to a status.
 */
export const ADMIN_ERROR_CODES = [
  /** No bearer token, or not one of ours. */
  'UNAUTHORIZED',
  /** `reveal=true` with a token that may not reveal caps. */
  'REVEAL_FORBIDDEN',
  /** A request field or parameter failed validation; `errors` lists each one. */
  'VALIDATION_FAILED',
  /** The body is not valid JSON. */
  'MALFORMED_JSON',
  /** The body is larger than `httpBodyLimit`. */
  'BODY_TOO_LARGE',
  /** A body that is not JSON (or in an encoding the server does not decode). */
  'UNSUPPORTED_MEDIA_TYPE',
  /** A filesystem path that is relative, has empty, `.` or `..` segments, or a NUL. */
  'INVALID_PATH',
  'NOT_A_DIRECTORY',
  'JOB_NOT_FOUND',
  /** Cancelling a job that already ended. */
  'JOB_FINISHED',
  /** Too many jobs running at once. */
  'TOO_MANY_JOBS',
  /** Sync (flush, forced sync, warmup, queue) is not part of this gateway yet. */
  'SYNC_UNAVAILABLE',
  /** A readiness check failed; `failing` names the parts. */
  'NOT_READY',
  /** Sharing without the cap-revealing token. */
  'SHARE_FORBIDDEN',
  /** The cap asked for does not exist (yet): not uploaded, or a write cap of an immutable file. */
  'CAP_UNAVAILABLE',
] as const;

export type AdminErrorCode = (typeof ADMIN_ERROR_CODES)[number];

export interface FieldProblem {
  /** Dotted path of the field (`path`, `ino`, `children.0.name`), or `body`/`query` for the whole thing. */
  field: string;
  reason: string;
}

export interface AdminErrorOptions {
  /** Per-field reasons, for VALIDATION_FAILED. */
  errors?: FieldProblem[];
  /** More members for the problem document (e.g. `failing` for NOT_READY); keys must not clash with RFC 9457's. */
  extensions?: Record<string, unknown>;
  /** Response headers the answer needs (e.g. `WWW-Authenticate` with a 401). */
  headers?: Record<string, string | string[]>;
  cause?: unknown;
}

export class AdminError extends Error {
  readonly errors: FieldProblem[] | undefined;
  readonly extensions: Record<string, unknown> | undefined;
  readonly headers: Record<string, string | string[]> | undefined;

  constructor(
    readonly code: AdminErrorCode,
    message: string,
    options: AdminErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AdminError';
    this.errors = options.errors;
    this.extensions = options.extensions;
    this.headers = options.headers;
  }
}

export function isAdminError(error: unknown, code?: AdminErrorCode): error is AdminError {
  return error instanceof AdminError && (code === undefined || error.code === code);
}
