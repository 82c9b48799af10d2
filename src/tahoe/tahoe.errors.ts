import { BadCapError, redactCapsInText } from './cap.util';

/**
 * Every way a Tahoe web-API call can fail, as one domain error with a code. Statuses and bodies were taken from a
 * tahoe-lafs 1.20.0 grid (see tahoe.errors.spec.ts for the exact bodies), not only from the docs: several failures
 * the docs list as 4xx are really 500s with a traceback, some mapped errors come back as HTML despite
 * `Accept: text/plain`, and a DELETE through a read-only directory cap gets a 501.
 */
export const TAHOE_ERROR_CODES = [
  /** 404: no such child (or no such resource). */
  'NOT_FOUND',
  /** 409: a name exists and `replace=false` (or `only-files` and the name is a directory). */
  'ALREADY_EXISTS',
  /** 410: NoSharesError / NotEnoughSharesError / UnrecoverableFileError; a manifest walk stopped by one. */
  'UNRECOVERABLE',
  /** 500 UploadUnhappinessError / NotEnoughServersError: fewer usable servers than `shares.happy`. */
  'UNHAPPY_UPLOAD',
  /** 500 UncoordinatedWriteError: another writer published the same mutable object. May or may not have applied. */
  'UNCOORDINATED_WRITE',
  /** A write through a read-only cap (400 "read-only cap", 500 NotWriteableError, 500 is_readonly assertion). */
  'READ_ONLY',
  /** 400 and other 4xx; also requests the client refuses to send (bad name, offset past the end). */
  'BAD_REQUEST',
  /** Not a usable cap (refused by this client before sending, or by the server). */
  'BAD_CAP',
  /** 416: a range that starts at or past the end of the file. */
  'RANGE_NOT_SATISFIABLE',
  /** The client node cannot be reached or stalled: refused, reset, connect/headers/body timeout, 502/503/504. */
  'UNAVAILABLE',
  /** The body ended before Content-Length bytes arrived (Tahoe ends the stream when a download fails midway). */
  'TRUNCATED_BODY',
  /** Any other 5xx: a bug or an unmapped exception in the node. */
  'SERVER_ERROR',
] as const;

export type TahoeErrorCode = (typeof TAHOE_ERROR_CODES)[number];

/** Failures where the same request may succeed later unchanged. Auto-retry applies them to idempotent reads only. */
const RETRYABLE: ReadonlySet<TahoeErrorCode> = new Set<TahoeErrorCode>([
  'UNAVAILABLE',
  'TRUNCATED_BODY',
  'UNHAPPY_UPLOAD',
  'UNCOORDINATED_WRITE',
]);

export interface TahoeErrorInit {
  code: TahoeErrorCode;
  /** The client operation that failed, e.g. "listDirectory". */
  operation: string;
  /** Human detail; caps in it are redacted here whatever the caller passed. */
  detail: string;
  status?: number;
  cause?: unknown;
}

export class TahoeError extends Error {
  readonly code: TahoeErrorCode;
  readonly operation: string;
  readonly status: number | undefined;
  readonly retryable: boolean;

  constructor(init: TahoeErrorInit) {
    const detail = redactCapsInText(init.detail);
    const status = init.status === undefined ? '' : ` (HTTP ${init.status})`;
    super(`Tahoe ${init.operation} failed: ${init.code}${status}: ${detail}`, { cause: scrubCause(init.cause) });
    this.name = 'TahoeError';
    this.code = init.code;
    this.operation = init.operation;
    this.status = init.status;
    this.retryable = RETRYABLE.has(init.code);
  }
}

export function isTahoeError(error: unknown, code?: TahoeErrorCode): error is TahoeError {
  return error instanceof TahoeError && (code === undefined || error.code === code);
}

/**
 * Transport errors (undici's, Node's) can quote the request URL, which holds caps; keep the cause for its code and
 * stack but with a redacted message.
 */
function scrubCause(cause: unknown): unknown {
  if (cause instanceof Error) {
    try {
      cause.message = redactCapsInText(cause.message);
      if (typeof cause.stack === 'string') {
        cause.stack = redactCapsInText(cause.stack);
      }
    } catch {
      // a frozen error we cannot clean: better to lose the cause than to leak a cap through it
      return undefined;
    }
  }
  return cause;
}

const MAX_DETAIL = 400;

function truncate(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_DETAIL ? `${oneLine.slice(0, MAX_DETAIL)}…` : oneLine;
}

function decodeEntities(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&amp;/g, '&');
}

/**
 * The useful part of an error body: the `error` of a JSON body, the paragraph of an HTML error page (Twisted's
 * resource errors ignore `Accept: text/plain`), the exception line of a traceback (plus the assert source for
 * assertion failures), or the text itself.
 */
export function summarizeErrorBody(body: string): string {
  const text = body.trim();
  if (text === '') {
    return '(empty body)';
  }
  if (text.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed !== null && typeof parsed === 'object' && typeof (parsed as { error?: unknown }).error === 'string') {
        return truncate((parsed as { error: string }).error);
      }
    } catch {
      // not JSON after all: fall through to the plain-text handling
    }
  }
  if (/^<(?:!doctype|html)/i.test(text)) {
    const paragraph = /<p>([\s\S]*?)<\/p>/i.exec(text) ?? /<title>([\s\S]*?)<\/title>/i.exec(text);
    return truncate(decodeEntities((paragraph?.[1] ?? text).replace(/<[^>]*>/g, ' ')));
  }
  if (text.startsWith('Traceback')) {
    const lines = text.split('\n').map((line) => line.trim());
    const exceptionIndex = findLastIndex(lines, (line) =>
      /^(?:Failure: )?[\w.]+(?:Error|Exception|Failure)\b/.test(line),
    );
    if (exceptionIndex >= 0) {
      const exception = lines[exceptionIndex].replace(/^Failure: /, '');
      const previous = lines[exceptionIndex - 1];
      const assertion = previous?.startsWith('assert ') ? ` (${previous})` : '';
      return truncate(`${exception}${assertion}`);
    }
  }
  return truncate(text);
}

function findLastIndex<T>(items: readonly T[], predicate: (item: T) => boolean): number {
  for (let index = items.length - 1; index >= 0; index -= 1) {
    if (predicate(items[index])) {
      return index;
    }
  }
  return -1;
}

const READ_ONLY_BODY = /read-only cap|NotWriteableError|assert not self\.is_readonly\(\)/;
// The Must* errors are a cap in the wrong slot (a write cap where only read caps may go, a bare unknown cap).
const BAD_CAP_BODY =
  /is not a valid file- or directory- cap|unknown URI type|BadURIError|not a valid cap|MustNotBeUnknownRWError|MustBeReadonlyError|MustBeDeepImmutableError/i;
const UNRECOVERABLE_BODY = /NoSharesError|NotEnoughSharesError|UnrecoverableFileError/;

/** Maps a non-2xx response (status and body text) to the error code it means. */
export function classifyHttpFailure(status: number, body: string): TahoeErrorCode {
  if (status === 404) {
    return 'NOT_FOUND';
  }
  if (status === 409) {
    return 'ALREADY_EXISTS';
  }
  if (status === 410) {
    return 'UNRECOVERABLE';
  }
  if (status === 416) {
    return 'RANGE_NOT_SATISFIABLE';
  }
  if (status >= 400 && status < 500) {
    if (READ_ONLY_BODY.test(body)) {
      return 'READ_ONLY';
    }
    return BAD_CAP_BODY.test(body) ? 'BAD_CAP' : 'BAD_REQUEST';
  }
  if (status === 502 || status === 503 || status === 504) {
    return 'UNAVAILABLE';
  }
  // Tahoe leaves these exceptions unmapped: they arrive as a 500 with a traceback naming the class.
  if (/UploadUnhappinessError|NotEnoughServersError/.test(body)) {
    return 'UNHAPPY_UPLOAD';
  }
  if (/UncoordinatedWriteError/.test(body)) {
    return 'UNCOORDINATED_WRITE';
  }
  if (READ_ONLY_BODY.test(body)) {
    return 'READ_ONLY';
  }
  if (UNRECOVERABLE_BODY.test(body)) {
    return 'UNRECOVERABLE';
  }
  // MDMF's `update` asserts offset <= size (an SDMF write past the end silently lands at EOF instead).
  if (/assert offset <= self\.get_size\(\)/.test(body)) {
    return 'BAD_REQUEST';
  }
  return 'SERVER_ERROR';
}

export function tahoeErrorFromResponse(operation: string, status: number, body: string): TahoeError {
  return new TahoeError({
    code: classifyHttpFailure(status, body),
    operation,
    status,
    detail: summarizeErrorBody(body),
  });
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);

function errorCodeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Maps an error thrown while talking to the node (no HTTP status) to a TahoeError. Aborts by the caller are not
 * failures of Tahoe and are returned unchanged; so are errors that are already TahoeErrors.
 */
export function tahoeErrorFromTransport(operation: string, error: unknown): unknown {
  if (error instanceof TahoeError) {
    return error;
  }
  if (error instanceof BadCapError) {
    return new TahoeError({ code: 'BAD_CAP', operation, detail: error.message, cause: error });
  }
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'AbortError') {
    return error;
  }
  const code = errorCodeOf(error) ?? errorCodeOf((error as { cause?: unknown } | null)?.cause);
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
    return new TahoeError({ code: 'TRUNCATED_BODY', operation, detail: message, cause: error });
  }
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
    return new TahoeError({
      code: 'BAD_REQUEST',
      operation,
      detail: `request body length differs from its declared length (did the file change during upload?): ${message}`,
      cause: error,
    });
  }
  if (code !== undefined && UNAVAILABLE_CODES.has(code)) {
    return new TahoeError({ code: 'UNAVAILABLE', operation, detail: `${code}: ${message}`, cause: error });
  }
  return error;
}
