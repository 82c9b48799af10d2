import { type DynamicModule, Module } from '@nestjs/common';
import { CacheAdminService } from './cache-admin.service';
import { CacheInspector } from './cache-inspector.service';
import { CacheController } from './cache.controller';
import { FsLookupService } from './fs-lookup.service';
import { GridAdminService } from './grid-admin.service';
import { GridController } from './grid.controller';
import { InodesController } from './inodes.controller';
import { InodesService } from './inodes.service';
import { JobsController } from './jobs.controller';
import { JobsService } from './jobs.service';
import { TahoeLeaseRenewalService } from '../lifecycle/tahoe-lease-renewal.service';
import { TahoeCheckService } from '../lifecycle/tahoe-check.service';
import { TahoeCheckScheduleService } from '../lifecycle/tahoe-check-schedule.service';
import { CheckController } from './check.controller';
import { LeasesController } from './leases.controller';
import { ShareController } from './share.controller';
import { ShareService } from './share.service';
import { StatsController } from './stats.controller';
import { StatsService } from './stats.service';
import { ACTIVE_SYNC_CONTROL, SyncAdminService } from './sync-admin.service';
import { SyncControl, UnavailableSyncControl } from './sync-control';
import { SyncController } from './sync.controller';

/**
 * The REST API under /admin. `ports` must export MetadataStore, SyncJournal, StateStore, BlockCache and TahoeClient;
 * when it also exports a SyncControl (the sync worker's), flush, sync, warmup and the queue use it, else they answer
 * 503.
 */
@Module({})
export class AdminModule {
  static forRoot(ports: DynamicModule): DynamicModule {
    return {
      module: AdminModule,
      imports: [ports],
      controllers: [
        InodesController,
        CacheController,
        SyncController,
        JobsController,
        GridController,
        StatsController,
        ShareController,
        LeasesController,
        CheckController,
      ],
      providers: [
        FsLookupService,
        CacheInspector,
        InodesService,
        CacheAdminService,
        JobsService,
        SyncAdminService,
        GridAdminService,
        StatsService,
        ShareService,
        TahoeLeaseRenewalService,
        TahoeCheckService,
        TahoeCheckScheduleService,
        {
          provide: ACTIVE_SYNC_CONTROL,
          inject: [{ token: SyncControl, optional: true }],
          useFactory: (control: SyncControl | undefined): SyncControl => control ?? new UnavailableSyncControl(),
        },
      ],
      exports: [JobsService],
    };
  }
}
