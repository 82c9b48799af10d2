import { type DynamicModule, Module } from '@nestjs/common';
import { CacheModule } from './cache/cache.module';
import { ConfigModule } from './config/config.module';
import type { RiverFsConfig } from './config/config.schema';
import { FsOpsModule, type FsOpsModuleOptions } from './fs-ops/fs-ops.module';
import { GridModule } from './grid/grid.module';
import { MetadataModule } from './metadata/metadata.module';
import { StateModule } from './state/state.module';
import { TahoeModule } from './tahoe/tahoe.module';

function global(module: DynamicModule): DynamicModule {
  return { ...module, global: true };
}

/** The modules every RiverFS process runs: configuration, Tahoe (configured or the embedded grid), metadata, state, cache. */
export function coreModules(config: RiverFsConfig): DynamicModule[] {
  return [
    ConfigModule.forRoot(config),
    { module: GridModule },
    global({ module: TahoeModule }),
    global(MetadataModule.forRoot(config)),
    global(StateModule.forRoot(config)),
    global(CacheModule.forRoot(config)),
  ];
}

/** RiverFS mounted: the core modules and the FUSE mount. */
@Module({})
export class MountAppModule {
  static forRoot(config: RiverFsConfig, mount: FsOpsModuleOptions): DynamicModule {
    return { module: MountAppModule, imports: [...coreModules(config), FsOpsModule.forRoot(config, mount)] };
  }
}
