import { type DynamicModule, Logger, Module } from '@nestjs/common';
import type { RiverFsConfig } from '../config/config.schema';
import { BlockCache } from './block-cache';
import { LocalContentGate } from './local-content-gate';

/**
 * Provides the block cache, indexed from disk before anything uses it and closed at shutdown, and the gate that the
 * mount's writers and the downstream pull share (LocalContentGate).
 */
@Module({})
export class CacheModule {
  static forRoot(
    config: Pick<RiverFsConfig, 'cacheDir' | 'cacheBlockSize' | 'cacheSize' | 'cacheMinFreeRatio'>,
  ): DynamicModule {
    return {
      module: CacheModule,
      providers: [
        {
          provide: BlockCache,
          useFactory: async (): Promise<BlockCache> => {
            const cache = new BlockCache({
              dir: config.cacheDir,
              blockSize: config.cacheBlockSize,
              maxBytes: config.cacheSize,
              minFreeRatio: config.cacheMinFreeRatio,
            });
            await cache.init();
            if (cache.droppedAfterMachineCrash > 0) {
              new Logger('BlockCache').warn(
                `the machine restarted without the cache synced: dropped ${cache.droppedAfterMachineCrash} clean ` +
                  'block(s) written since, which may be torn; they are fetched from Tahoe again when read',
              );
            }
            return cache;
          },
        },
        {
          provide: LocalContentGate,
          inject: [BlockCache],
          useFactory: (cache: BlockCache): LocalContentGate => new LocalContentGate(cache),
        },
      ],
      exports: [BlockCache, LocalContentGate],
    };
  }
}
