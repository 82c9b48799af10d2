import { Readable } from 'node:stream';
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
 * Uploads a file's content as a Tahoe immutable file (CHK, or LIT up to 55 bytes), streamed from the block cache one
 * block at a time: the body is a Readable that reads the next block only when the request has sent the previous
 * one, so memory stays at a block or two whatever the file's size. Holes read as zeros; clean blocks the cache
 * evicted come from `fetcher` (the file's previous cap).
 */
export class FileUploader {
  constructor(
    private readonly cache: BlockCache,
    private readonly tahoe: TahoeClient,
    private readonly fetcher?: (ino: number) => BlockFetcher,
  ) {}

  async upload(inode: SyncInode, signal?: AbortSignal): Promise<FileUpload> {
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
