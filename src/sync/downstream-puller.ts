import { SerialQueue } from '../common/async/serial-queue';
import type { LoggerService } from '@nestjs/common';
import type { BlockCache } from '../cache/block-cache';
import type { LocalContentGate } from '../cache/local-content-gate';
import type { MetadataEvents } from '../metadata/metadata-events';
import { type InodeRecord, ROOT_INO } from '../metadata/metadata.types';
import type { RemoteApplyResult, SyncInode, SyncJournal } from '../metadata/sync-journal';
import type { StateStore } from '../state/state-store';
import { redactCapsInText } from '../tahoe/cap.util';
import type { TahoeClient } from '../tahoe/tahoe.client';
import { joinsByIdentity, namesChangedBy } from './pulled-name';
import { type PullPlan, planPull, readRemoteEntries } from './pull-plan';
import type { RootCapService } from './root-cap.service';
import { BackgroundRefreshes } from './background-refreshes';
import type { ForegroundActivity } from './foreground-activity';

export interface DownstreamPullerDeps {
  journal: SyncJournal;
  tahoe: TahoeClient;
  state: StateStore;
  /** Drops the cached blocks of a file whose content changed remotely. */
  cache: Pick<BlockCache, 'drop'>;
  /**
   * Whether a file has local content not yet in Tahoe (dirty blocks, writes not yet in SQL, a writable handle), asked
   * atomically with local writes: a file it holds is replaced or removed, any other is a conflict (local wins).
   */
  localContent: Pick<LocalContentGate, 'holdForRemoteChange'>;
  rootCap: Pick<RootCapService, 'current'>;
  logger: LoggerService;
  /** Owner of entries whose edges carry no `riverfs` metadata: the mounting user. */
  defaultOwner: { uid: number; gid: number };
  /** Where a pull announces what it applied (remoteApplied), once the old content's blocks are gone. */
  events: Pick<MetadataEvents, 'publish'>;
  /** Whether applications keep the mount busy: refreshes of stale listings wait meanwhile (BackgroundRefreshes). */
  foreground?: Pick<ForegroundActivity, 'busy'>;
}

export interface DownstreamPullerOptions {
  /** How long a listing is trusted before a lookup fetches it again (the dir-ttl setting). */
  ttlMs: number;
  /**
   * How long a lookup waits for a pull (the listing, and a publish of the same dirnode that holds its lock) before
   * it is answered from what the database has: an unreachable grid must not hang the mount.
   */
  lookupWaitMs: number;
  lockTtlMs: number;
  /**
   * A directory's listing is refreshed no sooner than this many times as long as its last pull took (at most
   * `maxRefreshMs`): listing and comparing a dirnode of N entries is O(N), so refreshing a 100,000-entry directory
   * every TTL while it was being written kept the gateway busy with its own writes coming back.
   */
  refreshSpacingFactor: number;
  maxRefreshMs: number;
}

export const DEFAULT_PULL_OPTIONS: Omit<DownstreamPullerOptions, 'ttlMs'> = {
  lookupWaitMs: 5000,
  lockTtlMs: 30_000,
  refreshSpacingFactor: 4,
  maxRefreshMs: 600_000,
};

export interface PullOptions {
  signal?: AbortSignal;
  lockWaitMs?: number;
  /** Rebuild: keep the inode numbers the tree was published with (`riverfs` metadata `ino`). */
  keepInodeNumbers?: boolean;
}

/** What one pull of one directory did. */
export interface PullResult {
  dir: number;
  added: number;
  updated: number;
  removed: number;
  /** Names of the conflict copies made (the remote version kept beside the local one). */
  conflicts: string[];
  /** Changes left for the next pull because the entry changed locally meanwhile. */
  skipped: number;
  /** Subdirectories in the listing (what a recursive pull visits next). */
  subdirectories: number[];
}

/** One pull of one directory, as the hooks see it. */
export interface DownstreamPull {
  dir: number;
  inode: SyncInode;
  cap: string;
  options: PullOptions;
  /** When the pull started (ms since the epoch). */
  startedAt: number;
}

export type PullEnd = { ok: true; result: PullResult } | { ok: false; error: unknown };

/** Warnings about failed pulls on the lookup path are logged at most this often per directory. */
const WARN_INTERVAL_MS = 60_000;

function message(error: unknown): string {
  return redactCapsInText(error instanceof Error ? error.message : String(error));
}

/**
 * The downstream half of sync (DESIGN.md §4): a directory's dirnode listing (`t=json`) compared with what was last
 * synced (`synced_entry`) and with SQL, the difference applied to SQL. Listings are fetched lazily — when a lookup
 * or readdir first looks into a directory and again once the listing is older than the TTL — and on demand (the
 * admin API's forced pull, `riverfs fsck --rebuild`).
 *
 * Remote additions appear, removals disappear, a changed cap replaces the file's content (its cached blocks are
 * dropped). When the same entry also has local changes not yet in Tahoe, local wins and the remote version is kept
 * beside it as `NAME.conflict-<timestamp>`, which the next publish puts in Tahoe too: nothing is lost on either side.
 * A pull holds the dirnode's lock, so it never interleaves with a publish of the same directory by any gateway.
 *
 * Each pull goes through the hooks `beforePullDownstream` (load the directory and its cap), `pullDownstream` (list,
 * compare, apply) and `afterPullDownstream` (caches, logs).
 */
export class DownstreamPuller {
  /** When each directory was last listed by this process. */
  private readonly listedAt = new Map<number, number>();
  /** How long each directory's last pull took (ms), for directories whose pull took a noticeable time. */
  private readonly pullCost = new Map<number, number>();
  private readonly inFlight = new Map<number, Promise<PullResult | null>>();
  private readonly warnedAt = new Map<number, number>();
  /**
   * Pulls that may add a name of a hard link apply one at a time: each looks for the inode another name already made,
   * and two transactions running side by side (MariaDB) would each miss the other's and make two.
   */
  private readonly joining = new SerialQueue();
  private readonly refreshes: BackgroundRefreshes;

  constructor(
    private readonly deps: DownstreamPullerDeps,
    private readonly options: DownstreamPullerOptions,
  ) {
    this.refreshes = new BackgroundRefreshes(
      (dir) => this.pull(dir).catch((error: unknown) => this.warnPullFailed(dir, error)),
      () => deps.foreground?.busy() ?? false,
    );
  }

  /** Stops refreshes that wait to run (pulls under way end on their own). */
  stop(): void {
    this.refreshes.stop();
  }

  /**
   * The lookup path's check, called for every directory a path walks through. Nothing (no promise, no await) while
   * the directory's listing is fresh. Once it is older than the TTL, the lookup is answered from SQL at once and the
   * listing is fetched behind it (a few at a time, after the mount stops being busy: BackgroundRefreshes). Only a directory never listed (pulled from its parent, or the root of a mounted
   * tree) makes the lookup wait for its listing, and then at most `lookupWaitMs`: past that, or when Tahoe cannot be
   * reached, the mount answers from SQL (an unreachable grid must not hang it) and the pull goes on in the background.
   */
  ensureListed(dir: InodeRecord): Promise<void> | undefined {
    if (dir.type !== 'dir') {
      return undefined;
    }
    const now = Date.now();
    const last = this.listedAt.get(dir.ino) ?? dir.listedAt ?? undefined;
    if (last !== undefined && now - last < this.refreshAfter(dir.ino)) {
      return undefined;
    }
    // One pull per TTL, however many lookups arrive meanwhile.
    this.listedAt.set(dir.ino, now);
    if (dir.ino !== ROOT_INO && dir.writeCap === null) {
      // Made here and not published yet: there is nothing in Tahoe to list.
      return undefined;
    }
    if (last !== undefined) {
      this.refreshes.request(dir.ino);
      return undefined;
    }
    const pulled = this.pull(dir.ino).then(
      () => undefined,
      (error: unknown) => this.warnPullFailed(dir.ino, error),
    );
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      pulled,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.options.lookupWaitMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** How long a directory's listing is trusted: the TTL, or longer for a directory that takes long to pull. */
  refreshAfter(dir: number): number {
    const cost = this.pullCost.get(dir) ?? 0;
    return Math.max(this.options.ttlMs, Math.min(this.options.maxRefreshMs, cost * this.options.refreshSpacingFactor));
  }

  private warnPullFailed(dir: number, error: unknown): void {
    const warned = this.warnedAt.get(dir) ?? 0;
    if (Date.now() - warned >= WARN_INTERVAL_MS) {
      this.warnedAt.set(dir, Date.now());
      this.deps.logger.warn(
        `Directory ${dir} could not be listed from Tahoe; answering from the local database: ${message(error)}`,
      );
    }
  }

  /**
   * Pulls one directory now (a pull already running for it is shared). Null when there is nothing to pull: the
   * directory is gone, or has no dirnode yet.
   */
  pull(dir: number, options: PullOptions = {}): Promise<PullResult | null> {
    const running = this.inFlight.get(dir);
    if (running !== undefined) {
      return running;
    }
    const started = this.runPull(dir, options).finally(() => this.inFlight.delete(dir));
    this.inFlight.set(dir, started);
    return started;
  }

  /**
   * Pulls a directory and every directory below it, parents before children. `onProgress` hears of each directory
   * done; `signal` stops the walk between directories.
   */
  async pullTree(
    dir: number,
    options: PullOptions & { onProgress?: (done: number, queued: number, dir: number) => void } = {},
  ): Promise<{ directories: number; added: number; updated: number; removed: number; conflicts: string[] }> {
    const total = { directories: 0, added: 0, updated: 0, removed: 0, conflicts: [] as string[] };
    const pending = [dir];
    const seen = new Set<number>();
    while (pending.length > 0) {
      options.signal?.throwIfAborted();
      const current = pending.shift()!;
      if (seen.has(current)) {
        continue;
      }
      seen.add(current);
      const result = await this.pull(current, options);
      total.directories += 1;
      if (result !== null) {
        total.added += result.added;
        total.updated += result.updated;
        total.removed += result.removed;
        total.conflicts.push(...result.conflicts);
        pending.push(...result.subdirectories);
      } else {
        // Not in Tahoe yet (made here): its subdirectories may still hold pulled ones.
        for (const child of await this.deps.journal.children(current)) {
          if (child.inode.type === 'dir') {
            pending.push(child.inode.ino);
          }
        }
      }
      options.onProgress?.(total.directories, pending.length, current);
    }
    return total;
  }

  private async runPull(dir: number, options: PullOptions): Promise<PullResult | null> {
    const pull = await this.beforePullDownstream(dir, options);
    if (pull === null) {
      this.listedAt.set(dir, Date.now());
      return null;
    }
    let ended: PullEnd;
    try {
      ended = { ok: true, result: await this.pullDownstream(pull) };
    } catch (error) {
      ended = { ok: false, error };
    }
    await this.afterPullDownstream(pull, ended);
    if (!ended.ok) {
      throw ended.error;
    }
    return ended.result;
  }

  /** Hook: a pull starts. Loads the directory and its dirnode's cap; null when there is nothing to pull. */
  async beforePullDownstream(dir: number, options: PullOptions): Promise<DownstreamPull | null> {
    const startedAt = Date.now();
    const inode = await this.deps.journal.getSyncInode(dir);
    if (inode === null || inode.type !== 'dir' || inode.nlink === 0) {
      return null;
    }
    const cap = dir === ROOT_INO ? (this.deps.rootCap.current ?? inode.writeCap) : inode.writeCap;
    if (cap === null) {
      return null;
    }
    return { dir, inode, cap, options, startedAt };
  }

  /** Hook: the pull itself, under the dirnode's lock: list, compare with SQL and the last synced state, apply. */
  async pullDownstream(pull: DownstreamPull): Promise<PullResult> {
    const { journal, state, tahoe } = this.deps;
    const { signal, lockWaitMs } = pull.options;
    return state.withLock(
      `dirnode:${pull.dir}`,
      { ttlMs: this.options.lockTtlMs, waitMs: lockWaitMs ?? 120_000 },
      async () => {
        const listing = await tahoe.listDirectory(pull.cap, { signal });
        const listedAt = Date.now();
        const remote = await readRemoteEntries(listing.children, this.deps, signal);
        const local = await journal.children(pull.dir);
        const synced = await journal.syncedEntries(pull.dir);
        // Files whose content this pull replaces or removes: no local write starts on them until the old blocks are gone.
        const held = new Map<number, () => void>();
        let applied: RemoteApplyResult;
        let plan: PullPlan;
        try {
          plan = await planPull(
            {
              remote,
              localChildren: local,
              syncedEntries: synced,
              listedAt,
              held,
              keepInodeNumbers: pull.options.keepInodeNumbers === true,
            },
            this.deps,
          );
          signal?.throwIfAborted();
          const apply = (): Promise<RemoteApplyResult> =>
            journal.applyRemote(pull.dir, plan.changes, { listedAt, publishAfter: plan.publishAfter });
          applied = plan.changes.some(joinsByIdentity) ? await this.joining.run(apply) : await apply();
          for (const ino of applied.dropData) {
            await this.dropUnlessWritten(ino, held);
          }
        } finally {
          for (const release of held.values()) {
            release();
          }
        }
        if (applied.applied > 0 && plan.changes.some((change) => change.kind !== 'acknowledge')) {
          this.deps.events.publish('remoteApplied', {
            inos: applied.changed,
            names: namesChangedBy(pull.dir, plan.changes),
          });
        }
        const removed = new Set(plan.changes.flatMap((change) => (change.kind === 'remove' ? [change.child] : [])));
        const subdirectories = new Set<number>(
          local
            .filter((child) => child.inode.type === 'dir' && !removed.has(child.inode.ino))
            .map((child) => child.inode.ino),
        );
        const addedDirs = new Set(
          plan.changes.flatMap((change) =>
            change.kind === 'add' && change.node.type === 'dir' ? [change.name.toString('hex')] : [],
          ),
        );
        for (const added of applied.added) {
          if (addedDirs.has(added.name.toString('hex'))) {
            subdirectories.add(added.ino);
          }
        }
        return {
          dir: pull.dir,
          added: plan.changes.filter((change) => change.kind === 'add' && change.publish !== true).length,
          updated: plan.changes.filter((change) => change.kind === 'update').length,
          removed: plan.changes.filter((change) => change.kind === 'remove').length,
          conflicts: plan.conflicts,
          skipped: applied.skipped,
          subdirectories: [...subdirectories],
        };
      },
    );
  }

  /**
   * Drops the cached blocks of a file the pull replaced or removed. A file it did not hold (one below a directory
   * removed remotely) is held now, and left alone when it has local content: its bytes stay for its writer.
   */
  private async dropUnlessWritten(ino: number, held: Map<number, () => void>): Promise<void> {
    if (!held.has(ino)) {
      const release = this.deps.localContent.holdForRemoteChange(ino);
      if (release === undefined) {
        this.deps.logger.warn(`File ${ino} left Tahoe while it was being written here: its cached data is kept`);
        return;
      }
      held.set(ino, release);
    }
    await this.deps.cache.drop(ino);
  }

  /** Hook: a pull ended. The directory counts as listed either way (a failure is retried after the TTL). */
  afterPullDownstream(pull: DownstreamPull, ended: PullEnd): Promise<void> {
    const now = Date.now();
    this.listedAt.set(pull.dir, now);
    const cost = now - pull.startedAt;
    if (cost * this.options.refreshSpacingFactor > this.options.ttlMs) {
      this.pullCost.set(pull.dir, cost);
    } else {
      this.pullCost.delete(pull.dir);
    }
    if (ended.ok) {
      const { added, updated, removed, conflicts } = ended.result;
      if (added + updated + removed > 0) {
        this.deps.logger.debug?.(
          `Pulled directory ${pull.dir}: ${added} added, ${updated} changed, ${removed} removed remotely`,
        );
      }
      if (conflicts.length > 0) {
        this.deps.logger.warn(
          `Directory ${pull.dir} changed both here and in Tahoe: local versions kept, remote ones saved as ` +
            conflicts.map((name) => JSON.stringify(name)).join(', '),
        );
      }
    }
    return Promise.resolve();
  }
}
