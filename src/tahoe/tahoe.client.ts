import fs from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { StringDecoder } from 'node:string_decoder';
import { Pool, type Dispatcher } from 'undici';
import { type KnownCap, type KnownCapKind, parseCap, parseKnownCap, redactCapsInText } from './cap.util';
import { TahoeError, tahoeErrorFromResponse, tahoeErrorFromTransport } from './tahoe.errors';
import {
  type GridStatus,
  parseCheckAndRepairResults,
  parseCheckResults,
  parseDirectoryListing,
  parseManifestLine,
  parseNode,
  parseStatistics,
  parseWelcome,
} from './tahoe-json.util';
import type {
  ByteRange,
  CheckAndRepairResults,
  CheckOptions,
  CheckResults,
  ChildSpec,
  LinkOptions,
  ManifestEntry,
  MkdirChildOptions,
  MkdirOptions,
  MutableFormat,
  OffsetWriteOptions,
  ReplaceMode,
  RequestControl,
  TahoeClientLogger,
  TahoeClientOptions,
  TahoeDirectoryListing,
  TahoeNode,
  TahoeReadResult,
  TahoeStatistics,
  UploadOptions,
  UploadSource,
} from './tahoe.types';

type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
type Query = Record<string, string | number | boolean | undefined>;

interface CallSpec extends RequestControl {
  method: HttpMethod;
  path: string;
  query?: Query;
  headers?: Record<string, string>;
  body?: string | Buffer | Readable | null;
  /** Statuses that count as success; anything else becomes a TahoeError. */
  ok?: readonly number[];
}

interface OpenResponse {
  statusCode: number;
  headers: Dispatcher.ResponseData['headers'];
  body: Dispatcher.ResponseData['body'];
  /** Gives the concurrency slot back; idempotent. */
  release: () => void;
}

/** Largest error body kept for classification; tracebacks are a few KiB, HTML pages less. */
const MAX_ERROR_BODY = 64 * 1024;

/** Bounded concurrency: a FIFO of waiters. undici's Pool would queue too, but without a bound on open bodies. */
class Semaphore {
  private available: number;
  private readonly waiters: Array<() => void> = [];

  constructor(size: number) {
    this.available = size;
  }

  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.available > 0) {
      this.available -= 1;
      return this.releaser();
    }
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const waiter = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) {
          this.waiters.splice(index, 1);
        }
        reject(signal?.reason as Error);
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) {
        return;
      }
      released = true;
      const next = this.waiters.shift();
      if (next) {
        next();
      } else {
        this.available += 1;
      }
    };
  }
}

/** RFC 3986 unreserved characters stay; everything else is percent-encoded as UTF-8 (dots too, so "." and ".." stay names). */
function encodeSegment(text: string, operation: string): string {
  try {
    return encodeURIComponent(text).replace(/[!'()*.]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
  } catch {
    throw new TahoeError({ code: 'BAD_REQUEST', operation, detail: 'name is not valid Unicode (lone surrogate)' });
  }
}

function assertChildName(name: string, operation: string): void {
  if (typeof name !== 'string' || name === '') {
    throw new TahoeError({ code: 'BAD_REQUEST', operation, detail: 'child name must be a non-empty string' });
  }
  if (name.includes('/')) {
    throw new TahoeError({ code: 'BAD_REQUEST', operation, detail: 'child name must not contain "/"' });
  }
  // JSON bodies would carry a lone surrogate through and Tahoe would store a name no URL can address.
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(name)) {
    throw new TahoeError({
      code: 'BAD_REQUEST',
      operation,
      detail: 'child name is not valid Unicode (lone surrogate)',
    });
  }
}

// Tahoe's relink/rename handler calls bytes.strip() on from_name and to_name, so " a " would act on "a": refuse.
function assertRelinkName(name: string, operation: string): void {
  assertChildName(name, operation);
  if (/^[ \t\n\r\v\f]|[ \t\n\r\v\f]$/.test(name)) {
    throw new TahoeError({
      code: 'BAD_REQUEST',
      operation,
      detail:
        'Tahoe strips leading/trailing whitespace from relink/rename names; link the new name and unlink the old one instead',
    });
  }
}

function replaceArg(replace: ReplaceMode | undefined): string {
  return replace === 'only-files' ? 'only-files' : replace === true ? 'true' : 'false';
}

function formatArg(format: MutableFormat | undefined): MutableFormat {
  return format ?? 'SDMF';
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Abandons a response body. undici reports destroying an unfinished body as an 'error' event (UND_ERR_ABORTED);
 * nobody is reading it any more, so that event is expected and swallowed.
 */
function discard(body: Dispatcher.ResponseData['body']): void {
  if (!body.destroyed) {
    body.on('error', () => undefined);
    body.destroy();
  }
}

function isReadable(value: unknown): value is Readable {
  return value instanceof Readable;
}

/** Bytes of a request body when known up front (in memory, or streamed with a Content-Length). */
function sentLength(spec: CallSpec): number | undefined {
  if (typeof spec.body === 'string') {
    return Buffer.byteLength(spec.body);
  }
  if (Buffer.isBuffer(spec.body)) {
    return spec.body.length;
  }
  const declared = Number(spec.headers?.['content-length']);
  return Number.isSafeInteger(declared) ? declared : undefined;
}

function childSpecJson(spec: ChildSpec): [string, Record<string, unknown>] {
  const type = spec.type === 'directory' ? 'dirnode' : spec.type === 'unknown' ? 'unknown' : 'filenode';
  const data: Record<string, unknown> = {};
  if (spec.rwUri !== undefined) {
    data.rw_uri = spec.rwUri;
  }
  if (spec.roUri !== undefined) {
    data.ro_uri = spec.roUri;
  }
  if (spec.metadata !== undefined) {
    data.metadata = spec.metadata;
  }
  return [type, data];
}

const MUTABLE_FILE_KINDS: ReadonlySet<KnownCapKind> = new Set<KnownCapKind>(['SSK', 'SSK-RO', 'MDMF', 'MDMF-RO']);

/**
 * The Tahoe web-API client: one keep-alive connection pool to a Tahoe client node, bounded concurrency, timeouts,
 * retries of idempotent reads, and one error type (TahoeError) for every failure. Caps never appear unredacted in
 * errors or logs. Usable without Nest: `new TahoeClient({ url, … })`, then `close()`.
 *
 * Objects are addressed by cap (`/uri/$CAP`), with a child name only for operations on a link, so that no request
 * ever walks a path (one directory fetch per level) or creates intermediate directories as a side effect.
 */
export class TahoeClient {
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly semaphore: Semaphore;
  private readonly logger: TahoeClientLogger | undefined;
  private closed = false;

  constructor(private readonly options: TahoeClientOptions) {
    const url = new URL(options.url);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(url.origin, {
      connections: options.concurrency,
      connectTimeout: options.connectTimeout,
      headersTimeout: options.headersTimeout,
      bodyTimeout: options.bodyTimeout,
      keepAliveTimeout: 30_000,
    });
    this.semaphore = new Semaphore(options.concurrency);
    this.logger = options.logger;
  }

  /** Waits for requests in flight, then closes every connection. */
  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    await this.pool.close();
  }

  // ------------------------------------------------------------------------------------------------ immutable files

  /** Uploads an immutable file (`PUT /uri?format=CHK`); ≤ 55 bytes become a LIT cap. Returns the cap. */
  async upload(source: UploadSource, options: UploadOptions = {}): Promise<string> {
    const operation = 'upload';
    const { body, length } = await this.uploadBody(source, options.length);
    const text = await this.callText(operation, {
      method: 'PUT',
      path: '/uri',
      query: { format: 'CHK' },
      headers: length === undefined ? {} : { 'content-length': String(length) },
      body,
      signal: options.signal,
    });
    return this.expectCap(operation, text, (cap) => cap.kind === 'CHK' || cap.kind === 'LIT');
  }

  /** Uploads a file from disk, streamed (never held whole in memory). */
  async uploadFile(filePath: string, options: RequestControl = {}): Promise<string> {
    return this.upload({ path: filePath }, options);
  }

  // -------------------------------------------------------------------------------------------------- mutable files

  /** Creates a mutable file (`PUT /uri?format=…`, always explicit). Returns its write cap. */
  async createMutable(
    format: MutableFormat,
    initial: UploadSource = Buffer.alloc(0),
    options: UploadOptions = {},
  ): Promise<string> {
    const operation = 'createMutable';
    const { body, length } = await this.uploadBody(initial, options.length);
    const text = await this.callText(operation, {
      method: 'PUT',
      path: '/uri',
      query: { format },
      headers: length === undefined ? {} : { 'content-length': String(length) },
      body,
      signal: options.signal,
    });
    return this.expectCap(operation, text, (cap) => cap.kind === (format === 'MDMF' ? 'MDMF' : 'SSK'));
  }

  /** Replaces the whole content of a mutable file (the only way to shrink one: Tahoe has no truncate). */
  async overwriteMutable(writecap: string, source: UploadSource, options: UploadOptions = {}): Promise<void> {
    const operation = 'overwriteMutable';
    const cap = this.mutableFileCap(operation, writecap);
    const { body, length } = await this.uploadBody(source, options.length);
    await this.callText(operation, {
      method: 'PUT',
      path: this.capPath(cap),
      headers: length === undefined ? {} : { 'content-length': String(length) },
      body,
      signal: options.signal,
    });
  }

  /**
   * Writes `data` at `offset` of a mutable file (`PUT ?offset=`). `offset == size` appends. An offset past the end is
   * refused here with BAD_REQUEST, because Tahoe cannot zero-fill: MDMF fails an assertion and SDMF silently writes
   * at EOF instead. The size check and the write are two requests: callers must serialise writers (as the gateway
   * does with its dirnode/file locks).
   */
  async writeMutableAt(
    writecap: string,
    offset: number,
    data: Uint8Array,
    options: OffsetWriteOptions = {},
  ): Promise<void> {
    const operation = 'writeMutableAt';
    const cap = this.mutableFileCap(operation, writecap);
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new TahoeError({ code: 'BAD_REQUEST', operation, detail: `invalid offset ${String(offset)}` });
    }
    const size = options.currentSize ?? (await this.fileSize(cap.cap, options));
    if (offset > size) {
      throw new TahoeError({
        code: 'BAD_REQUEST',
        operation,
        detail: `offset ${offset} is past the end of the file (${size} bytes); Tahoe cannot write holes, zero-fill first`,
      });
    }
    await this.callText(operation, {
      method: 'PUT',
      path: this.capPath(cap),
      query: { offset },
      headers: { 'content-length': String(data.byteLength) },
      body: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
      signal: options.signal,
    });
  }

  private async fileSize(cap: string, control: RequestControl): Promise<number> {
    const node = await this.getNode(cap, control);
    if (node.type !== 'file' || node.size === undefined) {
      throw new TahoeError({ code: 'SERVER_ERROR', operation: 'fileSize', detail: 'the node reported no file size' });
    }
    return node.size;
  }

  // ----------------------------------------------------------------------------------------------------------- reads

  /**
   * Reads a file, whole or a byte range, as a stream. Failures before the body starts are retried (idempotent); the
   * returned stream checks its byte count against Content-Length and fails with TRUNCATED_BODY when short.
   */
  async read(filecap: string, options: RequestControl & { range?: ByteRange } = {}): Promise<TahoeReadResult> {
    const response = await this.withRetry('read', options.signal, () =>
      this.openRead('read', filecap, options.range, options.signal),
    );
    return this.readResult('read', response);
  }

  /** Reads `length` bytes from `start` into memory (fewer at the end of the file). Retried as a whole when transient. */
  async readRange(filecap: string, start: number, length: number, options: RequestControl = {}): Promise<Buffer> {
    const operation = 'readRange';
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new TahoeError({ code: 'BAD_REQUEST', operation, detail: 'invalid length' });
    }
    if (length === 0) {
      return Buffer.alloc(0);
    }
    return this.withRetry(operation, options.signal, async () => {
      const response = await this.openRead(operation, filecap, { start, end: start + length - 1 }, options.signal);
      return this.collect(this.readResult(operation, response).stream);
    });
  }

  /** Reads a whole (small) file into memory. Retried as a whole when transient. */
  async readAll(filecap: string, options: RequestControl = {}): Promise<Buffer> {
    return this.withRetry('readAll', options.signal, async () => {
      const response = await this.openRead('readAll', filecap, undefined, options.signal);
      return this.collect(this.readResult('readAll', response).stream);
    });
  }

  private async openRead(
    operation: string,
    filecap: string,
    range: ByteRange | undefined,
    signal: AbortSignal | undefined,
  ): Promise<OpenResponse> {
    const cap = this.fileCap(operation, filecap);
    const headers: Record<string, string> = {};
    if (range) {
      const { start, end } = range;
      if (
        !Number.isSafeInteger(start) ||
        start < 0 ||
        (end !== undefined && (!Number.isSafeInteger(end) || end < start))
      ) {
        throw new TahoeError({ code: 'BAD_REQUEST', operation, detail: 'invalid byte range' });
      }
      headers.range = `bytes=${start}-${end ?? ''}`;
    }
    return this.open(operation, { method: 'GET', path: this.capPath(cap), headers, ok: [200, 206], signal });
  }

  private async collect(stream: Readable): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  private readResult(operation: string, response: OpenResponse): TahoeReadResult {
    const lengthHeader = headerValue(response.headers['content-length']);
    const contentLength = lengthHeader === undefined ? NaN : Number(lengthHeader);
    if (!Number.isSafeInteger(contentLength) || contentLength < 0) {
      discard(response.body);
      response.release();
      throw new TahoeError({
        code: 'SERVER_ERROR',
        operation,
        status: response.statusCode,
        detail: 'response has no valid Content-Length',
      });
    }
    let totalSize = contentLength;
    let range: { start: number; end: number } | undefined;
    if (response.statusCode === 206) {
      const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headerValue(response.headers['content-range']) ?? '');
      if (match) {
        range = { start: Number(match[1]), end: Number(match[2]) };
        totalSize = Number(match[3]);
      }
    }
    const stream = this.countedStream(operation, response, contentLength);
    return range ? { stream, contentLength, totalSize, range } : { stream, contentLength, totalSize };
  }

  /** Wraps a response body: counts bytes, maps errors, raises TRUNCATED_BODY when short, frees the slot at the end. */
  private countedStream(operation: string, response: OpenResponse, expected: number | undefined): Readable {
    const { body, release } = response;
    const observeBytes = (count: number): void => this.observeBytes('received', count);
    let received = 0;
    async function* counted(): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of body) {
          received += (chunk as Buffer).length;
          observeBytes((chunk as Buffer).length);
          yield chunk as Buffer;
        }
      } catch (error) {
        if (expected !== undefined && received < expected) {
          throw new TahoeError({
            code: 'TRUNCATED_BODY',
            operation,
            status: response.statusCode,
            detail: `body failed after ${received} of ${expected} bytes`,
            cause: tahoeErrorFromTransport(operation, error),
          });
        }
        throw tahoeErrorFromTransport(operation, error);
      } finally {
        release();
      }
      if (expected !== undefined && received < expected) {
        throw new TahoeError({
          code: 'TRUNCATED_BODY',
          operation,
          status: response.statusCode,
          detail: `body ended after ${received} of ${expected} bytes`,
        });
      }
    }
    const stream = Readable.from(counted(), { objectMode: false });
    // A stream destroyed before it was ever read never runs the generator's finally.
    stream.once('close', () => {
      if (!body.readableEnded) {
        discard(body);
      }
      release();
    });
    return stream;
  }

  // ------------------------------------------------------------------------------------------------------- metadata

  /** `t=json` of any file or directory by cap (no edge metadata: that belongs to a link, see getChild). */
  async getNode(cap: string, options: RequestControl = {}): Promise<TahoeNode> {
    const operation = 'getNode';
    const parsed = this.usableCap(operation, cap);
    return parseNode(
      await this.callJson(operation, {
        method: 'GET',
        path: this.capPath(parsed),
        query: { t: 'json' },
        signal: options.signal,
      }),
    );
  }

  /** `t=json` of a directory's child by name: the node plus the link's metadata. */
  async getChild(dircap: string, name: string, options: RequestControl = {}): Promise<TahoeNode> {
    const operation = 'getChild';
    const parsed = this.dirCap(operation, dircap);
    assertChildName(name, operation);
    const json = await this.callJson(operation, {
      method: 'GET',
      path: this.childPath(parsed, name, operation),
      query: { t: 'json' },
      signal: options.signal,
    });
    return parseNode(json);
  }

  /** The whole listing of a directory in one request (Tahoe has no pagination). */
  async listDirectory(dircap: string, options: RequestControl = {}): Promise<TahoeDirectoryListing> {
    const operation = 'listDirectory';
    const parsed = this.dirCap(operation, dircap);
    const json = await this.callJson(operation, {
      method: 'GET',
      path: this.capPath(parsed),
      query: { t: 'json' },
      signal: options.signal,
    });
    const listing = parseDirectoryListing(json);
    if (!listing) {
      throw new TahoeError({ code: 'SERVER_ERROR', operation, detail: 'the node did not answer with a directory' });
    }
    return listing;
  }

  // ---------------------------------------------------------------------------------------------------- directories

  /** Creates an unlinked empty directory (`POST /uri?t=mkdir&format=…`). Returns its write cap. */
  async mkdir(options: MkdirOptions = {}): Promise<string> {
    const operation = 'mkdir';
    const format = formatArg(options.format);
    const text = await this.callText(operation, {
      method: 'POST',
      path: '/uri',
      query: { t: 'mkdir', format },
      signal: options.signal,
    });
    return this.expectCap(operation, text, (cap) => cap.kind === (format === 'MDMF' ? 'DIR2-MDMF' : 'DIR2'));
  }

  /** Creates an empty directory linked under `name`; with the default `replace: false` an existing name → ALREADY_EXISTS. */
  async mkdirChild(dircap: string, name: string, options: MkdirChildOptions = {}): Promise<string> {
    const operation = 'mkdirChild';
    const parent = this.dirCap(operation, dircap);
    assertChildName(name, operation);
    const text = await this.callText(operation, {
      method: 'POST',
      path: this.capPath(parent),
      query: { t: 'mkdir', name, format: formatArg(options.format), replace: replaceArg(options.replace) },
      signal: options.signal,
    });
    return this.expectCap(operation, text, (cap) => cap.kind === 'DIR2' || cap.kind === 'DIR2-MDMF');
  }

  /**
   * Creates an unlinked directory with its children in one publish. Always SDMF: Tahoe ignores `format=` on the
   * unlinked form (use mkdirChildWithChildren for MDMF).
   */
  async mkdirWithChildren(
    children: ReadonlyMap<string, ChildSpec> | Record<string, ChildSpec>,
    options: RequestControl = {},
  ): Promise<string> {
    const operation = 'mkdirWithChildren';
    const text = await this.callText(operation, {
      method: 'POST',
      path: '/uri',
      query: { t: 'mkdir-with-children' },
      headers: { 'content-type': 'application/json' },
      body: this.childrenBody(operation, children),
      signal: options.signal,
    });
    return this.expectCap(operation, text, (cap) => cap.kind === 'DIR2');
  }

  /** Creates a directory with children, linked under `name` (an existing name is always ALREADY_EXISTS here). */
  async mkdirChildWithChildren(
    dircap: string,
    name: string,
    children: ReadonlyMap<string, ChildSpec> | Record<string, ChildSpec>,
    options: MkdirOptions = {},
  ): Promise<string> {
    const operation = 'mkdirChildWithChildren';
    const parent = this.dirCap(operation, dircap);
    assertChildName(name, operation);
    const text = await this.callText(operation, {
      method: 'POST',
      path: this.capPath(parent),
      query: { t: 'mkdir-with-children', name, format: formatArg(options.format) },
      headers: { 'content-type': 'application/json' },
      body: this.childrenBody(operation, children),
      signal: options.signal,
    });
    return this.expectCap(operation, text, (cap) => cap.kind === 'DIR2' || cap.kind === 'DIR2-MDMF');
  }

  /** Links an existing cap under `name` (`PUT …/NAME?t=uri`). Metadata cannot be set this way: use setChildren. */
  async link(dircap: string, name: string, childcap: string, options: LinkOptions = {}): Promise<void> {
    const operation = 'link';
    const parent = this.dirCap(operation, dircap);
    assertChildName(name, operation);
    this.linkableCap(operation, childcap);
    await this.callText(operation, {
      method: 'PUT',
      path: this.childPath(parent, name, operation),
      query: { t: 'uri', replace: replaceArg(options.replace) },
      body: childcap,
      signal: options.signal,
    });
  }

  /**
   * Adds or replaces several links in one directory publish (atomic as a version). Tahoe reads `replace=` here (the
   * docs say `overwrite=`, which the code ignores). An entry without `metadata` keeps the existing link's metadata.
   */
  async setChildren(
    dircap: string,
    children: ReadonlyMap<string, ChildSpec> | Record<string, ChildSpec>,
    options: LinkOptions = {},
  ): Promise<void> {
    const operation = 'setChildren';
    const parent = this.dirCap(operation, dircap);
    const body = this.childrenBody(operation, children);
    if (body === '{}') {
      return;
    }
    await this.callText(operation, {
      method: 'POST',
      path: this.capPath(parent),
      query: { t: 'set_children', replace: replaceArg(options.replace) },
      headers: { 'content-type': 'application/json' },
      body,
      signal: options.signal,
    });
  }

  /** Removes the link `name` (the object itself survives until garbage collection). Returns the removed child's cap. */
  async unlink(dircap: string, name: string, options: RequestControl = {}): Promise<string> {
    const operation = 'unlink';
    const parent = this.dirCap(operation, dircap);
    assertChildName(name, operation);
    // Tahoe answers a DELETE through a read-only dircap with a bare 501 "I don't know how to treat a DELETE
    // request", which says nothing about why: refuse it here with the real reason.
    if (parent.access !== 'write') {
      throw new TahoeError({
        code: 'READ_ONLY',
        operation,
        detail: `cannot unlink through a read-only URI:${parent.kind} cap`,
      });
    }
    const text = await this.callText(operation, {
      method: 'DELETE',
      path: this.childPath(parent, name, operation),
      signal: options.signal,
    });
    return text.trim();
  }

  /** Renames a link within one directory (`t=rename`). Not atomic in Tahoe: the new link is added, then the old removed. */
  async rename(dircap: string, fromName: string, toName: string, options: LinkOptions = {}): Promise<void> {
    const operation = 'rename';
    const parent = this.dirCap(operation, dircap);
    assertRelinkName(fromName, operation);
    assertRelinkName(toName, operation);
    await this.callText(operation, {
      method: 'POST',
      path: this.capPath(parent),
      query: { t: 'rename', from_name: fromName, to_name: toName, replace: replaceArg(options.replace) },
      signal: options.signal,
    });
  }

  /** Moves a link to another directory, keeping its metadata (`t=relink`). Two publishes: add, then remove. */
  async relink(
    fromDircap: string,
    fromName: string,
    toDircap: string,
    toName: string = fromName,
    options: LinkOptions = {},
  ): Promise<void> {
    const operation = 'relink';
    const parent = this.dirCap(operation, fromDircap);
    const target = this.dirCap(operation, toDircap);
    assertRelinkName(fromName, operation);
    assertRelinkName(toName, operation);
    await this.callText(operation, {
      method: 'POST',
      path: this.capPath(parent),
      query: {
        t: 'relink',
        from_name: fromName,
        to_dir: target.bareCap,
        to_name: toName,
        replace: replaceArg(options.replace),
      },
      signal: options.signal,
    });
  }

  // --------------------------------------------------------------------------------------------- check and manifest

  /** Checks an object's shares (cheap: one query per server; `verify` downloads them all). Retried when transient. */
  async check(cap: string, options: CheckOptions = {}): Promise<CheckResults> {
    const operation = 'check';
    const parsed = this.usableCap(operation, cap);
    const json = await this.callJson(operation, {
      method: 'POST',
      path: this.capPath(parsed),
      query: {
        t: 'check',
        output: 'JSON',
        verify: options.verify ? 'true' : undefined,
        'add-lease': options.addLease ? 'true' : undefined,
      },
      signal: options.signal,
    });
    return parseCheckResults(json);
  }

  /** Checks and repairs if needed. Not retried: a repair is a write. */
  async checkAndRepair(cap: string, options: CheckOptions = {}): Promise<CheckAndRepairResults> {
    const operation = 'checkAndRepair';
    const parsed = this.usableCap(operation, cap);
    const json = await this.callJson(
      operation,
      {
        method: 'POST',
        path: this.capPath(parsed),
        query: {
          t: 'check',
          repair: 'true',
          output: 'JSON',
          verify: options.verify ? 'true' : undefined,
          'add-lease': options.addLease ? 'true' : undefined,
        },
        signal: options.signal,
      },
      false,
    );
    return parseCheckAndRepairResults(json);
  }

  /**
   * Walks a directory tree (`t=stream-manifest`), yielding entries as their lines arrive; the last one is `stats`.
   * Stopping the iteration closes the connection, which cancels the walk. A walk that Tahoe aborts (its "ERROR:"
   * line, typically an unrecoverable directory) fails with UNRECOVERABLE.
   */
  async *streamManifest(dircap: string, options: RequestControl = {}): AsyncGenerator<ManifestEntry> {
    const operation = 'streamManifest';
    const parsed = this.dirCap(operation, dircap);
    const response = await this.withRetry(operation, options.signal, () =>
      this.open(operation, {
        method: 'POST',
        path: this.capPath(parsed),
        query: { t: 'stream-manifest' },
        signal: options.signal,
      }),
    );
    const decoder = new StringDecoder('utf8');
    let pending = '';
    try {
      for await (const chunk of response.body) {
        pending += decoder.write(chunk as Buffer);
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line.startsWith('ERROR:')) {
            throw new TahoeError({ code: 'UNRECOVERABLE', operation, detail: `${line} ${pending.slice(0, 300)}` });
          }
          const entry = line === '' ? undefined : parseManifestLine(line);
          if (entry) {
            yield entry;
          }
          newline = pending.indexOf('\n');
        }
      }
      const last = (pending + decoder.end()).trim();
      if (last.startsWith('ERROR:')) {
        throw new TahoeError({ code: 'UNRECOVERABLE', operation, detail: last.slice(0, 300) });
      }
      const entry = last === '' ? undefined : parseManifestLine(last);
      if (entry) {
        yield entry;
      }
    } catch (error) {
      throw tahoeErrorFromTransport(operation, error);
    } finally {
      discard(response.body);
      response.release();
    }
  }

  // ---------------------------------------------------------------------------------------------------- node status

  /** The client node's view of the grid (`GET /?t=json`). */
  async gridStatus(options: RequestControl = {}): Promise<GridStatus> {
    return parseWelcome(
      await this.callJson('gridStatus', { method: 'GET', path: '/', query: { t: 'json' }, signal: options.signal }),
    );
  }

  /** Node counters and stats (`GET /statistics?t=json`). */
  async statistics(options: RequestControl = {}): Promise<TahoeStatistics> {
    return parseStatistics(
      await this.callJson('statistics', {
        method: 'GET',
        path: '/statistics',
        query: { t: 'json' },
        signal: options.signal,
      }),
    );
  }

  // ------------------------------------------------------------------------------------------------------ internals

  private capError(operation: string, error: unknown): never {
    throw tahoeErrorFromTransport(operation, error);
  }

  /** A known cap that the web API can address: not a verify cap (Tahoe answers those with a 500 or a 405). */
  private usableCap(operation: string, cap: string): KnownCap {
    let parsed: KnownCap;
    try {
      parsed = parseKnownCap(cap);
    } catch (error) {
      this.capError(operation, error);
    }
    if (parsed.access === 'verify') {
      throw new TahoeError({
        code: 'BAD_CAP',
        operation,
        detail: `a URI:${parsed.kind} cap cannot be used through the web API`,
      });
    }
    return parsed;
  }

  private dirCap(operation: string, cap: string): KnownCap {
    const parsed = this.usableCap(operation, cap);
    if (!parsed.isDirectory) {
      throw new TahoeError({ code: 'BAD_CAP', operation, detail: `expected a directory cap, got URI:${parsed.kind}` });
    }
    return parsed;
  }

  private fileCap(operation: string, cap: string): KnownCap {
    const parsed = this.usableCap(operation, cap);
    if (parsed.isDirectory) {
      throw new TahoeError({ code: 'BAD_CAP', operation, detail: `expected a file cap, got URI:${parsed.kind}` });
    }
    return parsed;
  }

  /** Read-only mutable caps pass: Tahoe itself refuses the write, and that answer maps to READ_ONLY. */
  private mutableFileCap(operation: string, cap: string): KnownCap {
    const parsed = this.fileCap(operation, cap);
    if (!MUTABLE_FILE_KINDS.has(parsed.kind)) {
      throw new TahoeError({
        code: 'BAD_CAP',
        operation,
        detail: `expected a mutable file cap, got URI:${parsed.kind}`,
      });
    }
    return parsed;
  }

  /** Any cap a directory may hold, unknown formats included (Tahoe keeps those as they are). */
  private linkableCap(operation: string, cap: string): void {
    try {
      parseCap(cap);
    } catch (error) {
      this.capError(operation, error);
    }
  }

  private capPath(cap: KnownCap): string {
    return `/uri/${encodeSegment(cap.bareCap, 'capPath')}`;
  }

  private childPath(parent: KnownCap, name: string, operation: string): string {
    return `${this.capPath(parent)}/${encodeSegment(name, operation)}`;
  }

  private childrenBody(
    operation: string,
    children: ReadonlyMap<string, ChildSpec> | Record<string, ChildSpec>,
  ): string {
    // A null-prototype object, so that a child named "__proto__" is a key like any other.
    const body = Object.create(null) as Record<string, unknown>;
    const entries: [string, ChildSpec][] =
      children instanceof Map
        ? [...(children as ReadonlyMap<string, ChildSpec>).entries()]
        : Object.entries(children as Record<string, ChildSpec>);
    for (const [name, spec] of entries) {
      assertChildName(name, operation);
      if (spec.rwUri === undefined && spec.roUri === undefined) {
        throw new TahoeError({ code: 'BAD_REQUEST', operation, detail: 'each child needs rwUri or roUri' });
      }
      for (const cap of [spec.rwUri, spec.roUri]) {
        if (cap !== undefined) {
          this.linkableCap(operation, cap);
        }
      }
      body[name] = childSpecJson(spec);
    }
    return JSON.stringify(body);
  }

  private expectCap(operation: string, text: string, accept: (cap: KnownCap) => boolean): string {
    const cap = text.trim();
    const parsed = (() => {
      try {
        return parseKnownCap(cap);
      } catch {
        return undefined;
      }
    })();
    if (!parsed || !accept(parsed)) {
      throw new TahoeError({
        code: 'SERVER_ERROR',
        operation,
        detail: `unexpected answer instead of a cap: ${cap.slice(0, 200)}`,
      });
    }
    return cap;
  }

  private async uploadBody(
    source: UploadSource,
    length: number | undefined,
  ): Promise<{ body: Buffer | Readable; length?: number }> {
    if (source instanceof Uint8Array) {
      return { body: Buffer.from(source.buffer, source.byteOffset, source.byteLength), length: source.byteLength };
    }
    if (isReadable(source)) {
      return length === undefined ? { body: source } : { body: source, length };
    }
    if ('path' in source) {
      // Opened before the request so that a missing file fails here, as an fs error, not as a Tahoe one.
      const handle = await fs.promises.open(source.path, 'r');
      try {
        const { size } = await handle.stat();
        // 64 KiB reads: with 1 MiB buffers glibc soon serves them from the heap instead of mmap and keeps the memory,
        // which measured as ~30 MiB of extra RSS per large upload; throughput on loopback is the same.
        return { body: handle.createReadStream({ highWaterMark: 64 * 1024 }), length: size };
      } catch (error) {
        await handle.close();
        throw error;
      }
    }
    const stream = Readable.from(source, { objectMode: false });
    return length === undefined ? { body: stream } : { body: stream, length };
  }

  private buildPath(path: string, query: Query | undefined): string {
    let full = `${this.basePath}${path}`;
    const parts: string[] = [];
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) {
        parts.push(`${encodeSegment(key, 'query')}=${encodeSegment(String(value), 'query')}`);
      }
    }
    if (parts.length > 0) {
      full += `?${parts.join('&')}`;
    }
    return full;
  }

  /** Sends a request and returns the open response (body unread) holding a concurrency slot. */
  private async open(operation: string, spec: CallSpec): Promise<OpenResponse> {
    if (this.closed) {
      throw new TahoeError({ code: 'UNAVAILABLE', operation, detail: 'the Tahoe client is closed' });
    }
    let release: () => void;
    try {
      release = await this.semaphore.acquire(spec.signal);
    } catch (error) {
      if (isReadable(spec.body)) {
        spec.body.destroy();
      }
      throw error;
    }
    const path = this.buildPath(spec.path, spec.query);
    const started = Date.now();
    let response: Dispatcher.ResponseData;
    try {
      response = await this.pool.request({
        method: spec.method,
        path,
        headers: { accept: 'text/plain', ...spec.headers },
        body: spec.body ?? null,
        signal: spec.signal,
      });
    } catch (error) {
      release();
      if (isReadable(spec.body) && !spec.body.destroyed) {
        spec.body.destroy();
      }
      this.logger?.debug(`${spec.method} ${redactCapsInText(path)} failed after ${Date.now() - started} ms`);
      const mapped = tahoeErrorFromTransport(operation, error);
      this.observe(operation, mapped instanceof TahoeError ? mapped.code : String((mapped as Error).name), started);
      throw mapped;
    }
    this.logger?.debug(
      `${spec.method} ${redactCapsInText(path)} → ${response.statusCode} in ${Date.now() - started} ms`,
    );
    this.observe(operation, String(response.statusCode), started);
    this.observeBytes('sent', sentLength(spec));
    const ok = spec.ok ?? [200, 201];
    if (!ok.includes(response.statusCode)) {
      const text = await this.readErrorBody(response.body);
      release();
      throw tahoeErrorFromResponse(operation, response.statusCode, text);
    }
    return { statusCode: response.statusCode, headers: response.headers, body: response.body, release };
  }

  private observe(operation: string, status: string, started: number): void {
    try {
      this.options.observer?.request({ operation, status, durationMs: Date.now() - started });
    } catch {
      // Metrics must never fail a request.
    }
  }

  private observeBytes(direction: 'sent' | 'received', count: number | undefined): void {
    try {
      if (count !== undefined && count > 0) {
        this.options.observer?.bytes(direction, count);
      }
    } catch {
      // Metrics must never fail a request.
    }
  }

  private async readErrorBody(body: Dispatcher.ResponseData['body']): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body) {
        const buffer = chunk as Buffer;
        chunks.push(buffer);
        size += buffer.length;
        if (size >= MAX_ERROR_BODY) {
          break;
        }
      }
    } catch {
      // the status already says it failed; a broken error body only loses detail
    } finally {
      discard(body);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** A complete request whose body is read as text (checked against Content-Length by undici). */
  private async call(operation: string, spec: CallSpec): Promise<string> {
    const response = await this.open(operation, spec);
    const lengthHeader = headerValue(response.headers['content-length']);
    const expected = lengthHeader === undefined ? undefined : Number(lengthHeader);
    const bytes = await this.collect(
      this.countedStream(operation, response, Number.isSafeInteger(expected) ? expected : undefined),
    );
    return bytes.toString('utf8');
  }

  /** GET/HEAD (and the read-only POSTs flagged by the caller) retry; every write is sent exactly once. */
  private async callText(
    operation: string,
    spec: CallSpec,
    idempotent = spec.method === 'GET' || spec.method === 'HEAD',
  ): Promise<string> {
    return idempotent
      ? this.withRetry(operation, spec.signal, () => this.call(operation, spec))
      : this.call(operation, spec);
  }

  private async callJson(operation: string, spec: CallSpec, idempotent = true): Promise<unknown> {
    const text = await this.callText(operation, spec, idempotent);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new TahoeError({ code: 'SERVER_ERROR', operation, detail: `unparseable JSON: ${text.slice(0, 200)}` });
    }
  }

  private async withRetry<T>(
    operation: string,
    signal: AbortSignal | undefined,
    attempt: () => Promise<T>,
  ): Promise<T> {
    const base = this.options.retryBaseDelay ?? 250;
    const max = this.options.retryMaxDelay ?? 5000;
    for (let tries = 0; ; tries += 1) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof TahoeError) || !error.retryable || tries >= this.options.retries || this.closed) {
          throw error;
        }
        const wait = Math.min(max, base * 2 ** tries) * (0.5 + Math.random() / 2);
        this.logger?.warn(
          `${operation}: ${error.code}, retry ${tries + 1}/${this.options.retries} in ${Math.round(wait)} ms`,
        );
        await delay(wait, undefined, { signal });
      }
    }
  }
}
