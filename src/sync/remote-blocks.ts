import type { BlockCache, BlockFetcher } from '../cache/block-cache';
import { FsError } from '../common/errors/fs-error';
import type { SyncJournal } from '../metadata/sync-journal';
import { litData, tryParseCap } from '../tahoe/cap.util';
import type { TahoeClient } from '../tahoe/tahoe.client';
import { BlockStream } from './block-stream';

export interface RemoteBlocksOptions {
  /** Most single-block downloads running at once (writes' and random reads' misses); demand reads go first. */
  maxConcurrentDownloads: number;
  /**
   * Blocks a streaming GET runs ahead of a handle that reads sequentially; 0 turns read-ahead off (each miss is then
   * a GET of its block alone). A small cache shortens it: read-ahead must not evict what the reader is about to read.
   */
  readAheadBlocks: number;
  /**
   * Streaming GETs (a file's rest, from a sequential reader's position) open at once. Tahoe spends about 0.2 s setting
   * up each ranged GET of a CHK file (measured: 1 MiB GETs gave 4 MB/s where one 256 MiB GET gave 36 MB/s), so a
   * sequential reader gets one GET for the rest of the file rather than one per block or run of blocks.
   */
  maxStreams: number;
  /** Blocks of a stream on their way to the cache before the stream stops reading the body (memory bound). */
  maxPendingStores: number;
  /** How long a stream whose reader stopped asking keeps its GET open (paused) before giving it up. */
  streamIdleMs: number;
}

export const DEFAULT_REMOTE_BLOCKS_OPTIONS: RemoteBlocksOptions = {
  maxConcurrentDownloads: 4,
  readAheadBlocks: 32,
  maxStreams: 2,
  maxPendingStores: 4,
  streamIdleMs: 5_000,
};

/** How many times a block is downloaded again when the file's cap changed during the download. */
const CAP_CHANGE_RETRIES = 2;
/** Read positions remembered for read-ahead (one per open handle that read); the oldest are forgotten first. */
const MAX_TRACKED_READERS = 1024;

interface ReaderPosition {
  /** Where the last read ended. */
  next: number;
  /** Where the last read started. */
  last: number;
}

/** What happened, for tests that assert ordering rather than timing (and for debugging). */
export type RemoteBlocksEvent =
  | { kind: 'stream-opened'; ino: number; firstBlock: number; endByte: number; openEnded: boolean }
  | { kind: 'stream-ended'; ino: number; firstBlock: number; frontBlock: number }
  /** A read's piece answered; from a stream, with how far that stream's body had arrived (a byte of the file). */
  | { kind: 'served'; ino: number; index: number; from: 'stream' | 'cache'; streamReceived?: number };

export interface OpenStreamInfo {
  ino: number;
  firstBlock: number;
  /** The block the stream's next byte belongs to. */
  frontBlock: number;
  openEnded: boolean;
}

/**
 * Blocks the cache lacks, fetched from the file's last uploaded cap (DESIGN.md §4, issue 15).
 *
 * Reads (`read`) are answered as their bytes arrive. A miss opens a streaming GET (BlockStream) at the missed block:
 * to the end of the file when the handle reads sequentially or starts at the file's head, else of that block alone.
 * The open-ended GET then runs a window ahead of its reader, storing each block into the cache off the reply path,
 * so one GET serves a whole sequential read. A read elsewhere in the file never waits behind a stream: it gets its
 * own GET. LIT caps decode locally. Writes, truncates and uploads take whole blocks through `fetcher` (one ranged
 * GET per block, bounded, shared by concurrent callers).
 *
 * Which bytes the cap holds: a file never uploaded has no cap and every block it lacks is a hole. Otherwise the cap
 * (made from `syncedContentVersion`) holds the current bytes of every block the cache lacks: blocks written since are
 * dirty (pinned in the cache, never fetched), and a truncate since the upload is remembered by the cache as a hole
 * floor (`BlockCache.remoteLimit`) past which a missing block is a hole. A cap that changes during a block download
 * makes it start again. A stream's bytes are served and stored only while the file's write generation is the one
 * read before its cap (a write, truncate or remote change drops or bumps it; an upload changes the cap, not bytes).
 */
export class RemoteBlocks {
  private readonly inFlight = new Map<string, Promise<Buffer | undefined>>();
  private readonly readers = new Map<string, ReaderPosition>();
  private readonly streams = new Map<number, Set<BlockStream>>();
  /** The readers (`ino:fh` keys) each open stream served: a stream none of them is left for is given up. */
  private readonly streamReaders = new Map<BlockStream, Set<string>>();
  private openEndedStreams = 0;
  private active = 0;
  private readonly waiting: { run: () => void; demand: boolean }[] = [];
  private warmups = 0;
  /** Ranged GETs started (LIT caps decode locally and are not counted). */
  downloads = 0;
  /** Set by tests to observe the order of events. */
  onEvent: ((event: RemoteBlocksEvent) => void) | undefined;

  constructor(
    private readonly deps: {
      journal: Pick<SyncJournal, 'getSyncInode'>;
      tahoe: Pick<TahoeClient, 'readRange' | 'read'>;
      cache: BlockCache;
    },
    private readonly options: RemoteBlocksOptions = DEFAULT_REMOTE_BLOCKS_OPTIONS,
  ) {}

  /** The fetcher to hand the cache for a file's partial-block writes, truncates and uploads. */
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
   * Reads `length` bytes at `position` of a file of `fileSize` bytes for handle `fh`: cached blocks from the cache,
   * missing ones from a stream as soon as their bytes arrive (see the class comment). `into`: where the bytes may go
   * (at least `length` long); the answer may be a view of it.
   */
  async read(
    fh: number,
    ino: number,
    position: number,
    length: number,
    fileSize: number,
    into?: Buffer,
  ): Promise<Buffer> {
    const end = Math.min(position + length, fileSize);
    if (end <= position) {
      return Buffer.alloc(0);
    }
    const reader = `${ino}:${fh}`;
    const sequential = this.track(reader, position, end);
    const blockSize = this.deps.cache.blockSize;
    const pieces: Buffer[] = [];
    for (let at = position; at < end;) {
      const index = Math.floor(at / blockSize);
      const take = Math.min((index + 1) * blockSize, end) - at;
      const openEnded = this.options.readAheadBlocks > 0 && (sequential || index === 0);
      pieces.push(
        await this.readPiece(reader, ino, index, at, take, fileSize, openEnded, into?.subarray(at - position)),
      );
      at += take;
    }
    if (sequential) {
      // The window moves with the reader: the stream fetches ahead while the reader consumes what is cached.
      const lastBlock = Math.floor((end - 1) / blockSize);
      for (const stream of this.streams.get(ino) ?? []) {
        if (stream.frontBlock <= lastBlock + 1) {
          stream.extend((lastBlock + 1 + this.aheadBlocks()) * blockSize);
        }
      }
    }
    return pieces.length === 1 ? pieces[0] : joined(pieces, into);
  }

  /**
   * Fills the cache with a file's blocks through the same streams as reads (warmup): one GET for the blocks it
   * lacks, LIT caps decoded, bounded like reads. Returns once every block it fetched is stored (or refused).
   */
  async warm(ino: number, fileSize: number, signal?: AbortSignal): Promise<void> {
    const fh = -++this.warmups; // Tracked like a handle of its own, which reads sequentially.
    const blockSize = this.deps.cache.blockSize;
    try {
      for (let position = 0; position < fileSize; position += blockSize) {
        signal?.throwIfAborted();
        if (!this.deps.cache.hasBlock(ino, position / blockSize)) {
          await this.read(fh, ino, position, blockSize, fileSize);
        } else {
          this.track(`${ino}:${fh}`, position, Math.min(position + blockSize, fileSize));
        }
      }
    } finally {
      this.readers.delete(`${ino}:${fh}`);
      await Promise.all([...(this.streams.get(ino) ?? [])].map((stream) => stream.finished));
    }
  }

  /**
   * Handle `fh` of file `ino` was closed: its read position is forgotten, and streams it read from that no other
   * reader uses are given up now. Left to idle out, a stream kept its GET and one of the `maxStreams` slots for
   * `streamIdleMs` after its reader went: a sequential read right after a few small reads got one GET per block
   * (15.7 MB/s instead of 47.7 here, 64 MiB after five first-byte reads).
   */
  release(fh: number, ino: number): void {
    const key = `${ino}:${fh}`;
    this.readers.delete(key);
    for (const stream of this.streams.get(ino) ?? []) {
      const readers = this.streamReaders.get(stream);
      if (readers?.delete(key) === true && readers.size === 0) {
        stream.cancel();
      }
    }
  }

  /** Gives every open stream up (shutdown): a paused GET would otherwise hold its connection until it idles out. */
  async close(): Promise<void> {
    const open = [...this.streams.values()].flatMap((streams) => [...streams]);
    for (const stream of open) {
      stream.cancel();
    }
    await Promise.all(open.map((stream) => stream.finished));
  }

  /** The streams open now (tests, debugging). */
  openStreams(): OpenStreamInfo[] {
    return [...this.streams.entries()].flatMap(([ino, streams]) =>
      [...streams].map((stream) => ({
        ino,
        firstBlock: stream.firstBlock,
        frontBlock: stream.frontBlock,
        openEnded: stream.openEnded,
      })),
    );
  }

  /** Records a handle's read; true when it continues the handle's previous read (a sequential reader). */
  private track(key: string, position: number, end: number): boolean {
    const previous = this.readers.get(key);
    this.readers.delete(key);
    this.readers.set(key, { next: end, last: position });
    if (this.readers.size > MAX_TRACKED_READERS) {
      this.readers.delete(this.readers.keys().next().value!);
    }
    // The kernel has several reads of a sequential reader in flight; they may arrive slightly out of order.
    const blockSize = this.deps.cache.blockSize;
    return previous !== undefined && position >= previous.last && position <= previous.next + 2 * blockSize;
  }

  private aheadBlocks(): number {
    const cacheBlocks = Math.max(1, Math.floor(this.deps.cache.maxBytes / this.deps.cache.blockSize / 4));
    return Math.max(1, Math.min(this.options.readAheadBlocks, cacheBlocks));
  }

  /** One block's part of a read. */
  private async readPiece(
    reader: string,
    ino: number,
    index: number,
    position: number,
    length: number,
    fileSize: number,
    openEnded: boolean,
    into: Buffer | undefined,
  ): Promise<Buffer> {
    const { cache } = this.deps;
    if (!cache.hasBlock(ino, index)) {
      let stream = [...(this.streams.get(ino) ?? [])].find((candidate) => candidate.covers(index));
      stream ??= await this.openStream(ino, index, openEnded);
      if (stream !== undefined) {
        this.streamReaders.get(stream)?.add(reader);
        const bytes = await stream.bytes(position, length);
        if (bytes !== undefined && cache.writeGeneration(ino) === stream.generation) {
          this.onEvent?.({ kind: 'served', ino, index, from: 'stream', streamReceived: stream.receivedBytes });
          return bytes;
        }
      }
    }
    // Cached, a hole, a LIT cap, or the file changed under the stream: the cache's own path has the answer.
    const data = await cache.read(ino, position, length, fileSize, this.fetcher(ino), into);
    this.onEvent?.({ kind: 'served', ino, index, from: 'cache' });
    return data;
  }

  /**
   * Opens a streaming GET at block `index`: to the end of the file (`openEnded`, while fewer than `maxStreams` are
   * open) or of that block alone (bounded with the block downloads). Undefined when the cache's path should answer:
   * no cap (holes), a LIT cap, or nothing of the cap left at that block.
   */
  private async openStream(ino: number, index: number, openEnded: boolean): Promise<BlockStream | undefined> {
    const { cache, journal, tahoe } = this.deps;
    const generation = cache.writeGeneration(ino); // Before the cap is read: see the class comment.
    const inode = await journal.getSyncInode(ino);
    const cap =
      inode?.type === 'file' && inode.syncedContentVersion !== null ? (inode.readCap ?? inode.writeCap) : null;
    if (cap === null || litData(cap) !== undefined) {
      return undefined;
    }
    const parsed = tryParseCap(cap);
    if (!parsed?.known || parsed.size === undefined) {
      return undefined; // The cache's path reports it (EIO).
    }
    const blockSize = cache.blockSize;
    const limit = Math.min(parsed.size, cache.remoteLimit(ino) ?? Infinity);
    const start = index * blockSize;
    if (start >= limit) {
      return undefined;
    }
    // Another reader of the same block may have opened one meanwhile.
    const existing = [...(this.streams.get(ino) ?? [])].find((candidate) => candidate.covers(index));
    if (existing !== undefined) {
      return existing;
    }
    const longStream = openEnded && this.openEndedStreams < this.options.maxStreams;
    const endByte = longStream ? limit : Math.min(limit, start + blockSize);
    let releaseSlot: (() => void) | undefined;
    const stream = new BlockStream({
      openEnded: longStream,
      blockSize,
      firstBlock: index,
      endByte,
      windowEnd: longStream ? (index + 2) * blockSize : endByte,
      maxPendingStores: this.options.maxPendingStores,
      idleMs: this.options.streamIdleMs,
      generation,
      store: (blockIndex, block) => {
        cache.noteMiss(); // A block the cache lacked, fetched: what a cache miss counts.
        return cache.offerCleanBlock(ino, blockIndex, block, generation);
      },
      open: async (signal) => {
        if (!longStream) {
          releaseSlot = await this.slot(true);
        }
        this.downloads += 1;
        const response = await tahoe.read(cap, { range: { start, end: endByte - 1 }, signal });
        if (response.contentLength !== endByte - start) {
          response.stream.destroy();
          throw new FsError(
            'EIO',
            `inode ${ino}: asked for ${endByte - start} bytes at ${start}, got ${response.contentLength}`,
          );
        }
        return response.stream;
      },
    });
    if (longStream) {
      this.openEndedStreams += 1;
    }
    let streams = this.streams.get(ino);
    if (streams === undefined) {
      streams = new Set();
      this.streams.set(ino, streams);
    }
    streams.add(stream);
    this.streamReaders.set(stream, new Set());
    this.onEvent?.({ kind: 'stream-opened', ino, firstBlock: index, endByte, openEnded: longStream });
    void stream.finished.finally(() => {
      releaseSlot?.();
      if (longStream) {
        this.openEndedStreams -= 1;
      }
      streams.delete(stream);
      this.streamReaders.delete(stream);
      if (streams.size === 0 && this.streams.get(ino) === streams) {
        this.streams.delete(ino);
      }
      this.onEvent?.({ kind: 'stream-ended', ino, firstBlock: index, frontBlock: stream.frontBlock });
    });
    return stream;
  }

  /** Block `index` of a file with one ranged GET (undefined for a hole), its byte count checked; again if the cap changed. */
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

  /** Runs a download when fewer than the maximum are running; demand reads are queued before the others. */
  private async limited<T>(demand: boolean, work: () => Promise<T>): Promise<T> {
    const release = await this.slot(demand);
    try {
      return await work();
    } finally {
      release();
    }
  }

  /** Waits for a download slot (demand reads first); the returned function gives it back, once. */
  private async slot(demand: boolean): Promise<() => void> {
    if (this.active >= this.options.maxConcurrentDownloads) {
      await new Promise<void>((resolve) => {
        const entry = { run: resolve, demand };
        const firstBackground = this.waiting.findIndex((waiter) => !waiter.demand);
        if (demand && firstBackground >= 0) {
          this.waiting.splice(firstBackground, 0, entry);
        } else {
          this.waiting.push(entry);
        }
      });
    } else {
      this.active += 1;
    }
    let released = false;
    return () => {
      if (released) {
        return;
      }
      released = true;
      const next = this.waiting.shift();
      if (next) {
        next.run(); // The slot passes to it directly.
      } else {
        this.active -= 1;
      }
    };
  }
}

/** The pieces of one read, one after the other: in `into` when given (pieces read there already stay put). */
function joined(pieces: Buffer[], into: Buffer | undefined): Buffer {
  if (into === undefined) {
    return Buffer.concat(pieces);
  }
  let at = 0;
  for (const piece of pieces) {
    const inPlace = piece.buffer === into.buffer && piece.byteOffset === into.byteOffset + at;
    if (!inPlace) {
      piece.copy(into, at);
    }
    at += piece.length;
  }
  return into.subarray(0, at);
}
