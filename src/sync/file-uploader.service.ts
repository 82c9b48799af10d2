import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import type { BlockCache, BlockFetcher } from '../cache/block-cache';
import type { SyncInode } from '../metadata/sync-journal';
import { LIT_MAX_BYTES, litCapOf } from '../tahoe/cap.util';
import type { TahoeClient } from '../tahoe/tahoe.client';

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

/**
 * Uploads a file's content as a Tahoe immutable file (CHK, or LIT up to 55 bytes), streamed from the block cache one
 * block at a time: the body is a Readable that reads the next block only when the request has sent the previous
 * one, so memory stays at a block or two whatever the file's size. Holes read as zeros; clean blocks the cache
 * evicted come from `fetcher` (the file's previous cap).
 */
export class FileUploader {
  private readonly logger = new Logger(FileUploader.name);

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

  async upload(inode: SyncInode, signal?: AbortSignal): Promise<FileUpload> {
    if (inode.dirtyOwner !== null && inode.dirtyOwner !== this.cacheOwner) {
      const refusal = new ForeignDirtyContentError(inode.ino, inode.dirtyOwner, this.cacheOwner);
      this.logger.error(refusal.message);
      throw refusal;
    }
    const generation = this.cache.writeGeneration(inode.ino);
    const dirtyBlocks = this.cache.dirtyBlocks(inode.ino);
    const size = inode.size;
    if (size <= LIT_MAX_BYTES) {
      // What Tahoe would answer, without asking it: small files (and empty ones) are common.
      const parts: Buffer[] = [];
      for await (const block of this.blocks(inode.ino, size)) {
        parts.push(block);
      }
      const data = Buffer.concat(parts);
      return { cap: litCapOf(data)!, bytes: size, generation, dirtyBlocks };
    }
    const body = Readable.from(this.blocks(inode.ino, size), { objectMode: false, highWaterMark: 1 });
    const cap = await this.tahoe.upload(body, { length: size, signal });
    return { cap, bytes: size, generation, dirtyBlocks };
  }

  private async *blocks(ino: number, size: number): AsyncGenerator<Buffer> {
    const blockSize = this.cache.blockSize;
    for (let offset = 0; offset < size; offset += blockSize) {
      yield await this.cache.read(ino, offset, Math.min(blockSize, size - offset), size, this.fetcher?.(ino));
    }
  }
}
