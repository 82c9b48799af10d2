import {
  type BeforeApplicationShutdown,
  type DynamicModule,
  Inject,
  Logger,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { BlockCache } from '../cache/block-cache';
import { LocalContentGate } from '../cache/local-content-gate';
import { boundedStep, SHUTDOWN_STEP_MS } from '../common/lifecycle/bounded-step';
import { LOG_LEVELS, type RiverFsConfig } from '../config/config.schema';
import { MetadataStore } from '../metadata/metadata.store';
import { CachedMetadataStore } from '../metadata/cached-metadata.store';
import { FileLockService, LocksModule } from '../locks';
import { FuseService } from './fuse.service';
import { FuseMountStatus } from './fuse-mount-status';
import { MountStatus } from '../health/mount-status';
import {
  DEFAULT_ATTR_TIMEOUT_SECONDS,
  DEFAULT_HIGHLEVEL_ENTRY_TIMEOUT_SECONDS,
  DEFAULT_LOWLEVEL_TIMEOUT_SECONDS,
  type FuseApi,
} from './mount-options';
import { RiverFsMetrics } from '../metrics/riverfs-metrics.service';
import { RemoteBlocks } from '../sync/remote-blocks';
import { TahoeSyncWorker } from '../sync/tahoe-sync.worker';
import { ForegroundActivity } from '../sync/foreground-activity';
import { RiverFs } from './river-fs';
import { GridCapacity } from './grid-capacity';
import { InodeUsage } from './inode-usage';
import { InodeCensus } from '../metadata/inode-census';
import { TahoeClient } from '../tahoe/tahoe.client';

export interface FsOpsModuleOptions {
  mountpoint: string;
  allowOther?: boolean;
  /** Override the configuration's fuseApi, attrTimeout and entryTimeout. */
  fuseApi?: FuseApi;
  attrTimeoutSeconds?: number;
  entryTimeoutSeconds?: number;
}

/** The API and kernel cache timeouts the mount uses: the options', else the configuration's, else the API's default. */
function fuseSettings(
  config: RiverFsConfig,
  options: FsOpsModuleOptions,
): { fuseApi: FuseApi; attrTimeoutSeconds: number; entryTimeoutSeconds: number } {
  const fuseApi = options.fuseApi ?? config.fuseApi;
  if (fuseApi === 'lowlevel') {
    return {
      fuseApi,
      attrTimeoutSeconds: options.attrTimeoutSeconds ?? config.attrTimeout ?? DEFAULT_LOWLEVEL_TIMEOUT_SECONDS,
      entryTimeoutSeconds: options.entryTimeoutSeconds ?? config.entryTimeout ?? DEFAULT_LOWLEVEL_TIMEOUT_SECONDS,
    };
  }
  // The high-level API gives each name its own kernel inode: attributes cannot be cached (see mount-options.ts).
  return {
    fuseApi,
    attrTimeoutSeconds: options.attrTimeoutSeconds ?? DEFAULT_ATTR_TIMEOUT_SECONDS,
    entryTimeoutSeconds: options.entryTimeoutSeconds ?? DEFAULT_HIGHLEVEL_ENTRY_TIMEOUT_SECONDS,
  };
}

/**
 * How long this gateway trusts metadata it has cached. Alone (no Redis), it makes every change itself and updates
 * the cache as it does (its own writes, and what its sync worker and pulls announce on the metadata bus), so the
 * time to live is only a safety net and the entry bound (100,000) limits the memory. It was 60 s: a walk after a
 * long upload (10,000 small files take about 5 minutes to reach Tahoe here) found the rows read again during the upload
 * expired, and went to SQL for each (small-file stat at 66% of the pass-through in the benchmark). With other gateways
 * sharing the database, their changes are seen after the same delay the kernel's attribute cache already imposes.
 */
const ALONE_METADATA_CACHE_TTL_MS = 10 * 60_000;

function metadataCacheTtlMs(config: RiverFsConfig, options: FsOpsModuleOptions): number {
  return config.redis === undefined
    ? ALONE_METADATA_CACHE_TTL_MS
    : Math.max(1, fuseSettings(config, options).entryTimeoutSeconds) * 1000;
}

/** Flushing open files and waiting for calls in flight (10 s each), then fusermount (10 s). */
const UNMOUNT_STEP_MS = 35_000;

/** Owner of the root directory and, until callers' credentials are known, of new inodes: the mounting user. */
function mountingUser(): { uid: number; gid: number } {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

/**
 * The mount: RiverFs (the executor) over the metadata store and the block cache, and the FuseService that mounts
 * it when the application has started and unmounts it (after flushing) when it stops.
 */
@Module({})
export class FsOpsModule implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('FuseService');
  private left: number | undefined;

  constructor(
    @Inject(FuseService) private readonly fuse: FuseService,
    @Inject(MetadataStore) private readonly meta: MetadataStore,
    @Inject(BlockCache) private readonly cache: BlockCache,
    @Inject(GridCapacity) private readonly capacity: GridCapacity,
    @Inject(InodeUsage) private readonly inodeUsage: InodeUsage,
    @Optional() @Inject(TahoeSyncWorker) private readonly sync?: TahoeSyncWorker,
  ) {}

  static forRoot(config: RiverFsConfig, options: FsOpsModuleOptions): DynamicModule {
    const logger = new Logger('FuseService');
    const locks = LocksModule.forRoot({ sessionInfo: { mountpoint: options.mountpoint } });
    return {
      module: FsOpsModule,
      imports: [locks],
      providers: [
        {
          provide: GridCapacity,
          inject: [BlockCache, { token: TahoeClient, optional: true }],
          useFactory: (cache: BlockCache, tahoe: TahoeClient | undefined): GridCapacity =>
            new GridCapacity({
              // Without a Tahoe client (tests of the mount alone) there is no grid to ask: the cache's limits stay.
              fetchStatus: tahoe
                ? (signal) => tahoe.gridStatus({ signal })
                : () => Promise.reject(new Error('no Tahoe client')),
              sharesNeeded: config.gridSharesNeeded,
              sharesTotal: config.gridSharesTotal,
              pendingBytes: () => cache.stats().dirtyBytes,
              // Uploaded (clean) blocks are pinned too (see the eviction guard): everything cached is used.
              fallback: () => ({
                totalBytes: config.cacheSize,
                freeBytes: Math.max(0, config.cacheSize - cache.stats().usedBytes),
              }),
              onError: tahoe
                ? (error) =>
                    logger.warn(
                      `grid capacity for statfs not refreshed: ${error instanceof Error ? error.message : String(error)}`,
                    )
                : undefined,
            }),
        },
        {
          provide: InodeUsage,
          // Optional: tests of the mount over a bare MetadataStore have no census; statfs then shows 0 used.
          inject: [{ token: InodeCensus, optional: true }],
          useFactory: (census: InodeCensus | undefined): InodeUsage =>
            new InodeUsage({
              count: census ? () => census.count() : () => Promise.resolve(0),
              onError: (error) =>
                logger.warn(
                  `inode count for statfs not refreshed: ${error instanceof Error ? error.message : String(error)}`,
                ),
            }),
        },
        {
          provide: RiverFs,
          inject: [
            MetadataStore,
            BlockCache,
            LocalContentGate,
            GridCapacity,
            InodeUsage,
            { token: TahoeSyncWorker, optional: true },
            { token: RemoteBlocks, optional: true },
          ],
          useFactory: (
            meta: MetadataStore,
            cache: BlockCache,
            localContent: LocalContentGate,
            capacity: GridCapacity,
            inodeUsage: InodeUsage,
            sync: TahoeSyncWorker | undefined,
            remote: RemoteBlocks | undefined,
          ): RiverFs => {
            const cached = new CachedMetadataStore(meta, { ttlMs: metadataCacheTtlMs(config, options) });
            // Blocks the cache lacks come from Tahoe (RemoteBlocks): clean blocks are evictable. Without sync nothing
            // can fetch them back, so they stay.
            if (!remote) {
              cache.setEvictionGuard(() => false);
            }
            const puller = sync?.puller;
            return new RiverFs(cached, cache, {
              defaultOwner: mountingUser(),
              capacity: () => Promise.resolve(capacity.current()),
              inodesUsed: () => inodeUsage.current(),
              syncPoint: sync?.mode === 'writethrough' ? (ino) => sync.syncPoint(ino) : undefined,
              remoteBlocks: remote,
              localContent,
              ensureListed: puller ? (dir) => puller.ensureListed(dir) : undefined,
            });
          },
        },
        {
          provide: FuseService,
          inject: [
            RiverFs,
            { token: RiverFsMetrics, optional: true },
            FileLockService,
            { token: ForegroundActivity, optional: true },
          ],
          useFactory: (
            riverFs: RiverFs,
            metrics: RiverFsMetrics | undefined,
            locks: FileLockService,
            activity: ForegroundActivity | undefined,
          ): FuseService => {
            return new FuseService(riverFs, {
              locks,
              activity,
              observe: metrics ? (op, result, seconds) => metrics.observeFuseOp(op, result, seconds) : undefined,
              mountpoint: options.mountpoint,
              allowOther: options.allowOther ?? false,
              ...fuseSettings(config, options),
              log: {
                warn: (message) => logger.warn(message),
                error: (message) => logger.error(message),
                // Only when debug lines are logged: an answer such as ENOENT or ENODATA is an everyday outcome, and
                // building its line for nothing cost microseconds per call.
                debug:
                  LOG_LEVELS.indexOf(config.logLevel) >= LOG_LEVELS.indexOf('debug')
                    ? (message) => logger.debug(message)
                    : undefined,
              },
            });
          },
        },
        { provide: MountStatus, inject: [FuseService], useFactory: (fuse: FuseService) => new FuseMountStatus(fuse) },
      ],
      // The lock service too: /metrics shows how many lock requests wait.
      exports: [RiverFs, FuseService, MountStatus, GridCapacity, locks],
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.meta.initFilesystem({ ...mountingUser(), mode: 0o755 });
    // Root cap settled and crash leftovers queued before anything is served; an unreachable grid does not stop this.
    await this.sync?.start();
    this.capacity.start();
    this.inodeUsage.start();
    await this.fuse.mount();
    this.logger.log(`mounted on ${this.fuse.mountpoint}`);
  }

  /**
   * Unmounts, then drains and stops the sync worker. Each step is bounded and a failing one (the mount already gone,
   * the database unreachable) is logged and the next still runs: a shutdown always reaches its end.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const log = { warn: (message: string) => this.logger.warn(message) };
    this.capacity.stop();
    this.inodeUsage.stop();
    if (this.fuse.mounted) {
      const unmounted = await boundedStep('unmounting', UNMOUNT_STEP_MS, log, () => this.fuse.unmount());
      if (unmounted.ok) {
        this.logger.log(`unmounted ${this.fuse.mountpoint}`);
      }
    }
    const sync = this.sync;
    if (sync) {
      // Unmounted first: open files were flushed, nothing new arrives; then what is dirty goes to Tahoe. The drain
      // keeps its own deadline; the slack covers a database call it is stuck in when the deadline passes.
      const drained = await boundedStep('draining the sync queue', sync.drainTimeoutMs + SHUTDOWN_STEP_MS, log, () =>
        sync.drain(),
      );
      this.left = drained.ok ? drained.value : undefined;
      await boundedStep('stopping the sync worker', SHUTDOWN_STEP_MS, log, () => sync.stop());
    }
  }

  /**
   * What the shutdown drain left out of Tahoe: 0 when everything reached it, undefined when the drain did not run to
   * its end (or has not run).
   */
  get leftAfterDrain(): number | undefined {
    return this.left;
  }

  async onApplicationShutdown(): Promise<void> {
    await boundedStep('closing the block cache', SHUTDOWN_STEP_MS, this.logger, () => this.cache.close());
  }
}
