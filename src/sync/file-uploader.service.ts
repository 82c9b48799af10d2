import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import type { BlockCache, BlockFetcher } from '../cache/block-cache';
import type { SyncInode } from '../metadata/sync-journal';
import { LIT_MAX_BYTES, litCapOf } from '../tahoe/cap.util';
import type { TahoeClient } from '../tahoe/tahoe.client';
import { type ContentUpload, SameContentUploads } from './same-content-uploads';

export interface FileUpload {
  cap: string;
  bytes: number;
  /** The cache's write generation of the file when the upload started: unchanged at the end means no write raced. */
  generation: number;
  /** The blocks that were dirty when the upload started. */
  dirtyBlocks: number[];
}

/**
 * An upload refused because the file's dirty content was written through another gateway: its bytes are in that
 * gateway's block cache, and this one would send what its own cache has instead (holes, stale blocks: zeros in Tahoe).
 */
export class ForeignDirtyContentError extends Error {
  constructor(
    readonly ino: number,
    readonly owner: string,
    readonly cacheOwner: string | null,
  ) {
    super(
      `inode ${ino}: its unsynced content is in the cache of the gateway with data directory id ${owner}, ` +
        `not in this one's (${cacheOwner ?? 'none'}); not uploaded from here: it stays dirty until that gateway ` +
        'uploads it',
    );
    this.name = 'ForeignDirtyContentError';
  }
}

/** Blocks read from the cache ahead of the one the request is sending (see FileUploader). */
export const UPLOAD_READ_AHEAD_BLOCKS = 4;

/**
 * Uploads a file's content as a Tahoe immutable file (CHK, or LIT up to 55 bytes), streamed from the block cache:
 * the body reads up to UPLOAD_READ_AHEAD_BLOCKS blocks ahead of the one being sent, so that the client node's encoder
 * never waits for our disk (one block at a time, each read only once the previous one had gone out, left it idle
 * between blocks), while memory stays at a few blocks per upload whatever the file's size. Holes read as zeros; clean
 * blocks the cache evicted come from `fetcher` (the file's previous cap, cut at the cache's hole floor).
 *
 * Identical content uploading at the same time is sent once (SameContentUploads): the others take its cap.
 *
 * An upload never sends bytes the file no longer has: once the file changes (a write, a truncate: its cache write
 * generation moves), the next block is not sent, the request is aborted and `upload` answers undefined. Such an
 * upload could not have been recorded anyway.
 */
export class FileUploader {
  private readonly logger = new Logger(FileUploader.name);
  private readonly sameContent = new SameContentUploads();
  private sharedCount = 0;

  /**
   * `cacheOwner`: this gateway's data-directory id. Dirty content owned by another is refused here, where every
   * upload starts, whatever queued it; content with no recorded owner (rows from before owners were kept) counts
   * as this gateway's.
   */
  constructor(
    private readonly cache: BlockCache,
    private readonly tahoe: TahoeClient,
    private readonly fetcher?: (ino: number) => BlockFetcher,
    private readonly cacheOwner: string | null = null,
  ) {}

  /** Uploads that took the cap of an identical upload running beside them instead of a PUT of their own. */
  get sharedUploads(): number {
    return this.sharedCount;
  }

  /** The upload, or undefined when the file changed while it ran (nothing of what changed was sent). */
  async upload(inode: SyncInode, signal?: AbortSignal): Promise<FileUpload | undefined> {
    if (inode.dirtyOwner !== null && inode.dirtyOwner !== this.cacheOwner) {
      const refusal = new ForeignDirtyContentError(inode.ino, inode.dirtyOwner, this.cacheOwner);
      this.logger.error(refusal.message);
      throw refusal;
    }
    const generation = this.cache.writeGeneration(inode.ino);
    const size = inode.size;
    // Only blocks this upload holds whole may become clean after it: `size` is the journal's, and a write that
    // extended the file may be in the cache already but not yet recorded there.
    const dirtyBlocks = this.cache.dirtyBlocks(inode.ino, size);
    const superseded = new AbortController();
    const content = new UploadContent(this.cache, inode.ino, size, generation, superseded, this.fetcher?.(inode.ino));
    try {
      if (size <= LIT_MAX_BYTES) {
        // What Tahoe would answer, without asking it: small files (and empty ones) are common.
        const data = await content.whole();
        return { cap: litCapOf(data)!, bytes: size, generation, dirtyBlocks };
      }
      const first = await content.firstBlock();
      const firstDigest = sha256(first);
      const wholeInFirst = first.length === size;
      let fullDigest: Promise<string> | undefined;
      const result = await this.sameContent.run(
        `${size}:${firstDigest}`,
        () => (fullDigest ??= wholeInFirst ? Promise.resolve(firstDigest) : content.digest()),
        () => this.put(content, signal, superseded),
        signal,
      );
      if (result === undefined) {
        return undefined;
      }
      if (result.shared) {
        this.sharedCount += 1;
        this.logger.debug(`inode ${inode.ino}: same content as an upload running beside it, its cap reused`);
      }
      return { cap: result.cap, bytes: size, generation, dirtyBlocks };
    } catch (error) {
      if (superseded.signal.aborted && !signal?.aborted) {
        return undefined;
      }
      throw error;
    }
  }

  private async put(
    content: UploadContent,
    signal: AbortSignal | undefined,
    superseded: AbortController,
  ): Promise<ContentUpload | undefined> {
    const body = Readable.from(content.stream(), {
      objectMode: false,
      // One block waits in the stream for the socket; the reader keeps the next ones coming.
      highWaterMark: this.cache.blockSize,
    });
    try {
      const cap = await this.tahoe.upload(body, {
        length: content.size,
        signal: signal ? AbortSignal.any([signal, superseded.signal]) : superseded.signal,
      });
      let digest: Promise<string | undefined> | undefined;
      return { cap, digest: () => (digest ??= content.digestIfUnchanged()) };
    } catch (error) {
      if (superseded.signal.aborted && !signal?.aborted) {
        return undefined;
      }
      throw error;
    }
  }
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * One upload's view of a file's cached content at one write generation: blocks in order, read ahead, each checked
 * against the generation before it is handed out (a read that began before a truncate may return bytes the truncate
 * then removed).
 */
class UploadContent {
  private first: Buffer | undefined;

  constructor(
    private readonly cache: BlockCache,
    private readonly ino: number,
    readonly size: number,
    private readonly generation: number,
    private readonly superseded: AbortController,
    private readonly fetcher: BlockFetcher | undefined,
  ) {}

  async whole(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const block of this.blocks()) {
      parts.push(block);
    }
    return Buffer.concat(parts);
  }

  async firstBlock(): Promise<Buffer> {
    this.first ??= await this.checked(this.readBlock(0));
    return this.first;
  }

  /** The SHA-256 of the whole content, read from the cache (without the read-ahead: nothing waits on it). */
  async digest(): Promise<string> {
    const hash = createHash('sha256');
    for await (const block of this.blocks(1)) {
      hash.update(block);
    }
    return hash.digest('hex');
  }

  /** The digest of the content as it is at this upload's generation; undefined once the file changed. */
  async digestIfUnchanged(): Promise<string | undefined> {
    if (this.cache.writeGeneration(this.ino) !== this.generation) {
      return undefined;
    }
    try {
      return await this.digest();
    } catch (error) {
      if (error instanceof FileChangedDuringUpload) {
        return undefined;
      }
      throw error;
    }
  }

  /** The blocks to send. */
  stream(): AsyncGenerator<Buffer> {
    return this.blocks(UPLOAD_READ_AHEAD_BLOCKS);
  }

  private async *blocks(readAhead = 1): AsyncGenerator<Buffer> {
    const blockSize = this.cache.blockSize;
    const count = Math.ceil(this.size / blockSize);
    const reads: Promise<Buffer>[] = [];
    let next = 0;
    for (let index = 0; index < count; index += 1) {
      while (next < count && next < index + readAhead) {
        this.stopIfChanged();
        const read = next === 0 && this.first !== undefined ? Promise.resolve(this.first) : this.readBlock(next);
        // Awaited in turn below; a read ahead that fails after the upload stopped must not go unhandled.
        read.catch(() => undefined);
        reads.push(read);
        next += 1;
      }
      yield await this.checked(reads.shift()!);
    }
  }

  private readBlock(index: number): Promise<Buffer> {
    const blockSize = this.cache.blockSize;
    const offset = index * blockSize;
    return this.cache.read(this.ino, offset, Math.min(blockSize, this.size - offset), this.size, this.fetcher);
  }

  private async checked(read: Promise<Buffer>): Promise<Buffer> {
    this.stopIfChanged();
    const block = await read;
    this.stopIfChanged();
    return block;
  }

  private stopIfChanged(): void {
    if (this.cache.writeGeneration(this.ino) !== this.generation) {
      const changed = new FileChangedDuringUpload(this.ino);
      this.superseded.abort(changed);
      throw changed;
    }
  }
}

/** The file was written or truncated while its upload ran: the upload stops without sending what changed. */
export class FileChangedDuringUpload extends Error {
  constructor(readonly ino: number) {
    super(`inode ${ino} changed during its upload`);
  }
}
