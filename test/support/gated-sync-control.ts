import {
  type FlushRequest,
  type FlushResult,
  SyncControl,
  type SyncQueueItem,
  type SyncQueuePage,
  type SyncQueueQuery,
  type SyncResult,
  type WarmupRequest,
  type WarmupResult,
} from '../../src/admin/sync-control';
import type { JobContext } from '../../src/admin/jobs.service';
import type { BlockCache } from '../../src/cache/block-cache';
import type { MetadataStore } from '../../src/metadata/metadata.store';
import type { InodeRecord } from '../../src/metadata/metadata.types';

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}

/**
 * A SyncControl for the admin API's tests until the sync worker exists: it walks the real metadata and cache,
 * reports progress per file, and lets a test hold a warmup after its first file (`waiting`, then `open()`), so
 * that the states of a job can be observed without timing. It uploads nothing; its queue holds what a test puts
 * there (`enqueue`).
 */
export class GatedSyncControl extends SyncControl {
  readonly available = true;
  private gate = deferred();
  private reached = deferred();
  private ended = deferred();
  private failure: Error | undefined;
  private readonly items: SyncQueueItem[] = [];

  constructor(private readonly deps: { store: MetadataStore; cache: BlockCache }) {
    super();
  }

  /** Resolves once a warmup has done its first file and waits at the gate. */
  get waiting(): Promise<void> {
    return this.reached.promise;
  }

  /** Resolves once the warmup has returned or thrown. */
  get settled(): Promise<void> {
    return this.ended.promise;
  }

  open(): void {
    this.gate.resolve();
  }

  /** Closes the gate for the next warmup. */
  close(): void {
    this.gate = deferred();
    this.reached = deferred();
    this.ended = deferred();
  }

  /** Puts an item in the queue, or replaces the one of the same kind for the inode. */
  enqueue(item: Pick<SyncQueueItem, 'ino' | 'state'> & Partial<SyncQueueItem>): SyncQueueItem {
    const full: SyncQueueItem = {
      kind: 'upload',
      tries: 0,
      since: Date.now(),
      lastError: null,
      bytes: null,
      nextAttemptAt: item.state === 'running' ? null : Date.now(),
      ...item,
    };
    const at = this.items.findIndex((other) => other.ino === full.ino && other.kind === full.kind);
    this.items.splice(at === -1 ? this.items.length : at, at === -1 ? 0 : 1, full);
    return full;
  }

  /** Empties the queue. */
  clearQueue(): void {
    this.items.length = 0;
  }

  failNextWarmup(error: Error): void {
    this.failure = error;
  }

  private async filesUnder(ino: number): Promise<InodeRecord[]> {
    const root = await this.deps.store.getInode(ino);
    if (root.type === 'file') {
      return [root];
    }
    const files: InodeRecord[] = [];
    for await (const entry of this.deps.store.entries(ino, { plus: true })) {
      if (entry.type === 'file' && entry.inode !== undefined) {
        files.push(entry.inode);
      } else if (entry.type === 'dir') {
        files.push(...(await this.filesUnder(entry.ino)));
      }
    }
    return files;
  }

  async warmup(request: WarmupRequest, job: JobContext): Promise<WarmupResult> {
    try {
      if (this.failure !== undefined) {
        const failure = this.failure;
        this.failure = undefined;
        throw failure;
      }
      const files = await this.filesUnder(request.ino);
      job.progress({ done: 0, total: files.length, unit: 'files' });
      let bytes = 0;
      for (const [index, file] of files.entries()) {
        job.throwIfCancelled();
        bytes += file.size;
        job.progress({ done: index + 1, message: `inode ${file.ino}` });
        if (index === 0) {
          this.reached.resolve();
          await Promise.race([this.gate.promise, untilAborted(job.signal)]);
        }
      }
      return { files: files.length, bytes };
    } finally {
      this.ended.resolve();
    }
  }

  flush(request: FlushRequest, job: JobContext): Promise<FlushResult> {
    const inodes = request.ino === null ? this.deps.cache.dirtyInodes() : [request.ino];
    job.progress({ done: 0, total: inodes.length, unit: 'files' });
    let bytes = 0;
    for (const [index, ino] of inodes.entries()) {
      bytes += this.deps.cache.dirtyBlocks(ino).length * this.deps.cache.blockSize;
      job.progress({ done: index + 1 });
    }
    return Promise.resolve({ files: inodes.length, bytes });
  }

  sync(): Promise<SyncResult> {
    return Promise.resolve({ directories: 0, files: 0, bytes: 0 });
  }

  queue(query: SyncQueueQuery): Promise<SyncQueuePage> {
    const { items } = this;
    const depth: Record<string, number> = {};
    for (const item of items) {
      if (item.state !== 'failed') {
        depth[item.kind] = (depth[item.kind] ?? 0) + 1;
      }
    }
    const oldest = items.reduce((min, item) => Math.min(min, item.since), Infinity);
    return Promise.resolve({
      items: items.slice(query.offset, query.offset + query.limit).map((item) => ({ ...item })),
      total: items.length,
      depth,
      oldestDirtyAgeSeconds: items.length === 0 ? null : Math.round((Date.now() - oldest) / 1000),
      scannedAt: null,
    });
  }

  tasksOf(ino: number): SyncQueueItem[] {
    return this.items.filter((item) => item.ino === ino).map((item) => ({ ...item }));
  }
}
