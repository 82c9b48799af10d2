import { FsError } from '../common/errors/fs-error';

/** Opens the GET of a stream: the bytes from its first byte to its end, in order. */
export type BlockStreamOpener = (signal: AbortSignal) => Promise<AsyncIterable<Buffer>>;

/** Keeps a block that arrived (in the cache, clean); settles once it is kept or refused. Never called on the reply path. */
export type BlockStreamStore = (index: number, block: Buffer) => Promise<unknown>;

export interface BlockStreamOptions {
  /** To the end of the file for a sequential reader (true), or one block for a read elsewhere. */
  openEnded: boolean;
  blockSize: number;
  /** First block the GET starts at. */
  firstBlock: number;
  /** Byte the GET ends before (the cap's size, or less after a truncate). */
  endByte: number;
  /** How far the stream may run before a reader asks for more (a byte position, exclusive); grown by `extend`. */
  windowEnd: number;
  /** Blocks that arrived and are still being stored before the stream stops reading (memory bound). */
  maxPendingStores: number;
  /** How long a stream waits for a reader to move its window before it gives the GET up. */
  idleMs: number;
  open: BlockStreamOpener;
  store: BlockStreamStore;
  /** The cache's write generation of the file when the cap was read: bytes served are the file's while it holds. */
  generation: number;
}

interface Waiter {
  position: number;
  length: number;
  resolve: (bytes: Buffer | undefined) => void;
  reject: (error: unknown) => void;
}

/**
 * One GET of a file's cap streamed into blocks (issue 15): readers are answered from the bytes as they arrive, each
 * completed block is handed to the cache off the reply path, and the GET only runs a window ahead of its readers.
 * Memory is bounded: the block being assembled, at most `maxPendingStores` blocks on their way to the cache, and
 * what the HTTP client buffers, because the body is only read while the window allows and the stores keep up
 * (backpressure reaches Tahoe through TCP).
 *
 * A reader that attaches gets its bytes, `undefined` when the stream ended without them (given up idle, or cut short
 * on purpose: the reader then reads through the cache), or the transport's error (EIO) when the GET failed.
 */
export class BlockStream {
  readonly generation: number;
  private readonly blockSize: number;
  private readonly endByte: number;
  /** Absolute byte position the next byte of the body belongs to. */
  private received: number;
  private assembling: Buffer | undefined;
  private assemblingIndex = -1;
  /** Blocks that arrived and are not stored yet: readers that come now are still served from memory. */
  private readonly arrived = new Map<number, Buffer>();
  private readonly pendingStores = new Set<Promise<void>>();
  private readonly waiters = new Set<Waiter>();
  private windowEnd: number;
  private windowMoved: (() => void) | undefined;
  private readonly abort = new AbortController();
  private closed = false;
  private failure: Error | undefined;
  /** Settles when the GET has ended and every block it delivered was stored or refused. */
  readonly finished: Promise<void>;

  constructor(private readonly options: BlockStreamOptions) {
    this.generation = options.generation;
    this.blockSize = options.blockSize;
    this.endByte = options.endByte;
    this.received = options.firstBlock * options.blockSize;
    this.windowEnd = options.windowEnd;
    this.finished = this.run();
  }

  get firstBlock(): number {
    return this.options.firstBlock;
  }

  get openEnded(): boolean {
    return this.options.openEnded;
  }

  /** How far the body has arrived: the file's byte the next one is. */
  get receivedBytes(): number {
    return this.received;
  }

  /** The block the next byte of the body belongs to. */
  get frontBlock(): number {
    return Math.floor(this.received / this.blockSize);
  }

  get ended(): boolean {
    return this.closed;
  }

  /**
   * Whether a read of block `index` should wait for this stream: the block is in memory, or it is the one arriving or
   * the next. Anything further is a read elsewhere in the file, which must not wait behind the stream.
   */
  covers(index: number): boolean {
    if (this.closed) {
      return false;
    }
    if (this.arrived.has(index) || index === this.assemblingIndex) {
      return true;
    }
    return index >= this.frontBlock && index <= this.frontBlock + 1 && index * this.blockSize < this.endByte;
  }

  /** Lets the stream run up to `position` (exclusive, a byte of the file). */
  extend(position: number): void {
    if (position > this.windowEnd) {
      this.windowEnd = position;
      this.windowMoved?.();
    }
  }

  /**
   * `length` bytes at `position` (within one block), as soon as they have arrived; zeros past the stream's end (a
   * file grown past its cap). Undefined when the stream ended without them; rejects when the GET failed.
   */
  bytes(position: number, length: number): Promise<Buffer | undefined> {
    const index = Math.floor(position / this.blockSize);
    this.extend((index + 1) * this.blockSize);
    const ready = this.take(position, length);
    if (ready !== undefined) {
      return Promise.resolve(ready);
    }
    if (this.closed) {
      return this.failure === undefined ? Promise.resolve(undefined) : Promise.reject(this.failure);
    }
    return new Promise((resolve, reject) => this.waiters.add({ position, length, resolve, reject }));
  }

  /** Gives the GET up (readers waiting read through the cache instead). */
  cancel(): void {
    this.abort.abort();
  }

  /** The bytes if they are all here (or past the stream's end), else undefined. */
  private take(position: number, length: number): Buffer | undefined {
    const index = Math.floor(position / this.blockSize);
    const blockStart = index * this.blockSize;
    const block = this.arrived.get(index) ?? (index === this.assemblingIndex ? this.assembling : undefined);
    const available = Math.min(this.received, this.endByte);
    const wanted = Math.min(position + length, this.endByte);
    if (wanted > available || (block === undefined && position < this.endByte)) {
      return undefined;
    }
    if (block !== undefined && position + length <= blockStart + block.length && wanted === position + length) {
      // A view, not a copy: the block is never written again where its bytes have arrived. At 1 GiB a cold read
      // allocated, zeroed and copied a second GiB here, and the garbage collector cleaned up after it.
      return block.subarray(position - blockStart, position - blockStart + length);
    }
    const result = Buffer.alloc(length); // Zero-filled: bytes past the stream's end are a hole.
    if (block !== undefined && wanted > position) {
      block.copy(result, 0, position - blockStart, wanted - blockStart);
    }
    return result;
  }

  private serveWaiters(): void {
    for (const waiter of this.waiters) {
      const bytes = this.take(waiter.position, waiter.length);
      if (bytes !== undefined) {
        this.waiters.delete(waiter);
        waiter.resolve(bytes);
      }
    }
  }

  private async run(): Promise<void> {
    try {
      const body = await this.options.open(this.abort.signal);
      for await (const chunk of body) {
        this.accept(chunk);
        if (!(await this.mayContinue())) {
          break; // Leaving the loop destroys the body: the GET ends and its connection slot is freed.
        }
      }
      if (!this.abort.signal.aborted && this.received < this.endByte) {
        throw new FsError('EIO', `the stream ended after ${this.received} of ${this.endByte} bytes`);
      }
    } catch (error) {
      if (!this.abort.signal.aborted) {
        this.failure = error instanceof Error ? error : new FsError('EIO', `the stream failed: ${String(error)}`);
      }
    } finally {
      this.closed = true;
      for (const waiter of this.waiters) {
        if (this.failure === undefined) {
          waiter.resolve(this.take(waiter.position, waiter.length));
        } else {
          waiter.reject(this.failure);
        }
      }
      this.waiters.clear();
      await Promise.all(this.pendingStores);
    }
  }

  /** Copies a chunk of the body into its blocks; hands each completed block to the cache. */
  private accept(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && this.received < this.endByte) {
      const index = Math.floor(this.received / this.blockSize);
      const blockStart = index * this.blockSize;
      if (this.assembling === undefined) {
        this.assembling = Buffer.allocUnsafe(Math.min(this.blockSize, this.endByte - blockStart));
        this.assemblingIndex = index;
      }
      const filled = this.received - blockStart;
      const take = Math.min(chunk.length - offset, this.assembling.length - filled);
      chunk.copy(this.assembling, filled, offset, offset + take);
      offset += take;
      this.received += take;
      if (filled + take === this.assembling.length) {
        this.arrived.set(index, this.assembling);
        this.assembling = undefined;
        this.assemblingIndex = -1;
        this.storeArrived(index);
      }
    }
    this.serveWaiters();
  }

  private storeArrived(index: number): void {
    const block = this.arrived.get(index)!;
    const stored: Promise<void> = this.options
      .store(index, block)
      .then(
        () => undefined,
        () => undefined, // A block the cache could not keep is fetched again by the reader that needs it.
      )
      .finally(() => {
        this.arrived.delete(index);
        this.pendingStores.delete(stored);
      });
    this.pendingStores.add(stored);
  }

  /**
   * Waits while the stores lag (memory bound) and while the window is full. False when the stream should end: it
   * was cancelled, or nobody moved its window for `idleMs` (its reader went away).
   */
  private async mayContinue(): Promise<boolean> {
    while (this.pendingStores.size >= this.options.maxPendingStores) {
      await Promise.race(this.pendingStores);
    }
    while (this.received >= this.windowEnd && this.received < this.endByte && this.waiters.size === 0) {
      if (this.abort.signal.aborted) {
        return false;
      }
      const signal = this.abort.signal;
      const moved = await new Promise<boolean>((resolve) => {
        const settle = (value: boolean): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', wake);
          this.windowMoved = undefined;
          resolve(value);
        };
        const wake = (): void => settle(true);
        const timer = setTimeout(() => settle(false), this.options.idleMs);
        this.windowMoved = wake;
        signal.addEventListener('abort', wake, { once: true });
      });
      if (!moved) {
        this.closed = true; // Before the GET is given up: no reader attaches to a stream that is going away.
        return false;
      }
    }
    return !this.abort.signal.aborted;
  }
}
