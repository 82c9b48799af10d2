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
 * evicted come from `fetcher` (the file's previous cap, cut at the cache's hole floor).
 *
 * An upload never sends bytes the file no longer has: once the file changes (a write, a truncate: its cache write
 * generation moves), the next block is not sent, the request is aborted and `upload` answers undefined. Such an
 * upload could not have been recorded anyway.
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
    const blocks = this.blocks(inode.ino, size, generation, superseded);
    if (size <= LIT_MAX_BYTES) {
      // What Tahoe would answer, without asking it: small files (and empty ones) are common.
      const parts: Buffer[] = [];
      try {
        for await (const block of blocks) {
          parts.push(block);
        }
      } catch (error) {
        if (superseded.signal.aborted) {
          return undefined;
        }
        throw error;
      }
      const data = Buffer.concat(parts);
      return { cap: litCapOf(data)!, bytes: size, generation, dirtyBlocks };
    }
    const body = Readable.from(blocks, { objectMode: false, highWaterMark: 1 });
    try {
      const cap = await this.tahoe.upload(body, {
        length: size,
        signal: signal ? AbortSignal.any([signal, superseded.signal]) : superseded.signal,
      });
      return { cap, bytes: size, generation, dirtyBlocks };
    } catch (error) {
      if (superseded.signal.aborted && !signal?.aborted) {
        return undefined;
      }
      throw error;
    }
  }

  private async *blocks(
    ino: number,
    size: number,
    generation: number,
    superseded: AbortController,
  ): AsyncGenerator<Buffer> {
    const blockSize = this.cache.blockSize;
    const stopIfChanged = (): void => {
      if (this.cache.writeGeneration(ino) !== generation) {
        superseded.abort(new FileChangedDuringUpload(ino));
        throw new FileChangedDuringUpload(ino);
      }
    };
    for (let offset = 0; offset < size; offset += blockSize) {
      stopIfChanged();
      const block = await this.cache.read(ino, offset, Math.min(blockSize, size - offset), size, this.fetcher?.(ino));
      // A read that began before a truncate may return bytes the truncate then removed: checked before sending.
      stopIfChanged();
      yield block;
    }
  }
}

/** The file was written or truncated while its upload ran: the upload stops without sending what changed. */
export class FileChangedDuringUpload extends Error {
  constructor(readonly ino: number) {
    super(`inode ${ino} changed during its upload`);
  }
}
