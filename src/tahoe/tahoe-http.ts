import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { Pool, type Dispatcher } from 'undici';
import { redactCapsInText } from './cap.util';
import { TahoeError, tahoeErrorFromResponse, tahoeErrorFromTransport } from './tahoe.errors';
import type { RequestControl, TahoeClientLogger, TahoeClientOptions } from './tahoe.types';

type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
type Query = Record<string, string | number | boolean | undefined>;

export interface CallSpec extends RequestControl {
  method: HttpMethod;
  path: string;
  query?: Query;
  headers?: Record<string, string>;
  body?: string | Buffer | Readable | null;
  /** Statuses that count as success; anything else becomes a TahoeError. */
  ok?: readonly number[];
}

export interface OpenResponse {
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
export function encodeSegment(text: string, operation: string): string {
  try {
    return encodeURIComponent(text).replace(/[!'()*.]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
  } catch {
    throw new TahoeError({ code: 'BAD_REQUEST', operation, detail: 'name is not valid Unicode (lone surrogate)' });
  }
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Abandons a response body. undici reports destroying an unfinished body as an 'error' event (UND_ERR_ABORTED);
 * nobody is reading it any more, so that event is expected and swallowed.
 */
export function discard(body: Dispatcher.ResponseData['body']): void {
  if (!body.destroyed) {
    body.on('error', () => undefined);
    body.destroy();
  }
}

export function isReadable(value: unknown): value is Readable {
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

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The transport under TahoeClient: one keep-alive connection pool to the client node, the concurrency bound, request
 * building, error mapping, retries with backoff, and the observer's metrics. It knows nothing of caps or operations
 * beyond their names; the operation groups (tahoe-files.ts, tahoe-directories.ts, tahoe-checks.ts) send through it.
 */
export class TahoeHttp {
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
  async open(operation: string, spec: CallSpec): Promise<OpenResponse> {
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
    const bytes = await collect(
      this.countedStream(operation, response, Number.isSafeInteger(expected) ? expected : undefined),
    );
    return bytes.toString('utf8');
  }

  /** GET/HEAD (and the read-only POSTs flagged by the caller) retry; every write is sent exactly once. */
  async callText(
    operation: string,
    spec: CallSpec,
    idempotent = spec.method === 'GET' || spec.method === 'HEAD',
  ): Promise<string> {
    return idempotent
      ? this.withRetry(operation, spec.signal, () => this.call(operation, spec))
      : this.call(operation, spec);
  }

  async callJson(operation: string, spec: CallSpec, idempotent = true): Promise<unknown> {
    const text = await this.callText(operation, spec, idempotent);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new TahoeError({ code: 'SERVER_ERROR', operation, detail: `unparseable JSON: ${text.slice(0, 200)}` });
    }
  }

  async withRetry<T>(operation: string, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
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

  /** Wraps a response body: counts bytes, maps errors, raises TRUNCATED_BODY when short, frees the slot at the end. */
  countedStream(operation: string, response: OpenResponse, expected: number | undefined): Readable {
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
}
