import { type DynamicModule, Module } from '@nestjs/common';
import { CacheModule } from './cache/cache.module';
import { ConfigModule } from './config/config.module';
import type { RiverFsConfig } from './config/config.schema';
import { FsOpsModule, type FsOpsModuleOptions } from './fs-ops/fs-ops.module';
import { GridModule } from './grid/grid.module';
import { HttpAppModule } from './http/http-app.module';
import { ensureDataDirectoryId } from './metadata/data-directory-id';
import { MetadataModule } from './metadata/metadata.module';
import type { RiverFsMetrics } from './metrics/riverfs-metrics.service';
import { StateModule } from './state/state.module';
import { SyncModule } from './sync/sync.module';
import { TahoeModule } from './tahoe/tahoe.module';

function global(module: DynamicModule): DynamicModule {
  return { ...module, global: true };
}

/**
 * RiverFS mounted and administered: configuration, Tahoe (configured, or the embedded grid started first), the
 * metadata database, the state store, the block cache, the FUSE mount and the HTTP operator surface. Each module
 * value is made once and handed to HttpAppModule as the same object, so Nest makes one instance of each.
 */
@Module({})
export class MountAppModule {
  static forRoot(config: RiverFsConfig, mount: FsOpsModuleOptions, metrics: RiverFsMetrics): DynamicModule {
    const tahoe = global({ module: TahoeModule });
    const metadata = global(
      MetadataModule.forRoot(config, {
        onTransaction: metrics.metadataTransactionListener,
        cacheOwner: ensureDataDirectoryId(config.dataDir),
      }),
    );
    const state = global(StateModule.forRoot(config));
    const cache = global(CacheModule.forRoot(config));
    const sync = global(SyncModule.forRoot(config));
    const fsOps = FsOpsModule.forRoot(config, mount);
    return {
      module: MountAppModule,
      imports: [
        ConfigModule.forRoot(config),
        { module: GridModule },
        tahoe,
        metadata,
        state,
        cache,
        sync,
        fsOps,
        HttpAppModule.forRoot({ imports: [tahoe, metadata, state, cache, sync, fsOps], metrics }),
      ],
    };
  }
}
