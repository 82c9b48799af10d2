import fsp from 'node:fs/promises';
import path from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { BlockCache, type BlockCacheStats } from '../cache/block-cache';
import { CacheLayout } from '../cache/cache-layout';
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

/**
 * Read-only views of the block cache for the admin API. Which blocks of a file are cached is read from the cache
 * directory (`files/<ino>/<index>`, `<index>.d` when dirty: BlockCache's documented on-disk map), because
 * BlockCache has no per-file listing yet; dirty blocks are taken from BlockCache itself, which is authoritative.
 */
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
      dirtyFiles: this.cache.dirtyInodes().length,
      minFreeRatio: this.config.cacheMinFreeRatio,
      disk,
    };
  }

  async inode(ino: number): Promise<InodeCacheView> {
    const layout = new CacheLayout(this.config.cacheDir);
    const dir = layout.dirOf(ino);
    const dirty = new Set(this.cache.dirtyBlocks(ino));
    const sizes = new Map<number, number>();
    let names: string[] = [];
    try {
      names = await fsp.readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw error;
      }
    }
    for (const name of names) {
      const parsed = layout.parse(name);
      if (parsed.kind !== 'block' || parsed.ino !== ino) {
        continue;
      }
      try {
        const stat = await fsp.stat(path.join(dir, name));
        sizes.set(parsed.index, stat.size);
      } catch {
        // Evicted or renamed (made clean) between the listing and the stat: it is counted under its other name.
      }
    }
    const indexes = [...new Set([...sizes.keys(), ...dirty])].sort((a, b) => a - b);
    const view: InodeCacheView = {
      cachedBytes: 0,
      dirtyBytes: 0,
      cachedBlocks: indexes.length,
      dirtyBlocks: dirty.size,
      runs: [],
      runsTruncated: false,
    };
    for (const index of indexes) {
      const state = dirty.has(index) ? 'dirty' : 'clean';
      const bytes = sizes.get(index) ?? 0;
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
