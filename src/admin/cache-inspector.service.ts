import fsp from 'node:fs/promises';
import { Inject, Injectable } from '@nestjs/common';
import { BlockCache, type BlockCacheStats } from '../cache/block-cache';
import { RIVERFS_CONFIG } from '../config/config.module';
import type { RiverFsConfig } from '../config/config.schema';

export interface BlockRun {
  first: number;
  last: number;
  state: 'clean' | 'dirty';
}

export interface InodeCacheView {
  cachedBytes: number;
  dirtyBytes: number;
  cachedBlocks: number;
  dirtyBlocks: number;
  /** Consecutive cached blocks of one state; blocks not listed are not cached. */
  runs: BlockRun[];
  /** More runs than MAX_RUNS: the list stops there. */
  runsTruncated: boolean;
}

export interface CacheOverview extends BlockCacheStats {
  dirtyFiles: number;
  minFreeRatio: number;
  disk: { freeBytes: number; totalBytes: number } | null;
}

export const MAX_RUNS = 1000;

/** Read-only views of the block cache for the admin API, from BlockCache's own map of what it holds. */
@Injectable()
export class CacheInspector {
  constructor(
    private readonly cache: BlockCache,
    @Inject(RIVERFS_CONFIG) private readonly config: RiverFsConfig,
  ) {}

  async overview(): Promise<CacheOverview> {
    let disk: CacheOverview['disk'] = null;
    try {
      const stat = await fsp.statfs(this.config.cacheDir);
      disk = { freeBytes: stat.bavail * stat.bsize, totalBytes: stat.blocks * stat.bsize };
    } catch {
      // The cache directory may not exist before the first write; its disk is then unknown.
    }
    return {
      ...this.cache.stats(),
      dirtyFiles: this.cache.dirtyFileCount(),
      minFreeRatio: this.config.cacheMinFreeRatio,
      disk,
    };
  }

  inode(ino: number): InodeCacheView {
    const blocks = this.cache.cachedBlocks(ino);
    const view: InodeCacheView = {
      cachedBytes: 0,
      dirtyBytes: 0,
      cachedBlocks: blocks.length,
      dirtyBlocks: blocks.filter((block) => block.dirty).length,
      runs: [],
      runsTruncated: false,
    };
    for (const { index, dirty, bytes } of blocks) {
      const state = dirty ? 'dirty' : 'clean';
      view.cachedBytes += bytes;
      if (state === 'dirty') {
        view.dirtyBytes += bytes;
      }
      const last = view.runs[view.runs.length - 1];
      if (last !== undefined && last.state === state && last.last === index - 1) {
        last.last = index;
      } else if (view.runs.length < MAX_RUNS) {
        view.runs.push({ first: index, last: index, state });
      } else {
        view.runsTruncated = true;
      }
    }
    return view;
  }
}
