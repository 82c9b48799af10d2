import { type DynamicModule, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { boundedStep, SHUTDOWN_STEP_MS } from '../common/lifecycle/bounded-step';
import { redactUrl } from '../config/config.loader';
import type { RiverFsConfig } from '../config/config.schema';
import { type DataSourceTuning, openDataSource, runMigrations } from './data-source';
import { InodeCensus } from './inode-census';
import { MetadataSessionService, type MetadataSessionOptions } from './metadata-session.service';
import type { MetadataClock } from './metadata-txn.util';
import { MetadataEvents } from './metadata-events';
import { MetadataStore } from './metadata.store';
import { SqlMetadataStore, type TransactionEvent } from './sql-metadata.store';
import { TahoeCheckLedger } from './tahoe-check-ledger';
import { TahoeLeaseLedger } from './tahoe-lease-ledger';
import { SyncJournal } from './sync-journal';

export interface MetadataModuleOptions extends DataSourceTuning {
  /**
   * Apply pending migrations while starting (default true). Turn it off where migrations are a
   * separate deploy step (`riverfs migrate`); the store then expects an up-to-date schema.
   */
  runMigrations?: boolean;
  clock?: MetadataClock;
  onTransaction?: (event: TransactionEvent) => void;
  /** This gateway's data-directory id, recorded as the owner of the content it makes dirty (SqlMetadataStore). */
  cacheOwner?: string;
  /**
   * This gateway's session (default: kept, with default options). `false` for tools that open no files
   * and must not register as a gateway (`riverfs migrate`, fsck); the store then refuses open().
   */
  session?: false | MetadataSessionOptions;
}

/** Injection token of the module's own TypeORM DataSource; not exported (DESIGN.md §1: ports only). */
const METADATA_DATA_SOURCE = Symbol('METADATA_DATA_SOURCE');

/**
 * Owns the metadata database: opens it from the `db` setting, migrates it, and exports only the
 * MetadataStore port (with its bus of changes made behind the mount, MetadataEvents, and the sync worker's journal). Unless told otherwise it keeps this gateway's session (MetadataSessionService)
 * from bootstrap to shutdown. The connection is closed at application shutdown, after every other
 * module's destroy hooks have run.
 */
@Module({})
export class MetadataModule implements OnApplicationShutdown {
  private readonly logger = new Logger(MetadataModule.name);

  constructor(@Inject(MetadataStore) private readonly store: MetadataStore) {}

  static forRoot(config: Pick<RiverFsConfig, 'db'>, options: MetadataModuleOptions = {}): DynamicModule {
    const logger = new Logger(MetadataModule.name);
    const session = options.session ?? {};
    return {
      module: MetadataModule,
      providers: [
        {
          provide: METADATA_DATA_SOURCE,
          useFactory: async (): Promise<DataSource> => {
            const where = config.db.startsWith('sqlite:') ? config.db : redactUrl(config.db);
            const dataSource = await openDataSource(config.db, options);
            if (options.runMigrations !== false) {
              try {
                const applied = await runMigrations(dataSource);
                if (applied.length > 0) {
                  logger.log(`Applied ${applied.length} migration(s) to ${where}: ${applied.join(', ')}`);
                }
              } catch (error) {
                await dataSource.destroy();
                throw error;
              }
            }
            return dataSource;
          },
        },
        {
          provide: MetadataStore,
          inject: [METADATA_DATA_SOURCE],
          useFactory: (dataSource: DataSource): MetadataStore =>
            new SqlMetadataStore(dataSource, {
              clock: options.clock,
              onTransaction: options.onTransaction,
              cacheOwner: options.cacheOwner,
            }),
        },
        {
          provide: TahoeLeaseLedger,
          inject: [MetadataStore],
          useFactory: (store: MetadataStore): TahoeLeaseLedger =>
            new TahoeLeaseLedger((store as SqlMetadataStore).sideAccess()),
        },
        {
          provide: InodeCensus,
          inject: [MetadataStore],
          useFactory: (store: MetadataStore): InodeCensus => new InodeCensus((store as SqlMetadataStore).sideAccess()),
        },
        {
          provide: TahoeCheckLedger,
          inject: [MetadataStore],
          useFactory: (store: MetadataStore): TahoeCheckLedger =>
            new TahoeCheckLedger((store as SqlMetadataStore).sideAccess()),
        },
        {
          provide: MetadataEvents,
          inject: [MetadataStore],
          useFactory: (store: MetadataStore): MetadataEvents => store.events,
        },
        {
          provide: SyncJournal,
          inject: [MetadataStore],
          useFactory: (store: MetadataStore): SyncJournal => (store as SqlMetadataStore).syncJournal(),
        },
        ...(session === false
          ? []
          : [
              {
                provide: MetadataSessionService,
                inject: [MetadataStore],
                useFactory: (store: MetadataStore): MetadataSessionService =>
                  new MetadataSessionService(store, session),
              },
            ]),
      ],
      exports: [MetadataStore, MetadataEvents, SyncJournal, TahoeLeaseLedger, TahoeCheckLedger, InodeCensus],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await boundedStep('closing the metadata database', SHUTDOWN_STEP_MS, this.logger, () => this.store.close());
  }
}
