import fs from 'node:fs';
import { Readable } from 'node:stream';
import { TahoeError } from './tahoe.errors';
import { capPath, expectCap, fileCap, mutableFileCap } from './tahoe-addressing';
import { collect, discard, headerValue, isReadable, type OpenResponse, type TahoeHttp } from './tahoe-http';
import type {
  ByteRange,
  MutableFormat,
  OffsetWriteOptions,
  RequestControl,
  TahoeNode,
  TahoeReadResult,
  UploadOptions,
  UploadSource,
} from './tahoe.types';

/** How the files part learns a mutable file's size: TahoeClient.getNode, so that a subclass's override is the one asked. */
export type NodeLookup = (cap: string, control: RequestControl) => Promise<TahoeNode>;

/**
 * File operations of TahoeClient (which documents each one): immutable uploads, mutable files and reads, with the
 * request bodies they stream and the read responses they check.
 */
export class TahoeFiles {
  constructor(
    private readonly http: TahoeHttp,
    private readonly getNode: NodeLookup,
  ) {}

  // ------------------------------------------------------------------------------------------------ immutable files

  async upload(source: UploadSource, options: UploadOptions): Promise<string> {
    const operation = 'upload';
    const { body, length } = await this.uploadBody(source, options.length);
    const text = await this.http.callText(operation, {
      method: 'PUT',
      path: '/uri',
      query: { format: 'CHK' },
      headers: length === undefined ? {} : { 'content-length': String(length) },
      body,
      signal: options.signal,
    });
    return expectCap(operation, text, (cap) => cap.kind === 'CHK' || cap.kind === 'LIT');
  }

  // -------------------------------------------------------------------------------------------------- mutable files

  async createMutable(format: MutableFormat, initial: UploadSource, options: UploadOptions): Promise<string> {
    const operation = 'createMutable';
    const { body, length } = await this.uploadBody(initial, options.length);
    const text = await this.http.callText(operation, {
      method: 'PUT',
      path: '/uri',
      query: { format },
      headers: length === undefined ? {} : { 'content-length': String(length) },
      body,
      signal: options.signal,
    });
    return expectCap(operation, text, (cap) => cap.kind === (format === 'MDMF' ? 'MDMF' : 'SSK'));
  }

  async overwriteMutable(writecap: string, source: UploadSource, options: UploadOptions): Promise<void> {
    const operation = 'overwriteMutable';
    const cap = mutableFileCap(operation, writecap);
    const { body, length } = await this.uploadBody(source, options.length);
    await this.http.callText(operation, {
      method: 'PUT',
      path: capPath(cap),
      headers: length === undefined ? {} : { 'content-length': String(length) },
      body,
      signal: options.signal,
    });
  }

  async writeMutableAt(writecap: string, offset: number, data: Uint8Array, options: OffsetWriteOptions): Promise<void> {
    const operation = 'writeMutableAt';
    const cap = mutableFileCap(operation, writecap);
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
    await this.http.callText(operation, {
      method: 'PUT',
      path: capPath(cap),
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

  async read(filecap: string, options: RequestControl & { range?: ByteRange }): Promise<TahoeReadResult> {
    const response = await this.http.withRetry('read', options.signal, () =>
      this.openRead('read', filecap, options.range, options.signal),
    );
    return this.readResult('read', response);
  }

  async readRange(filecap: string, start: number, length: number, options: RequestControl): Promise<Buffer> {
    const operation = 'readRange';
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new TahoeError({ code: 'BAD_REQUEST', operation, detail: 'invalid length' });
    }
    if (length === 0) {
      return Buffer.alloc(0);
    }
    return this.http.withRetry(operation, options.signal, async () => {
      const response = await this.openRead(operation, filecap, { start, end: start + length - 1 }, options.signal);
      return collect(this.readResult(operation, response).stream);
    });
  }

  async readAll(filecap: string, options: RequestControl): Promise<Buffer> {
    return this.http.withRetry('readAll', options.signal, async () => {
      const response = await this.openRead('readAll', filecap, undefined, options.signal);
      return collect(this.readResult('readAll', response).stream);
    });
  }

  private async openRead(
    operation: string,
    filecap: string,
    range: ByteRange | undefined,
    signal: AbortSignal | undefined,
  ): Promise<OpenResponse> {
    const cap = fileCap(operation, filecap);
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
    return this.http.open(operation, { method: 'GET', path: capPath(cap), headers, ok: [200, 206], signal });
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
    const stream = this.http.countedStream(operation, response, contentLength);
    return range ? { stream, contentLength, totalSize, range } : { stream, contentLength, totalSize };
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
}
