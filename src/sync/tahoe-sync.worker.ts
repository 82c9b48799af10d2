import type { LoggerService } from '@nestjs/common';
import type { JobContext } from '../admin/jobs.service';
import {
  type FlushRequest,
  type FlushResult,
  type SyncQueueItem,
  type SyncQueuePage,
  type SyncQueueQuery,
  type SyncRequest,
  type SyncResult,
  type WarmupRequest,
  type WarmupResult,
  SyncControl,
} from '../admin/sync-control';
import type { BlockCache } from '../cache/block-cache';
import { KeyedMutex } from '../cache/keyed-mutex';
import { FsError } from '../common/errors/fs-error';
import type { SyncMode } from '../config/config.schema';
import type { MetadataStore } from '../metadata/metadata.store';
import { ROOT_INO } from '../metadata/metadata.types';
import type { SyncInode, SyncJournal } from '../metadata/sync-journal';
import { redactCapsInText } from '../tahoe/cap.util';
import type { TahoeClient } from '../tahoe/tahoe.client';
import type { DirnodePublisher, PublishResult } from './dirnode-publisher.service';
import type { DownstreamPuller } from './downstream-puller';
import { ExplicitPushes } from './explicit-pushes';
import { type FileUploader, ForeignDirtyContentError } from './file-uploader.service';
import type { RemoteBlocks } from './remote-blocks';
import { PublishHolds } from './publish-holds';
import type { RootCapService } from './root-cap.service';
import type { ForegroundActivity } from './foreground-activity';
import { type SyncTask, type SyncTaskKind, SyncQueue, backoffDelay, firstBy } from './sync-queue';

export interface TahoeSyncWorkerOptions {
  mode: SyncMode;
  /** How long shutdown waits for the queue to drain (ms). */
  drainTimeoutMs: number;
  /** Coalescing delay after a file is closed (or a directory changed) before it is pushed. */
  coalesceDelayMs: number;
  /** However often it is closed again, a file is pushed at most this long after it was first queued. */
  maxCoalesceDelayMs: number;
  /** Delay before a directory is published after a child's upload (lets several uploads share one publish). */
  publishDelayMs: number;
  /**
   * A directory is published again no sooner than this many times as long as its last publish took (at most
   * `maxPublishSpacingMs`): Tahoe rewrites a whole dirnode on every change, so publishing a busy directory of N
   * entries back to back made a drain of N files cost O(N²).
   */
  publishSpacingFactor: number;
  maxPublishSpacingMs: number;
  /**
   * How long in a row a directory's background publish waits for uploads of files it names; longer when the held
   * directories' publishes would otherwise keep the publish slots busy more than a tenth of the time (see PublishHolds).
   */
  maxPublishHoldMs: number;
  /** How long one background publish spends unlinking before it leaves the rest for a later run (see PublishOptions). */
  unlinkBudgetMs: number;
  /** How often the journal is scanned for dirty inodes (namespace changes reach the worker this way). */
  scanIntervalMs: number;
  uploadConcurrency: number;
  publishConcurrency: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  lockTtlMs: number;
  lockWaitMs: number;
}

export const DEFAULT_SYNC_OPTIONS: Omit<TahoeSyncWorkerOptions, 'mode' | 'drainTimeoutMs'> = {
  coalesceDelayMs: 1000,
  maxCoalesceDelayMs: 30_000,
  publishDelayMs: 200,
  publishSpacingFactor: 2,
  maxPublishSpacingMs: 30_000,
  maxPublishHoldMs: 15_000,
  unlinkBudgetMs: 2000,
  scanIntervalMs: 1000,
  // Not yet chosen by a clean measurement (issue 15: the machine was loaded throughout): 6 keeps two of the default 8
  // --tahoe-concurrency slots for demand reads and publishes, where 8 would take them all during a drain.
  uploadConcurrency: 6,
  publishConcurrency: 2,
  backoffBaseMs: 1000,
  backoffMaxMs: 30_000,
  lockTtlMs: 30_000,
  lockWaitMs: 120_000,
};

export interface TahoeSyncWorkerDeps {
  meta: MetadataStore;
  journal: SyncJournal;
  cache: BlockCache;
  tahoe: TahoeClient;
  rootCap: RootCapService;
  publisher: DirnodePublisher;
  uploader: FileUploader;
  logger: LoggerService;
  /** The downstream half: forced pulls (the admin API's sync with direction pull or both). */
  puller?: DownstreamPuller;
  /** Warmup fills the cache through the readers' streaming path (LIT decoding, bounded GETs). */
  remote: Pick<RemoteBlocks, 'warm'>;
  /** How busy applications keep the mount: background pushes wait while it is busy (see pump). */
  foreground?: ForegroundActivity;
}

/** One push of one inode, as the hooks see it. */
export interface UpstreamPush {
  kind: SyncTaskKind;
  ino: number;
  /** The inode as read when the push started; null for a directory that no longer exists (its publish forgets it). */
  inode: SyncInode | null;
  /** An explicit flush (writethrough, fsync, the admin API), not the background queue. */
  explicit: boolean;
  /** When the push began (Date.now()): what a publish cost is told to PublishHolds. */
  startedAt: number;
}

export type UpstreamOutcome =
  /** Done: uploaded and/or published. */
  | { status: 'pushed'; bytes: number; publish?: PublishResult | null }
  /** Nothing to do (already clean, or gone). */
  | { status: 'clean' }
  /** Not now: the file is being written, or changed during the upload; queued again. */
  | { status: 'postponed'; reason: string };

/** How a push ended, as afterPushUpstream hears it. */
export type PushEnd = { ok: true; outcome: UpstreamOutcome } | { ok: false; error: unknown };

const SCAN_BATCH = 2000;
/** The scan stops adding work while this many tasks are queued (the queue drains first). */
const SCAN_QUEUE_LIMIT = 5000;
const DRAIN_LOG_INTERVAL_MS = 5000;
/** While pushes wait for a busy mount: how often the worker looks again whether it still is. */
const FOREGROUND_RECHECK_MS = 200;
/** How often the periodic scan runs while the mount is busy (otherwise every scanIntervalMs). */
const BUSY_SCAN_INTERVAL_MS = 5000;
/** Times a drain looks at the journal again once its queue is empty. */
const DRAIN_RESCANS = 3;

function message(error: unknown): string {
  return redactCapsInText(error instanceof Error ? error.message : String(error));
}

/** A task as the admin API shows it (the queue view and the inode view). */
function queueItem(task: SyncTask): SyncQueueItem {
  return {
    ino: task.ino,
    kind: task.kind,
    state: task.state,
    tries: task.tries,
    since: task.since,
    lastError: task.lastError,
    bytes: task.bytes ?? null,
    nextAttemptAt: task.state === 'running' ? null : task.dueAt,
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/**
 * The upstream half of sync (DESIGN.md §3). Dirty files are uploaded as immutable files, streamed from the block
 * cache, a short coalescing delay after they are closed (writeback), at fsync/close (writethrough) or when asked
 * (flush, flushAll, the admin API); then linked. Dirty directories are reconciled with their dirnodes by the
 * DirnodePublisher. Work is found two ways: hooks from the executor (a file's content was persisted) and a periodic
 * scan of the journal's dirty inodes, which also covers namespace changes and restarts after a crash. Uploads and
 * publishes run with bounded concurrency; failures are retried with exponential backoff and shown (sync state and
 * error on the inode, the queue); nothing dirty is ever dropped, and cache blocks become clean only when the upload
 * carried exactly their bytes.
 *
 * Each push goes through the hooks `beforePushUpstream` (load and check the inode), `pushUpstream` (upload or
 * publish) and `afterPushUpstream` (bookkeeping, follow-up work).
 */
export class TahoeSyncWorker extends SyncControl {
  readonly available = true;
  private readonly tasks: SyncQueue;
  private readonly mutex = new KeyedMutex();
  private readonly running = { upload: 0, publish: 0 };
  private readonly inFlight = new Set<Promise<void>>();
  private readonly failureListeners = new Set<(kind: string) => void>();
  private readonly stopHearingCommits: () => void;
  private readonly abort = new AbortController();
  private scanTimer: NodeJS.Timeout | undefined;
  private pumpTimer: NodeJS.Timeout | undefined;
  /** When the armed pumpTimer fires (undefined: none armed). */
  private pumpTimerAt: number | undefined;
  private scanning: Promise<void> | undefined;
  private scanCursor = 0;
  /** When the last scan that reached the journal's end began (see SyncQueuePage.scannedAt). */
  private scannedAt: number | null = null;
  /** When the current pass over the journal began (a pass may take several batches). */
  private passStartedAt = 0;
  private started = false;
  private stopped = false;
  private draining = false;
  private progress = deferred();
  private readonly failuresLogged = new Set<string>();
  /**
   * Files whose dirty content another gateway's cache holds (ForeignDirtyContentError): retried rarely, and a shutdown
   * drain does not wait for them, since no retry from here can ever succeed.
   */
  private readonly refusedUploads = new Set<number>();
  /** Inodes the scan leaves alone until the time given (they cannot be pushed as they are). */
  private readonly held = new Map<number, number>();
  /** Per directory, the earliest time its next background publish may start (see publishSpacingFactor). */
  private readonly publishNotBefore = new Map<number, number>();
  private readonly publishHolds: PublishHolds;
  private readonly explicit: ExplicitPushes;

  constructor(
    private readonly deps: TahoeSyncWorkerDeps,
    private readonly options: TahoeSyncWorkerOptions,
  ) {
    super();
    this.tasks = new SyncQueue({ maxDelayMs: options.maxCoalesceDelayMs });
    this.publishHolds = new PublishHolds(options.maxPublishHoldMs, options.publishConcurrency);
    this.explicit = new ExplicitPushes({
      journal: deps.journal,
      push: (kind, ino, explicit) => this.push(kind, ino, explicit),
    });
    this.stopHearingCommits = deps.meta.events.on('contentCommitted', ({ ino }) => this.contentPersisted(ino));
  }

  get mode(): SyncMode {
    return this.options.mode;
  }

  /** How long a shutdown drain waits for the queue (the sync-drain-timeout setting). */
  get drainTimeoutMs(): number {
    return this.options.drainTimeoutMs;
  }

  get rootCap(): RootCapService {
    return this.deps.rootCap;
  }

  override onFailure(listener: (kind: string) => void): () => void {
    this.failureListeners.add(listener);
    return () => this.failureListeners.delete(listener);
  }

  get puller(): DownstreamPuller | undefined {
    return this.deps.puller;
  }

  // ---- lifecycle ---------------------------------------------------------------------------------------------------

  /**
   * At mount start, before the mount serves anything: settles the root cap and queues what a crash or an unclean
   * stop left dirty (dirty cache blocks and the journal's dirty flags). Never fails for an unreachable grid.
   */
  async start(): Promise<void> {
    if (this.started) {
      return;
    }
    this.started = true;
    await this.deps.rootCap.resolveAtStart();
    await this.recoverCache();
    await this.scan(true);
    this.scanTimer = setInterval(() => void this.scan(false), this.options.scanIntervalMs);
    this.scanTimer.unref();
    this.pump();
  }

  /**
   * Cache blocks still dirty at start belong to files whose upload did not complete. The journal must say so too:
   * a crash between an upload being recorded and its blocks being marked clean, or between writes and their persist,
   * leaves the journal clean; such files are uploaded again (the local content is what the mount shows). Blocks of
   * inodes that no longer exist are dropped (the crash came between the unlink and the cache drop).
   */
  private async recoverCache(): Promise<void> {
    const { cache, journal, logger } = this.deps;
    const dirty = cache.dirtyInodes();
    for (const ino of dirty) {
      const inode = await journal.getSyncInode(ino);
      if (inode === null) {
        await cache.drop(ino);
        continue;
      }
      if (inode.type === 'file' && !inode.dataDirty) {
        await journal.markDirty(ino, { data: true });
      }
    }
    if (dirty.length > 0) {
      logger.log(`${dirty.length} file(s) with data not yet in Tahoe found in the cache; queued for upload`);
    }
  }

  /**
   * Waits until nothing is left to push, up to `timeoutMs` (default: the sync-drain-timeout setting), logging
   * progress; resolves to what is left (0 when everything reached Tahoe). New work is not delayed meanwhile.
   */
  async drain(timeoutMs = this.options.drainTimeoutMs): Promise<number> {
    const { logger } = this.deps;
    this.draining = true;
    const started = Date.now();
    const deadline = started + timeoutMs;
    let nextLog = started + DRAIN_LOG_INTERVAL_MS;
    let announced = false;
    let rescans = 0;
    await this.scan(true);
    for (;;) {
      this.tasks.expedite((task) => task.state === 'pending');
      this.pump();
      if (this.tasks.size === this.queuedRefusals() && this.running.upload + this.running.publish === 0) {
        // The journal may hold work the queue has not seen (or that a finished push left behind): look again, a
        // few times; an inode that no push can clean (a name Tahoe cannot hold) must not hold up the shutdown.
        if (rescans < DRAIN_RESCANS) {
          rescans += 1;
          await this.scan(true);
          if (this.tasks.size > 0) {
            continue;
          }
        }
        const stuck = await this.deps.journal.listDirty({ limit: 100 });
        if (stuck.length > 0) {
          logger.warn(
            `${stuck.length === 100 ? 'At least 100' : stuck.length} inode(s) stay out of sync, each with the reason ` +
              `in its sync error (e.g. inode ${stuck[0].ino}: ${stuck[0].syncError ?? 'no error recorded'})`,
          );
          return stuck.length;
        }
        if (announced) {
          logger.log(`Sync queue drained in ${Math.round((Date.now() - started) / 1000)} s`);
        }
        return 0;
      }
      const now = Date.now();
      if (!announced) {
        announced = true;
        logger.log(`Waiting for ${this.describeQueue()} to reach Tahoe (at most ${Math.round(timeoutMs / 1000)} s)`);
      } else if (now >= nextLog) {
        nextLog = now + DRAIN_LOG_INTERVAL_MS;
        logger.log(
          `Still waiting for ${this.describeQueue()}; ${Math.max(0, Math.round((deadline - now) / 1000))} s left`,
        );
      }
      if (now >= deadline) {
        const tasks = this.tasks.list();
        const sample = tasks
          .slice(0, 10)
          .map((task) => `${task.kind} of inode ${task.ino}${task.lastError ? ` (${task.lastError})` : ''}`)
          .join('; ');
        logger.error(
          `Gave up waiting after ${Math.round(timeoutMs / 1000)} s: ${this.describeQueue()} not in Tahoe yet` +
            `${sample ? `: ${sample}${tasks.length > 10 ? '; …' : ''}` : ''}. ` +
            'The data is safe in the local cache and journal and is pushed at the next start.',
        );
        return tasks.length;
      }
      await this.waitForProgress(Math.min(1000, deadline - now));
    }
  }

  /** Queued uploads that only another gateway can make (see refusedUploads). */
  private queuedRefusals(): number {
    let count = 0;
    for (const ino of this.refusedUploads) {
      const task = this.tasks.get('upload', ino);
      if (task === undefined) {
        this.refusedUploads.delete(ino);
      } else if (task.state === 'failed') {
        count += 1;
      }
    }
    return count;
  }

  private describeQueue(): string {
    const tasks = this.tasks.list();
    const uploads = tasks.filter((task) => task.kind === 'upload').length;
    const failing = tasks.filter((task) => task.state === 'failed');
    const last = failing.find((task) => task.lastError !== null)?.lastError;
    return (
      `${uploads} upload(s) and ${tasks.length - uploads} directory publish(es)` +
      (failing.length > 0 ? ` (${failing.length} failing, last error: ${last ?? 'unknown'})` : '')
    );
  }

  private async waitForProgress(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.progress.promise,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(1, ms));
      }),
    ]);
    clearTimeout(timer);
  }

  private signalProgress(): void {
    const current = this.progress;
    this.progress = deferred();
    current.resolve();
  }

  /** Stops background work: timers, then the pushes in flight (aborted), which are awaited. */
  async stop(): Promise<void> {
    if (this.stopped) {
      return;
    }
    this.stopped = true;
    this.stopHearingCommits();
    clearInterval(this.scanTimer);
    clearTimeout(this.pumpTimer);
    this.pumpTimerAt = undefined;
    this.deps.puller?.stop();
    this.abort.abort(new Error('the sync worker is stopping'));
    await Promise.allSettled([...this.inFlight]);
    await this.scanning;
  }

  // ---- scheduling --------------------------------------------------------------------------------------------------

  /** New content of a file was committed (close, flush; contentCommitted): upload it after the coalescing delay. */
  contentPersisted(ino: number): void {
    if (this.stopped) {
      return;
    }
    const dueAt = Date.now() + (this.draining ? 0 : this.options.coalesceDelayMs);
    this.tasks.schedule('upload', ino, dueAt, 'debounce');
    // A pump already armed to run by then will see the task: a pump per close (and its timer re-armed) cost a
    // small-file create loop 20 µs per file (CPU profile, 10,000 files).
    if (this.pumpTimerAt !== undefined && this.pumpTimerAt <= dueAt) {
      return;
    }
    this.pump();
  }

  private schedulePublish(dir: number, delayMs: number): void {
    this.tasks.schedule('publish', dir, this.spacedPublish(dir, Date.now() + (this.draining ? 0 : delayMs)), 'soon');
  }

  /** `dueAt`, or later when the directory's last publish was too recent (a shutdown drain does not wait). */
  private spacedPublish(dir: number, dueAt: number): number {
    const notBefore = this.publishNotBefore.get(dir);
    if (notBefore === undefined || this.draining) {
      return dueAt;
    }
    if (notBefore <= Date.now()) {
      this.publishNotBefore.delete(dir);
      return dueAt;
    }
    return Math.max(dueAt, notBefore);
  }

  /** Queues the work the journal's dirty inodes need. */
  private async scan(full: boolean): Promise<void> {
    if (this.stopped || (!full && this.tasks.size >= SCAN_QUEUE_LIMIT)) {
      return;
    }
    // A safety net and the way namespace changes reach the queue: while the mount is busy it runs less often, as its
    // reads compete with the burst (a tenth of a burst's create rate, measured).
    if (!full && this.yieldingToForeground() && Date.now() - (this.scannedAt ?? 0) < BUSY_SCAN_INTERVAL_MS) {
      return;
    }
    if (this.scanning) {
      await this.scanning;
      if (!full) {
        return;
      }
    }
    this.scanning = this.scanOnce(full).finally(() => {
      this.scanning = undefined;
    });
    await this.scanning;
  }

  private async scanOnce(full: boolean): Promise<void> {
    const now = Date.now();
    for (const [dir, notBefore] of this.publishNotBefore) {
      if (notBefore <= now) {
        this.publishNotBefore.delete(dir);
      }
    }
    try {
      let after = full ? 0 : this.scanCursor;
      if (after === 0) {
        this.passStartedAt = now;
      }
      for (;;) {
        const dirty = await this.deps.journal.listDirty({ afterIno: after, limit: SCAN_BATCH });
        const parents = await this.deps.journal.parentsOf(
          dirty.filter((inode) => inode.type !== 'dir' && !this.needsUpload(inode)).map((inode) => inode.ino),
        );
        for (const inode of dirty) {
          this.queueFor(inode, parents.get(inode.ino) ?? []);
        }
        after = dirty.length > 0 ? dirty[dirty.length - 1].ino : after;
        if (dirty.length < SCAN_BATCH) {
          this.scanCursor = 0;
          break;
        }
        this.scanCursor = after;
        if (!full) {
          break;
        }
      }
      if (this.scanCursor === 0) {
        // A pass that reached the end: everything dirty before it began is queued now.
        this.scannedAt = this.passStartedAt;
      }
      this.pump();
    } catch (error) {
      this.deps.logger.warn(`Scanning the journal for dirty inodes failed: ${message(error)}`);
    }
  }

  private needsUpload(inode: SyncInode): boolean {
    return inode.type === 'file' && (inode.dataDirty || inode.writeCap === null);
  }

  /**
   * The tasks one dirty inode needs: an upload, a publish of itself, and/or publishes of its parents (`parents`: the
   * directories naming a file, symlink or special file).
   */
  private queueFor(inode: SyncInode, parents: readonly number[]): void {
    const heldUntil = this.held.get(inode.ino);
    if (heldUntil !== undefined) {
      if (heldUntil > Date.now()) {
        return;
      }
      this.held.delete(inode.ino);
    }
    const delay = this.draining ? 0 : this.options.coalesceDelayMs;
    const dueAt = Math.max(Date.now(), (inode.dirtySince ?? Date.now()) + delay);
    if (this.needsUpload(inode)) {
      this.tasks.schedule('upload', inode.ino, dueAt, 'soon').bytes = inode.size;
      return;
    }
    if (inode.type === 'dir') {
      if (inode.entriesDirty || inode.writeCap === null || inode.ino === ROOT_INO) {
        this.tasks.schedule('publish', inode.ino, this.spacedPublish(inode.ino, dueAt), 'soon');
      }
      if (inode.ino !== ROOT_INO && inode.parent !== null && (inode.attrDirty || inode.writeCap === null)) {
        this.tasks.schedule('publish', inode.parent, this.spacedPublish(inode.parent, dueAt), 'soon');
      }
      if (!inode.entriesDirty && !inode.attrDirty && inode.ino !== ROOT_INO && inode.parent !== null) {
        // Flags already clear, state not: the publish that links it will say synced.
        this.tasks.schedule('publish', inode.parent, this.spacedPublish(inode.parent, dueAt), 'soon');
      }
      return;
    }
    for (const parent of new Set(parents)) {
      this.tasks.schedule('publish', parent, this.spacedPublish(parent, dueAt), 'soon');
    }
  }

  /**
   * Whether background pushes wait for now: applications keep the mount busy (a burst of creates, an extract, a
   * build), in writeback mode, with no drain asked for and the cache's dirty data under half its limit (writers must
   * never wait on pushes that wait on them). A push waits at most the longest coalescing delay from when it was
   * queued, so a mount busy for good still pushes, late.
   */
  private yieldingToForeground(): boolean {
    const { foreground, cache } = this.deps;
    return (
      foreground !== undefined &&
      this.options.mode === 'writeback' &&
      !this.draining &&
      cache.dirtyByteCount < cache.maxBytes / 2 &&
      foreground.busy()
    );
  }

  /** Starts due tasks up to the concurrency limits and arms a timer for the next one. */
  private pump(): void {
    if (this.stopped) {
      return;
    }
    const limits: Record<SyncTaskKind, number> = {
      upload: this.options.uploadConcurrency,
      publish: this.options.publishConcurrency,
    };
    const now = Date.now();
    const yielding = this.yieldingToForeground();
    /** While yielding: when the first task held back may no longer wait. */
    let recheckAt = Infinity;
    for (const kind of ['publish', 'upload'] as const) {
      while (this.running[kind] < limits[kind]) {
        const first = yielding ? this.tasks.first(kind) : undefined;
        if (first !== undefined && first.dueAt <= now && first.queuedAt + this.options.maxCoalesceDelayMs > now) {
          recheckAt = Math.min(
            recheckAt,
            now + FOREGROUND_RECHECK_MS,
            first.queuedAt + this.options.maxCoalesceDelayMs,
          );
          break;
        }
        const task = this.tasks.take(kind);
        if (task === undefined) {
          break;
        }
        const heldUntil = kind === 'publish' && !this.draining ? this.publishHeldUntil(task.ino) : undefined;
        if (heldUntil !== undefined) {
          this.tasks.postpone(task, heldUntil);
          continue;
        }
        this.running[kind] += 1;
        const run = this.runTask(task).finally(() => {
          this.running[kind] -= 1;
          this.inFlight.delete(run);
          this.signalProgress();
          this.pump();
        });
        this.inFlight.add(run);
      }
    }
    const next = [this.tasks.nextDueAt('upload'), this.tasks.nextDueAt('publish')]
      .filter((at): at is number => at !== undefined)
      .map((at) => (at <= now && recheckAt !== Infinity ? recheckAt : at))
      .reduce((min, at) => Math.min(min, at), Infinity);
    clearTimeout(this.pumpTimer);
    this.pumpTimerAt = undefined;
    if (next !== Infinity) {
      const delay = Math.max(10, next - Date.now());
      this.pumpTimerAt = Date.now() + delay;
      this.pumpTimer = setTimeout(() => {
        this.pumpTimerAt = undefined;
        this.pump();
      }, delay);
      this.pumpTimer.unref();
    }
  }

  /** See PublishHolds: a file holds its directory while its upload is queued or running, not while it is failing. */
  private publishHeldUntil(dir: number): number | undefined {
    return this.publishHolds.heldUntil(dir, (ino) => {
      const upload = this.tasks.get('upload', ino);
      return upload !== undefined && upload.state !== 'failed';
    });
  }

  private async runTask(task: SyncTask): Promise<void> {
    const { logger } = this.deps;
    const started = Date.now();
    try {
      const outcome = await this.push(task.kind, task.ino, false);
      if (task.kind === 'publish') {
        const spacing = Math.min(
          this.options.maxPublishSpacingMs,
          (Date.now() - started) * this.options.publishSpacingFactor,
        );
        this.publishNotBefore.set(task.ino, Date.now() + spacing);
      }
      if (outcome?.status === 'postponed') {
        this.tasks.postpone(task, Date.now() + this.options.coalesceDelayMs);
        return;
      }
      if (task.tries > 0) {
        logger.log(`${task.kind} of inode ${task.ino} succeeded after ${task.tries} failed attempt(s)`);
        // The grid answers again: retry what failed now rather than after its backoff.
        this.tasks.expedite((other) => other.state === 'failed');
      }
      this.failuresLogged.delete(task.key);
      if (task.kind === 'upload') {
        this.refusedUploads.delete(task.ino);
      }
      this.tasks.complete(task, task.kind === 'publish' ? this.spacedPublish(task.ino, 0) : 0);
    } catch (error) {
      if (this.stopped) {
        this.tasks.postpone(task, Date.now());
        return;
      }
      const text = message(error);
      for (const listener of this.failureListeners) {
        listener(task.kind);
      }
      const refused = error instanceof ForeignDirtyContentError;
      if (refused) {
        this.refusedUploads.add(task.ino);
      }
      const wait = refused
        ? this.options.backoffMaxMs
        : backoffDelay(task.tries + 1, this.options.backoffBaseMs, this.options.backoffMaxMs);
      this.tasks.fail(task, text, wait);
      if (!this.failuresLogged.has(task.key) || task.tries % 10 === 0) {
        this.failuresLogged.add(task.key);
        logger.warn(
          `${task.kind} of inode ${task.ino} failed (attempt ${task.tries}), retrying in ${Math.round(wait / 1000)} s: ${text}`,
        );
      }
    }
  }

  // ---- the push: before, push, after ---------------------------------------------------------------------------------

  /** Runs one push of an inode through the three hooks, one at a time per (kind, inode). */
  private async push(kind: SyncTaskKind, ino: number, explicit: boolean): Promise<UpstreamOutcome | null> {
    return this.mutex.run(`${kind}:${ino}`, async () => {
      const push = await this.beforePushUpstream(kind, ino, explicit);
      if (push === null) {
        return null;
      }
      let outcome: UpstreamOutcome;
      try {
        outcome = await this.pushUpstream(push);
      } catch (error) {
        await this.afterPushUpstream(push, { ok: false, error });
        throw error;
      }
      await this.afterPushUpstream(push, { ok: true, outcome });
      return outcome;
    });
  }

  /**
   * Hook: a push is about to start. Loads the inode and decides whether there is anything to do (null: no); an
   * upload of a file that is still being written is postponed.
   */
  async beforePushUpstream(kind: SyncTaskKind, ino: number, explicit: boolean): Promise<UpstreamPush | null> {
    const startedAt = Date.now();
    const inode = await this.deps.journal.getSyncInode(ino);
    if (kind === 'publish') {
      return { kind, ino, inode, explicit, startedAt };
    }
    if (inode === null || inode.nlink === 0 || inode.type !== 'file') {
      return null;
    }
    const task = this.tasks.get('upload', ino);
    if (task !== undefined) {
      task.bytes = inode.size;
    }
    if (inode.dataDirty || inode.writeCap === null) {
      await this.deps.journal.markSyncing(ino, inode.changeSeq);
    }
    return { kind, ino, inode, explicit, startedAt };
  }

  /** Hook: the push itself. An upload streams the file to Tahoe and records its cap; a publish reconciles a dirnode. */
  async pushUpstream(push: UpstreamPush): Promise<UpstreamOutcome> {
    const signal = this.abort.signal;
    if (push.kind === 'publish') {
      const result = await this.deps.publisher.publish(
        push.ino,
        signal,
        undefined,
        push.explicit ? {} : { unlinkBudgetMs: this.options.unlinkBudgetMs },
      );
      return result === null ? { status: 'clean' } : { status: 'pushed', bytes: 0, publish: result };
    }
    const { inode } = push;
    if (inode === null || (!inode.dataDirty && inode.writeCap !== null)) {
      return { status: 'clean' };
    }
    const { cache, journal, uploader } = this.deps;
    if (!push.explicit && cache.hasUnpersistedWrites(inode.ino)) {
      return { status: 'postponed', reason: 'the file has writes that are not persisted yet' };
    }
    const upload = await uploader.upload(inode, signal);
    if (upload === undefined || cache.writeGeneration(inode.ino) !== upload.generation) {
      return { status: 'postponed', reason: 'the file was written during the upload' };
    }
    if (!(await journal.recordUpload(inode.ino, inode.contentVersion, upload.cap, upload.cap))) {
      return { status: 'postponed', reason: 'the file changed during the upload' };
    }
    await cache.markClean(inode.ino, upload.dirtyBlocks, upload.generation);
    return { status: 'pushed', bytes: upload.bytes };
  }

  /** Hook: a push completed (outcome) or failed (error). Queues what follows: linking a file, publishing a parent. */
  async afterPushUpstream(push: UpstreamPush, ended: PushEnd): Promise<void> {
    if (!ended.ok) {
      if (!this.stopped) {
        await this.deps.journal
          .markFailed(push.ino, message(ended.error), (push.inode?.syncTries ?? 0) + 1)
          .catch(() => undefined);
      }
      return;
    }
    const result = ended.outcome;
    if (push.kind === 'publish') {
      if (result.status === 'pushed' && result.publish) {
        this.publishHolds.published(push.ino, result.publish.waiting, Date.now() - push.startedAt);
      } else {
        this.publishHolds.forget(push.ino);
      }
    }
    if (push.kind === 'publish' && result.status === 'pushed' && result.publish) {
      for (const ino of result.publish.unrepresentable) {
        // Cannot be linked until renamed: the scan leaves it alone for a while instead of republishing every second.
        this.held.set(ino, Date.now() + this.options.backoffMaxMs);
      }
    }
    if (push.explicit) {
      // An explicit flush publishes every directory up to the root itself. Queued here as well, those publishes
      // would run after the flush returned (spaced by the last publish's duration) and push whatever changed
      // meanwhile, long before --sync-delay.
      return;
    }
    if (push.kind === 'upload' && result.status !== 'postponed') {
      for (const link of await this.deps.journal.linksOf(push.ino)) {
        this.schedulePublish(link.parent, this.options.publishDelayMs);
      }
      this.pump();
      return;
    }
    if (push.kind === 'publish' && result.status === 'pushed' && result.publish) {
      const publish = result.publish;
      const parent = push.inode?.parent ?? null;
      if (publish.parentNeedsPublish && parent !== null) {
        this.schedulePublish(parent, 0);
      }
      if (publish.deferred > 0) {
        // A moved child's new place is published first; this directory unlinks it on a later run.
        this.schedulePublish(push.ino, Math.max(this.options.publishDelayMs, this.options.coalesceDelayMs));
      }
      this.pump();
    }
  }

  // ---- explicit flushes -----------------------------------------------------------------------------------------------

  /**
   * Uploads and links now: one inode (a file: its content and every link; a directory: every dirty inode below
   * it), or everything dirty. Resolves once it is in Tahoe and linked up to the root; rejects when that failed.
   */
  async flush(ino?: number): Promise<void>;
  async flush(request: FlushRequest, job: JobContext): Promise<FlushResult>;
  async flush(target?: number | FlushRequest, job?: JobContext): Promise<void | FlushResult> {
    if (typeof target === 'object' && job !== undefined) {
      return this.flushForAdmin(target, job);
    }
    const ino = typeof target === 'number' ? target : undefined;
    if (ino === undefined) {
      await this.flushAll();
      return;
    }
    const inode = await this.deps.journal.getSyncInode(ino);
    if (inode === null) {
      throw new FsError('ENOENT', `no inode ${ino}`);
    }
    const targets = inode.type === 'dir' ? await this.explicit.dirtyBelow(ino, () => true) : [inode];
    await this.explicit.pushAll(targets);
  }

  /** Pushes everything dirty now; rejects when something could not be pushed. */
  async flushAll(): Promise<void> {
    await this.explicit.pushAll(await this.explicit.allDirty());
  }

  /**
   * writethrough's sync point (flush, fsync, release of a file): returns once the file is in Tahoe and linked;
   * a failure is EIO (the data stays safe in the cache and is retried in the background).
   */
  async syncPoint(ino: number): Promise<void> {
    try {
      await this.explicit.flushFile(ino);
    } catch (error) {
      if (error instanceof FsError && error.code !== 'EIO') {
        throw error;
      }
      this.deps.logger.warn(`writethrough: inode ${ino} could not be pushed to Tahoe: ${message(error)}`);
      this.tasks.schedule('upload', ino, Date.now(), 'soon');
      this.pump();
      throw new FsError('EIO', `inode ${ino} could not be pushed to Tahoe: ${message(error)}`);
    }
  }

  // ---- SyncControl (the admin API) ---------------------------------------------------------------------------------

  private async flushForAdmin(request: FlushRequest, job: JobContext): Promise<FlushResult> {
    const isFile = (inode: SyncInode): boolean => inode.type === 'file';
    const targets = await this.explicit.targets(request.ino, isFile);
    const result = await this.explicit.runForJob(targets, job);
    return { files: result.files, bytes: result.bytes };
  }

  async sync(request: SyncRequest, job: JobContext): Promise<SyncResult> {
    const direction = request.direction ?? 'both';
    const result: SyncResult =
      direction === 'pull'
        ? { directories: 0, files: 0, bytes: 0 }
        : await this.explicit.runForJob(await this.explicit.targets(request.ino, () => true), job);
    const puller = this.deps.puller;
    if (direction === 'push' || puller === undefined) {
      return result;
    }
    const dir = await this.explicit.pullTarget(request.ino);
    const pulled = await puller.pullTree(dir, {
      signal: job.signal,
      onProgress: (done, queued, current) =>
        job.progress({ done, total: done + queued, unit: 'directories', message: `pulled directory ${current}` }),
    });
    return { ...result, pulled };
  }

  /**
   * Fetches the blocks of synced files that the cache lacks. Only files whose content is exactly their last uploaded
   * version are warmed (the cap then holds every byte the mount shows); dirty files are local already.
   */
  async warmup(request: WarmupRequest, job: JobContext): Promise<WarmupResult> {
    const { journal, remote } = this.deps;
    const files: SyncInode[] = [];
    const root = await journal.getSyncInode(request.ino);
    if (root === null) {
      throw new FsError('ENOENT', `no inode ${request.ino}`);
    }
    if (root.type === 'file') {
      files.push(root);
    } else if (root.type === 'dir') {
      const pending = [root.ino];
      while (pending.length > 0) {
        for (const child of await journal.children(pending.pop()!)) {
          if (child.inode.type === 'file') {
            files.push(child.inode);
          } else if (child.inode.type === 'dir' && request.recursive) {
            pending.push(child.inode.ino);
          }
        }
      }
    }
    job.progress({ done: 0, total: files.length, unit: 'files' });
    let bytes = 0;
    let warmed = 0;
    for (const [index, file] of files.entries()) {
      job.throwIfCancelled();
      const uploaded = (file.readCap ?? file.writeCap) !== null;
      if (uploaded && !file.dataDirty && file.syncedContentVersion === file.contentVersion) {
        await remote.warm(file.ino, file.size, job.signal);
        bytes += file.size;
        warmed += 1;
      }
      job.progress({ done: index + 1, message: `inode ${file.ino}` });
    }
    return { files: warmed, bytes };
  }

  queue(query: SyncQueueQuery): Promise<SyncQueuePage> {
    const all = this.tasks.list();
    const depth: Record<string, number> = { upload: 0, publish: 0 };
    let oldest = Infinity;
    for (const task of all) {
      if (task.state !== 'failed') {
        depth[task.kind] = (depth[task.kind] ?? 0) + 1;
      }
      oldest = Math.min(oldest, task.queuedAt);
    }
    // The first offset+limit by age only: sorting a queue of 100k tasks on every poll of a monitor cost the
    // drain it was watching.
    const page = firstBy(all, query.offset + query.limit, (a, b) => a.since - b.since || a.ino - b.ino);
    return Promise.resolve({
      items: page.slice(query.offset).map(queueItem),
      total: all.length,
      depth,
      oldestDirtyAgeSeconds: oldest === Infinity ? null : Math.max(0, Math.round((Date.now() - oldest) / 1000)),
      scannedAt: this.scannedAt,
    });
  }

  tasksOf(ino: number): SyncQueueItem[] {
    return (['upload', 'publish'] as const).flatMap((kind) => {
      const task = this.tasks.get(kind, ino);
      return task === undefined ? [] : [queueItem(task)];
    });
  }
}
