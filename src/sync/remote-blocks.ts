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
  /**
   * Consecutive blocks read ahead in one ranged GET. Tahoe spends about 0.2 s setting up each ranged GET of a CHK
   * file (measured: 1 MiB GETs gave 4 MB/s where one 256 MiB GET gave 36 MB/s), so read-ahead asks for runs.
   */
  maxBlocksPerRequest: number;
}

export const DEFAULT_REMOTE_BLOCKS_OPTIONS: RemoteBlocksOptions = {
  maxConcurrentDownloads: 4,
  readAheadBlocks: 32,
  maxBlocksPerRequest: 16,
};

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
    const fileBlocks = Math.ceil(fileSize / blockSize);
    // A small cache gets a short window: read-ahead must not evict what the reader is about to read.
    const cacheBlocks = Math.max(1, Math.floor(this.deps.cache.maxBytes / blockSize / 4));
    const ahead = Math.min(this.options.readAheadBlocks, cacheBlocks);
    const perRequest = Math.max(1, Math.min(this.options.maxBlocksPerRequest, ahead));
    const windowEnd = Math.min(first + ahead, fileBlocks) - 1;
    const busy = (index: number): boolean =>
      this.prefetching.has(`${ino}:${index}`) ||
      this.inFlight.has(`${ino}:${index}`) ||
      this.deps.cache.hasBlock(ino, index);
    let index = first;
    while (index <= windowEnd && busy(index)) {
      index++;
    }
    if (index > windowEnd) {
      return;
    }
    // A whole run from the first block missing in the window, even past the window's end: a GET of one block per
    // read would cost Tahoe its setup every time.
    const run: number[] = [];
    while (run.length < perRequest && index < fileBlocks && !busy(index)) {
      run.push(index);
      index++;
    }
    this.prefetchRun(ino, run, fileSize);
  }

  /**
   * Fetches consecutive blocks with one ranged GET and stores each through the cache. Every block of the run is
   * in flight meanwhile, so a reader that needs one of them waits for this download instead of starting its own.
   */
  private prefetchRun(ino: number, indices: number[], fileSize: number): void {
    const blockSize = this.deps.cache.blockSize;
    const downloaded = this.downloadRun(ino, indices[0], indices.length, false);
    for (const [offset, index] of indices.entries()) {
      const blockKey = `${ino}:${index}`;
      this.prefetching.add(blockKey);
      const block = downloaded.then((blocks) => blocks[offset]);
      this.inFlight.set(blockKey, block);
      const settled = (): void => {
        if (this.inFlight.get(blockKey) === block) {
          this.inFlight.delete(blockKey);
        }
      };
      void block.then(settled, settled);
      // Through the cache, which stores the block and makes a reader of it wait for this fetch (its block lock).
      void this.deps.cache
        .read(ino, index * blockSize, 1, fileSize, () => block)
        .catch(() => undefined) // The reader that needs the block fetches it again and sees the error itself.
        .finally(() => this.prefetching.delete(blockKey));
    }
  }

  private async download(ino: number, index: number, demand: boolean): Promise<Buffer | undefined> {
    return (await this.downloadRun(ino, index, 1, demand))[0];
  }

  /**
   * Blocks `first` .. `first + count - 1` of a file with one ranged GET (undefined for a block that is a hole), each
   * byte count checked; downloaded again when the file's cap changed meanwhile.
   */
  private async downloadRun(
    ino: number,
    first: number,
    count: number,
    demand: boolean,
  ): Promise<(Buffer | undefined)[]> {
    const { journal, cache, tahoe } = this.deps;
    const blockSize = cache.blockSize;
    for (let attempt = 0; ; attempt++) {
      const inode = await journal.getSyncInode(ino);
      if (inode === null || inode.type !== 'file') {
        return [];
      }
      const cap = inode.readCap ?? inode.writeCap;
      if (cap === null || inode.syncedContentVersion === null) {
        return []; // Never uploaded: what the cache lacks is a hole.
      }
      const parsed = tryParseCap(cap);
      const capSize = parsed?.known ? parsed.size : undefined;
      if (capSize === undefined) {
        throw new FsError('EIO', `inode ${ino}: its cap carries no size`);
      }
      const limit = Math.min(capSize, cache.remoteLimit(ino) ?? Infinity);
      const start = first * blockSize;
      const length = Math.min(count * blockSize, limit - start);
      if (length <= 0) {
        return [];
      }
      const literal = litData(cap);
      const data = literal
        ? literal.subarray(start, start + length)
        : await this.limited(demand, () => {
            this.downloads += 1;
            return tahoe.readRange(cap, start, length);
          });
      if (data.length !== length) {
        throw new FsError('EIO', `inode ${ino} blocks ${first}+${count}: got ${data.length} bytes of ${length}`);
      }
      const now = await journal.getSyncInode(ino);
      if (now !== null && (now.readCap ?? now.writeCap) === cap) {
        if (count === 1) {
          return [data];
        }
        const blocks: (Buffer | undefined)[] = [];
        for (let offset = 0; offset < length; offset += blockSize) {
          // Copies: a slice would keep the whole run's buffer alive for as long as any one block is referenced.
          blocks.push(Buffer.from(data.subarray(offset, Math.min(offset + blockSize, length))));
        }
        return blocks;
      }
      if (now === null || attempt >= CAP_CHANGE_RETRIES) {
        throw new FsError('EIO', `inode ${ino}: its cap kept changing while blocks ${first}+${count} were fetched`);
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
