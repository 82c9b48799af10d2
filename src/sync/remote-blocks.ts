import type { BlockCache, BlockFetcher } from '../cache/block-cache';
import { FsError } from '../common/errors/fs-error';
import type { SyncJournal } from '../metadata/sync-journal';
import { litData, tryParseCap } from '../tahoe/cap.util';
import type { TahoeClient } from '../tahoe/tahoe.client';

export interface RemoteBlocksOptions {
  /** Most block downloads running at once, read-ahead included (demand reads go first in the queue). */
  maxConcurrentDownloads: number;
  /** Blocks fetched ahead of a handle that reads sequentially; 0 turns read-ahead off. */
  readAheadBlocks: number;
}

export const DEFAULT_REMOTE_BLOCKS_OPTIONS: RemoteBlocksOptions = { maxConcurrentDownloads: 4, readAheadBlocks: 4 };

/** How many times a block is downloaded again when the file's cap changed during the download. */
const CAP_CHANGE_RETRIES = 2;
/** Read positions remembered for read-ahead (one per open handle that read); the oldest are forgotten first. */
const MAX_TRACKED_STREAMS = 1024;

interface ReadStream {
  /** Where the last read ended. */
  next: number;
  /** Where the last read started. */
  last: number;
}

/**
 * Blocks the cache lacks, fetched from the file's last uploaded cap (DESIGN.md §4): one ranged GET per cache block,
 * with its byte count checked, downloads bounded, a block already being fetched shared rather than fetched again,
 * and read-ahead for handles that read sequentially.
 *
 * Which bytes the cap holds: a file never uploaded has no cap and every block it lacks is a hole. Otherwise the cap
 * (made from `syncedContentVersion`) holds the current bytes of every block the cache lacks: blocks written since are
 * dirty (pinned in the cache, never fetched), and a truncate since the upload is remembered by the cache as a hole
 * floor (`BlockCache.remoteLimit`) past which a missing block is a hole. A cap that changes during a download (an
 * upload or a remote change recorded meanwhile) makes the download start again: stale bytes are never stored.
 */
export class RemoteBlocks {
  private readonly inFlight = new Map<string, Promise<Buffer | undefined>>();
  private readonly streams = new Map<string, ReadStream>();
  private readonly prefetching = new Set<string>();
  private active = 0;
  private readonly waiting: { run: () => void; demand: boolean }[] = [];
  /** Block downloads started (ranged GETs; LIT caps decode locally and are not counted). */
  downloads = 0;

  constructor(
    private readonly deps: {
      journal: Pick<SyncJournal, 'getSyncInode'>;
      tahoe: Pick<TahoeClient, 'readRange'>;
      cache: BlockCache;
    },
    private readonly options: RemoteBlocksOptions = DEFAULT_REMOTE_BLOCKS_OPTIONS,
  ) {}

  /** The fetcher to hand the cache for a file's reads, partial-block writes and truncates. */
  fetcher(ino: number): BlockFetcher {
    return (index) => this.fetch(ino, index, true);
  }

  /** Fetches block `index` of a file; undefined when the block is a hole. Concurrent callers share one download. */
  fetch(ino: number, index: number, demand = true): Promise<Buffer | undefined> {
    const key = `${ino}:${index}`;
    const running = this.inFlight.get(key);
    if (running) {
      return running;
    }
    const promise = this.download(ino, index, demand).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, promise);
    return promise;
  }

  /**
   * Told about every read of a handle before it is served: when the handle reads sequentially, the next blocks the
   * cache lacks are fetched in the background (into the cache). Never waits and never fails.
   */
  readAhead(fh: number, ino: number, position: number, length: number, fileSize: number): void {
    const key = `${ino}:${fh}`;
    const previous = this.streams.get(key);
    const end = Math.min(position + length, fileSize);
    this.streams.delete(key);
    this.streams.set(key, { next: end, last: position });
    if (this.streams.size > MAX_TRACKED_STREAMS) {
      this.streams.delete(this.streams.keys().next().value!);
    }
    const blockSize = this.deps.cache.blockSize;
    // The kernel has several reads of a sequential reader in flight; they may arrive slightly out of order.
    const sequential = previous !== undefined && position >= previous.last && position <= previous.next + 2 * blockSize;
    if (!sequential || this.options.readAheadBlocks <= 0 || end <= position) {
      return;
    }
    const first = Math.floor((end - 1) / blockSize) + 1;
    const last = Math.min(first + this.options.readAheadBlocks, Math.ceil(fileSize / blockSize)) - 1;
    for (let index = first; index <= last; index++) {
      const blockKey = `${ino}:${index}`;
      if (this.prefetching.has(blockKey) || this.deps.cache.hasBlock(ino, index)) {
        continue;
      }
      this.prefetching.add(blockKey);
      // Through the cache, which stores the block and makes a reader of it wait for this fetch (its block lock).
      void this.deps.cache
        .read(ino, index * blockSize, 1, fileSize, (block) => this.fetch(ino, block, false))
        .catch(() => undefined) // The reader that needs the block fetches it again and sees the error itself.
        .finally(() => this.prefetching.delete(blockKey));
    }
  }

  private async download(ino: number, index: number, demand: boolean): Promise<Buffer | undefined> {
    const { journal, cache, tahoe } = this.deps;
    const blockSize = cache.blockSize;
    for (let attempt = 0; ; attempt++) {
      const inode = await journal.getSyncInode(ino);
      if (inode === null || inode.type !== 'file') {
        return undefined;
      }
      const cap = inode.readCap ?? inode.writeCap;
      if (cap === null || inode.syncedContentVersion === null) {
        return undefined; // Never uploaded: what the cache lacks is a hole.
      }
      const parsed = tryParseCap(cap);
      const capSize = parsed?.known ? parsed.size : undefined;
      if (capSize === undefined) {
        throw new FsError('EIO', `inode ${ino}: its cap carries no size`);
      }
      const limit = Math.min(capSize, cache.remoteLimit(ino) ?? Infinity);
      const start = index * blockSize;
      const length = Math.min(blockSize, limit - start);
      if (length <= 0) {
        return undefined;
      }
      const literal = litData(cap);
      const data = literal
        ? literal.subarray(start, start + length)
        : await this.limited(demand, () => {
            this.downloads += 1;
            return tahoe.readRange(cap, start, length);
          });
      if (data.length !== length) {
        throw new FsError('EIO', `inode ${ino} block ${index}: got ${data.length} bytes of ${length}`);
      }
      const now = await journal.getSyncInode(ino);
      if (now !== null && (now.readCap ?? now.writeCap) === cap) {
        return data;
      }
      if (now === null || attempt >= CAP_CHANGE_RETRIES) {
        throw new FsError('EIO', `inode ${ino}: its cap kept changing while block ${index} was fetched`);
      }
    }
  }

  /** Runs a download when fewer than the maximum are running; demand reads are queued before read-ahead. */
  private async limited<T>(demand: boolean, work: () => Promise<T>): Promise<T> {
    if (this.active >= this.options.maxConcurrentDownloads) {
      await new Promise<void>((resolve) => {
        const entry = { run: resolve, demand };
        const firstReadAhead = this.waiting.findIndex((waiter) => !waiter.demand);
        if (demand && firstReadAhead >= 0) {
          this.waiting.splice(firstReadAhead, 0, entry);
        } else {
          this.waiting.push(entry);
        }
      });
    } else {
      this.active += 1;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) {
        next.run(); // The slot passes to it directly.
      } else {
        this.active -= 1;
      }
    }
  }
}
