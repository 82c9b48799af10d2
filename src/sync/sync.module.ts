import { type DynamicModule, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { SyncControl } from '../admin/sync-control';
import { BlockCache } from '../cache/block-cache';
import { LocalContentGate } from '../cache/local-content-gate';
import { boundedStep, SHUTDOWN_STEP_MS } from '../common/lifecycle/bounded-step';
import type { RiverFsConfig } from '../config/config.schema';
import { MetadataStore } from '../metadata/metadata.store';
import { SyncJournal } from '../metadata/sync-journal';
import { StateStore } from '../state/state-store';
import { TahoeClient } from '../tahoe/tahoe.client';
import { DirnodePublisher } from './dirnode-publisher.service';
import { DEFAULT_PULL_OPTIONS, DownstreamPuller } from './downstream-puller';
import { ensureDataDirectoryId } from '../metadata/data-directory-id';
import { FileUploader } from './file-uploader.service';
import { ForegroundActivity } from './foreground-activity';
import { RemoteBlocks } from './remote-blocks';
import { RootCapService } from './root-cap.service';
import { DEFAULT_SYNC_OPTIONS, TahoeSyncWorker, type TahoeSyncWorkerOptions } from './tahoe-sync.worker';

/** How long mount start waits for the grid to create a root directory before mounting without one. */
const ROOT_CREATE_TIMEOUT_MS = 20_000;

/**
 * Upstream sync: the TahoeSyncWorker (also exported as the admin API's SyncControl) and the RootCapService. The
 * worker is started and drained by the mount (FsOpsModule), which knows when the filesystem is served; this module
 * only makes sure it is stopped at shutdown. Needs MetadataStore, SyncJournal, BlockCache, LocalContentGate, StateStore and TahoeClient.
 */
@Module({})
export class SyncModule implements OnApplicationShutdown {
  constructor(
    @Inject(TahoeSyncWorker) private readonly worker: TahoeSyncWorker,
    @Inject(RemoteBlocks) private readonly remote: RemoteBlocks,
  ) {}

  static forRoot(
    config: Pick<
      RiverFsConfig,
      'mode' | 'syncDrainTimeout' | 'syncDelay' | 'uploadConcurrency' | 'dirTtl' | 'rootCap' | 'dataDir'
    >,
    overrides: Partial<TahoeSyncWorkerOptions> = {},
  ): DynamicModule {
    return {
      module: SyncModule,
      providers: [
        {
          provide: TahoeSyncWorker,
          inject: [
            MetadataStore,
            SyncJournal,
            BlockCache,
            LocalContentGate,
            TahoeClient,
            StateStore,
            RemoteBlocks,
            ForegroundActivity,
          ],
          useFactory: (
            meta: MetadataStore,
            journal: SyncJournal,
            cache: BlockCache,
            localContent: LocalContentGate,
            tahoe: TahoeClient,
            state: StateStore,
            remote: RemoteBlocks,
            foreground: ForegroundActivity,
          ): TahoeSyncWorker => {
            const logger = new Logger(TahoeSyncWorker.name);
            const options: TahoeSyncWorkerOptions = {
              ...DEFAULT_SYNC_OPTIONS,
              mode: config.mode,
              drainTimeoutMs: config.syncDrainTimeout * 1000,
              coalesceDelayMs: config.syncDelay * 1000,
              maxCoalesceDelayMs: Math.max(DEFAULT_SYNC_OPTIONS.maxCoalesceDelayMs, config.syncDelay * 30_000),
              uploadConcurrency: config.uploadConcurrency,
              ...overrides,
            };
            const rootCap = new RootCapService(
              { meta, journal, tahoe, state, logger: new Logger('RootCap') },
              { configuredCap: config.rootCap, dataDir: config.dataDir, createTimeoutMs: ROOT_CREATE_TIMEOUT_MS },
            );
            const publisher = new DirnodePublisher({
              journal,
              tahoe,
              state,
              rootCap,
              logger,
              events: meta.events,
              defaultOwner: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
              lockTtlMs: options.lockTtlMs,
              lockWaitMs: options.lockWaitMs,
            });
            const uploader = new FileUploader(
              cache,
              tahoe,
              (ino) => remote.fetcher(ino),
              ensureDataDirectoryId(config.dataDir),
            );
            const puller = new DownstreamPuller(
              {
                journal,
                tahoe,
                state,
                cache,
                localContent,
                rootCap,
                logger: new Logger(DownstreamPuller.name),
                defaultOwner: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
                events: meta.events,
                foreground,
              },
              { ...DEFAULT_PULL_OPTIONS, ttlMs: config.dirTtl * 1000, lockTtlMs: options.lockTtlMs },
            );
            return new TahoeSyncWorker(
              { meta, journal, cache, tahoe, rootCap, publisher, uploader, logger, puller, remote, foreground },
              options,
            );
          },
        },
        {
          provide: RootCapService,
          inject: [TahoeSyncWorker],
          useFactory: (worker: TahoeSyncWorker): RootCapService => worker.rootCap,
        },
        {
          provide: RemoteBlocks,
          inject: [SyncJournal, TahoeClient, BlockCache],
          useFactory: (journal: SyncJournal, tahoe: TahoeClient, cache: BlockCache): RemoteBlocks =>
            new RemoteBlocks({ journal, tahoe, cache }),
        },
        {
          provide: DownstreamPuller,
          inject: [TahoeSyncWorker],
          useFactory: (worker: TahoeSyncWorker): DownstreamPuller => worker.puller!,
        },
        { provide: SyncControl, useExisting: TahoeSyncWorker },
        { provide: ForegroundActivity, useValue: new ForegroundActivity() },
      ],
      exports: [TahoeSyncWorker, RootCapService, SyncControl, RemoteBlocks, DownstreamPuller, ForegroundActivity],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    const logger = new Logger(SyncModule.name);
    await boundedStep('giving up streaming reads', SHUTDOWN_STEP_MS, logger, () => this.remote.close());
    await boundedStep('stopping the sync worker', SHUTDOWN_STEP_MS, logger, () => this.worker.stop());
  }
}
