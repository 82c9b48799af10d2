import { Injectable } from '@nestjs/common';
import { BlockCache } from '../cache/block-cache';
import { CacheInspector } from './cache-inspector.service';
import type { CacheStatsDto, EvictResultDto } from './dto/cache.dto';
import type { TargetDto } from './dto/target.dto';
import { FsLookupService } from './fs-lookup.service';

/** Cache statistics and eviction of clean data. Dirty data is never dropped: BlockCache.evictClean skips it. */
@Injectable()
export class CacheAdminService {
  constructor(
    private readonly cache: BlockCache,
    private readonly inspector: CacheInspector,
    private readonly lookup: FsLookupService,
  ) {}

  async stats(): Promise<CacheStatsDto> {
    const overview = await this.inspector.overview();
    const reads = overview.hits + overview.misses;
    return {
      usedBytes: overview.usedBytes,
      cleanBytes: overview.cleanBytes,
      dirtyBytes: overview.dirtyBytes,
      files: overview.files,
      dirtyFiles: overview.dirtyFiles,
      blocks: overview.blocks,
      blockSize: overview.blockSize,
      hits: overview.hits,
      misses: overview.misses,
      hitRatio: reads === 0 ? null : overview.hits / reads,
      evictions: overview.evictions,
      limits: { maxBytes: overview.maxBytes, minFreeRatio: overview.minFreeRatio },
      disk: overview.disk,
    };
  }

  async evict(target: TargetDto): Promise<EvictResultDto> {
    if (target.path === undefined && target.ino === undefined) {
      const freedBytes = await this.cache.evictClean();
      return { freedBytes, files: 0, dirtyBytesKept: this.cache.stats().dirtyBytes };
    }
    const root = target.path !== undefined ? (await this.lookup.resolve(target.path)).ino : target.ino!;
    let freedBytes = 0;
    let files = 0;
    let dirtyBytesKept = 0;
    for await (const file of this.lookup.files(root)) {
      const freed = await this.cache.evictClean(file.ino);
      freedBytes += freed;
      files += freed > 0 ? 1 : 0;
      if (this.cache.hasDirtyData(file.ino)) {
        dirtyBytesKept += this.inspector.inode(file.ino).dirtyBytes;
      }
    }
    return { freedBytes, files, dirtyBytesKept };
  }
}
