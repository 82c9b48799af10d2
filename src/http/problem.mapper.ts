import { STATUS_CODES } from 'node:http';
import { HttpException } from '@nestjs/common';
import { AdminError, type AdminErrorCode, type FieldProblem } from '../admin/admin.errors';
import { type ErrnoName, FsError } from '../common/errors/fs-error';
import { GridError, type GridErrorCode } from '../grid/grid.errors';
import { StateError, type StateErrorCode } from '../state/state.errors';
import { redactCapsInText } from '../tahoe/cap.util';
import { TahoeError, type TahoeErrorCode } from '../tahoe/tahoe.errors';

/** An RFC 9457 problem document, with RiverFS's `code` and `correlationId` members. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  /** Stable machine-readable code: the domain error's code, or one derived from the HTTP status. */
  code: string;
  correlationId: string;
  errors?: FieldProblem[];
  [extension: string]: unknown;
}

export interface MappedProblem {
  status: number;
  document: ProblemDocument;
  headers: Record<string, string | string[]>;
  /** Not a known error: a bug or an unforeseen failure, logged with its stack; the answer says nothing about it. */
  unexpected: boolean;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

// Records keyed by every code, so a code added to a domain error fails the type check until it has a status here.

const FS_STATUS: Record<ErrnoName, number> = {
  EPERM: 403,
  ENOENT: 404,
  EIO: 502,
  EBADF: 400,
  EAGAIN: 503,
  EACCES: 403,
  EBUSY: 409,
  EEXIST: 409,
  EXDEV: 400,
  ENOTDIR: 400,
  EISDIR: 400,
  EINVAL: 400,
  EFBIG: 413,
  ENOSPC: 507,
  EROFS: 403,
  EMLINK: 409,
  ERANGE: 400,
  E2BIG: 400,
  ENAMETOOLONG: 400,
  ENOTEMPTY: 409,
  ELOOP: 400,
  ENODATA: 404,
  ENOTSUP: 501,
  ETIMEDOUT: 504,
  EDEADLK: 409,
  ENOLCK: 503,
  EINTR: 503,
};

// Callers of the admin API never hand caps to Tahoe themselves: a Tahoe failure is the upstream's (502), or the
// upstream being unreachable or unable to place shares (503), except for the conflicts a retry may resolve.
const TAHOE_STATUS: Record<TahoeErrorCode, number> = {
  NOT_FOUND: 502,
  ALREADY_EXISTS: 409,
  UNRECOVERABLE: 502,
  UNHAPPY_UPLOAD: 503,
  UNCOORDINATED_WRITE: 409,
  READ_ONLY: 502,
  BAD_REQUEST: 502,
  BAD_CAP: 502,
  RANGE_NOT_SATISFIABLE: 502,
  UNAVAILABLE: 503,
  TRUNCATED_BODY: 502,
  SERVER_ERROR: 502,
};

const STATE_STATUS: Record<StateErrorCode, number> = {
  LOCK_TIMEOUT: 409,
  LOCK_LOST: 409,
  UNAVAILABLE: 503,
  SESSION_UNKNOWN: 409,
  INVALID_ARGUMENT: 400,
  CLOSED: 503,
};

const GRID_STATUS: Record<GridErrorCode, number> = {
  PYTHON_MISSING: 503,
  VENV_MISSING: 503,
  VENV_FAILED: 503,
  TAHOE_INSTALL_FAILED: 503,
  NODE_CREATE_FAILED: 503,
  NODE_START_FAILED: 503,
  NODE_STOP_FAILED: 503,
  NOT_READY: 503,
  LOCKED: 409,
  UNKNOWN_NODE: 404,
};

const ADMIN_STATUS: Record<AdminErrorCode, number> = {
  UNAUTHORIZED: 401,
  REVEAL_FORBIDDEN: 403,
  VALIDATION_FAILED: 400,
  MALFORMED_JSON: 400,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INVALID_PATH: 400,
  NOT_A_DIRECTORY: 400,
  JOB_NOT_FOUND: 404,
  JOB_FINISHED: 409,
  TOO_MANY_JOBS: 429,
  SYNC_UNAVAILABLE: 503,
  NOT_READY: 503,
  SHARE_FORBIDDEN: 403,
  CAP_UNAVAILABLE: 409,
};

/** Members a domain error's extensions may not override. */
const RESERVED = new Set(['type', 'title', 'status', 'detail', 'instance', 'code', 'correlationId', 'errors']);

export function problemType(code: string): string {
  return `urn:riverfs:problem:${code.toLowerCase().replace(/_/g, '-')}`;
}

function codeOfStatus(status: number): string {
  return (STATUS_CODES[status] ?? `HTTP ${status}`).toUpperCase().replace(/[^A-Z0-9]+/g, '_');
}

interface Classified {
  status: number;
  code: string;
  detail: string;
  errors?: FieldProblem[];
  extensions?: Record<string, unknown>;
  headers?: Record<string, string | string[]>;
  unexpected?: boolean;
}

/** Errors in the style of the http-errors package (body-parser's): a status and `expose` when the message is safe. */
function exposedClientError(error: unknown): { status: number; message: string } | undefined {
  const candidate = error as { status?: unknown; expose?: unknown; message?: unknown } | null;
  if (
    error instanceof Error &&
    typeof candidate?.status === 'number' &&
    candidate.status >= 400 &&
    candidate.status < 500 &&
    candidate.expose === true
  ) {
    return { status: candidate.status, message: error.message };
  }
  return undefined;
}

function httpExceptionDetail(exception: HttpException): string {
  const response = exception.getResponse();
  if (typeof response === 'string') {
    return response;
  }
  const message = (response as { message?: unknown }).message;
  if (Array.isArray(message)) {
    return message.map(String).join('; ');
  }
  return typeof message === 'string' ? message : exception.message;
}

function classify(error: unknown): Classified {
  if (error instanceof AdminError) {
    return {
      status: ADMIN_STATUS[error.code],
      code: error.code,
      detail: error.message,
      errors: error.errors,
      extensions: error.extensions,
      headers: error.headers,
    };
  }
  if (error instanceof FsError) {
    return { status: FS_STATUS[error.code], code: error.code, detail: error.message };
  }
  if (error instanceof TahoeError) {
    return { status: TAHOE_STATUS[error.code], code: `TAHOE_${error.code}`, detail: error.message };
  }
  if (error instanceof StateError) {
    return { status: STATE_STATUS[error.code], code: `STATE_${error.code}`, detail: error.message };
  }
  if (error instanceof GridError) {
    return { status: GRID_STATUS[error.code], code: `GRID_${error.code}`, detail: error.message };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    return { status, code: codeOfStatus(status), detail: httpExceptionDetail(error), unexpected: status >= 500 };
  }
  const exposed = exposedClientError(error);
  if (exposed) {
    return { status: exposed.status, code: codeOfStatus(exposed.status), detail: exposed.message };
  }
  return {
    status: 500,
    code: 'INTERNAL_ERROR',
    detail: 'An unexpected error occurred; the server log has its details under this correlation id.',
    unexpected: true,
  };
}

/**
 * The one mapping from an exception to the answer: domain errors by their code through the tables above, Nest's
 * HTTP exceptions by their status, anything else a 500 that reveals nothing but the correlation id. Every text is
 * passed through cap redaction, whatever produced it.
 */
export function problemFor(error: unknown, context: { instance: string; correlationId: string }): MappedProblem {
  const classified = classify(error);
  const document: ProblemDocument = {
    type: problemType(classified.code),
    title: STATUS_CODES[classified.status] ?? 'Error',
    status: classified.status,
    detail: redactCapsInText(classified.detail),
    instance: context.instance,
    code: classified.code,
    correlationId: context.correlationId,
  };
  if (classified.errors !== undefined && classified.errors.length > 0) {
    document.errors = classified.errors.map((item) => ({
      field: redactCapsInText(item.field),
      reason: redactCapsInText(item.reason),
    }));
  }
  for (const [key, value] of Object.entries(classified.extensions ?? {})) {
    if (!RESERVED.has(key)) {
      document[key] = value;
    }
  }
  return {
    status: classified.status,
    document,
    headers: classified.headers ?? {},
    unexpected: classified.unexpected === true,
  };
}
