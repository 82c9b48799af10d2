import { AdminError } from './admin.errors';
import type { JobContext } from './jobs.service';

export interface FlushRequest {
  /** The file, or directory tree, whose dirty data to upload; null for every dirty file. */
  ino: number | null;
}

export interface FlushResult {
  files: number;
  bytes: number;
}

export const SYNC_DIRECTIONS = ['push', 'pull', 'both'] as const;
export type SyncDirection = (typeof SYNC_DIRECTIONS)[number];

export interface SyncRequest {
  /** The inode (a directory: its whole tree) to reconcile with Tahoe now; null for everything dirty. */
  ino: number | null;
  /** push: local changes to Tahoe; pull: Tahoe's changes (the directory tree, or a file's directory) here; both. */
  direction?: SyncDirection;
}

export interface PullSummary {
  directories: number;
  added: number;
  updated: number;
  removed: number;
  /** Names of the conflict copies made. */
  conflicts: string[];
}

export interface SyncResult {
  directories: number;
  files: number;
  bytes: number;
  /** What the pull did (direction pull or both). */
  pulled?: PullSummary;
}

export interface WarmupRequest {
  /** A file, or a directory whose files (recursively when asked) are to be fetched into the cache. */
  ino: number;
  recursive: boolean;
}

export interface WarmupResult {
  files: number;
  bytes: number;
}

export interface SyncQueueQuery {
  offset: number;
  limit: number;
}

export type SyncQueueItemState = 'pending' | 'running' | 'failed';

export interface SyncQueueItem {
  ino: number;
  /** The kind of work: e.g. `upload` (file data), `publish` (a dirnode), `pull` (a remote change). */
  kind: string;
  state: SyncQueueItemState;
  tries: number;
  /** When the item entered its state (ms since the epoch). */
  since: number;
  /** Caps redacted. */
  lastError: string | null;
  /** Bytes to upload, when known. */
  bytes: number | null;
  /** When it runs next (ms since the epoch): a waiting item's due time, a failed one's retry; null while running. */
  nextAttemptAt: number | null;
}

export interface SyncQueuePage {
  items: SyncQueueItem[];
  /** Items in the queue in all, not only on this page. */
  total: number;
  /** Items waiting or running by kind (what riverfs_sync_queue_depth shows). */
  depth: Record<string, number>;
  oldestDirtyAgeSeconds: number | null;
  /**
   * When the last scan of the journal for dirty inodes began (ms since the epoch); null before the first. Namespace
   * changes reach the queue through that scan: an empty queue with a scan begun after a change means it is pushed
   * (except names Tahoe cannot hold, which wait for a rename).
   */
  scannedAt: number | null;
}

/**
 * The port through which the admin API drives sync: the sync issue's TahoeSyncWorker implements it and its module
 * exports it (as `SyncControl`); until then `UnavailableSyncControl` stands in and every sync route answers 503.
 *
 * The long operations run inside admin jobs: they receive the job's context, must report progress through it and
 * stop (throwing the abort reason, `context.throwIfCancelled()`) when it is cancelled. They resolve with a summary
 * and reject with domain errors (TahoeError, FsError, StateError…), never HTTP exceptions.
 */
export abstract class SyncControl {
  /** False for the stand-in: the admin routes then answer 503 without creating a job. */
  abstract readonly available: boolean;
  /** Uploads dirty file data now (DESIGN.md §3, operator flush). */
  abstract flush(request: FlushRequest, job: JobContext): Promise<FlushResult>;
  /** Reconciles dirty directories and uploads dirty data now (a forced sync). */
  abstract sync(request: SyncRequest, job: JobContext): Promise<SyncResult>;
  /** Fetches file data into the block cache ahead of use. */
  abstract warmup(request: WarmupRequest, job: JobContext): Promise<WarmupResult>;
  /** Work waiting, running, or failed and waiting for a retry. */
  abstract queue(query: SyncQueueQuery): Promise<SyncQueuePage>;
  /**
   * The work queued for one inode, at most one item per kind (what `riverfs inode` shows of the worker). Synchronous:
   * the inode view asks on every call and the queue is in memory.
   */
  abstract tasksOf(ino: number): SyncQueueItem[];

  /** Calls `listener` with the kind of work of every failed attempt (riverfs_sync_failures_total); none here. */
  onFailure(listener: (kind: string) => void): () => void {
    void listener;
    return () => undefined;
  }
}

export function syncUnavailable(): AdminError {
  return new AdminError(
    'SYNC_UNAVAILABLE',
    'sync is not available yet: this gateway has no sync worker, so nothing can be flushed, synced or warmed up',
  );
}

/** Stands in for the sync worker until it exists: every operation fails with SYNC_UNAVAILABLE (503). */
export class UnavailableSyncControl extends SyncControl {
  readonly available = false;

  flush(): Promise<FlushResult> {
    return Promise.reject(syncUnavailable());
  }

  sync(): Promise<SyncResult> {
    return Promise.reject(syncUnavailable());
  }

  warmup(): Promise<WarmupResult> {
    return Promise.reject(syncUnavailable());
  }

  queue(): Promise<SyncQueuePage> {
    return Promise.reject(syncUnavailable());
  }

  tasksOf(): SyncQueueItem[] {
    return [];
  }
}
