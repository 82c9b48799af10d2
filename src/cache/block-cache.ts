import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { setImmediate as afterPendingReplies } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { FsError } from '../common/errors/fs-error';
import { CacheLayout } from './cache-layout';
import { HandlePool } from './handle-pool';
import { MachineCrashGuard } from './machine-crash-guard';
import { HOLE_FLOOR_FILE, HoleFloors } from './hole-floors';
import { KeyedMutex } from './keyed-mutex';
import { SpareFiles, type SpareFilesOptions } from './spare-files';

/** How long a statfs reading of the cache disk is trusted (adjusted for our own writes meanwhile). */
const DISK_READING_TTL_MS = 500;
/** A freed file with at most this many cached blocks has its files removed with synchronous calls (see drop). */
const SYNC_REMOVAL_MAX_BLOCKS = 16;

export interface BlockCacheOptions {
  dir: string;
  blockSize: number;
  /** Most bytes the cache may hold, clean and dirty together. */
  maxBytes: number;
  /** Keep at least this fraction of the cache's disk free. */
  minFreeRatio: number;
  /** How long a writer waits for dirty data to drain (uploads) before it gets ENOSPC. */
  dirtyWaitMs?: number;
  now?: () => number;
  /** Free and total bytes of the disk holding `dir`; fs.statfs by default (tests may shrink the disk). */
  diskSpace?: () => Promise<{ free: number; total: number }>;
  /** Where the kernel's boot id is read (machine-crash-guard.ts); tests point it at a file of their own. */
  bootIdFile?: string;
  /** How many empty files the cache keeps ready for new blocks (spare-files.ts). */
  spareFiles?: SpareFilesOptions;
}

export interface BlockCacheStats {
  usedBytes: number;
  dirtyBytes: number;
  cleanBytes: number;
  files: number;
  blocks: number;
  hits: number;
  misses: number;
  evictions: number;
  maxBytes: number;
  blockSize: number;
}

/** Supplies a block the cache lacks (from Tahoe, once sync exists); undefined when the block is a hole. */
export type BlockFetcher = (blockIndex: number) => Promise<Buffer | undefined>;

interface BlockState {
  dirty: boolean;
  /**
   * Written since its file's last persist point (close, fsync): the sync worker leaves such a file alone, as its
   * size is not recorded yet.
   */
  unpersisted?: boolean;
  /** Written (or cut) since its block file was last fdatasync'd: fsync skips the others. */
  undurable?: boolean;
  /** Bytes held in the block file (its length; a sparse block may have holes below it). */
  length: number;
  /**
   * Set by a truncate as it begins, for a block it cuts (0: drops), until it has done so: bytes at or past it are
   * gone already. Reads serve zeros there and a write applies the cut first, so no read or upload that starts after
   * the truncate sees them while the truncate is still on its way to this block.
   */
  cutAt?: number;
}

/**
 * The block cache on local disk. Every file's data is cut into fixed-size blocks, each kept in a file of its own
 * (cache-layout.ts): `<ino>.<index>` for a clean block, `<ino>.<index>.d` for a dirty one. The name is the persisted
 * dirty map: a rename is atomic, so after a crash the directory listing says exactly which blocks must still be
 * uploaded, with no separate map to keep consistent. One file per block (rather than one sparse file per file)
 * because Node has no fallocate(PUNCH_HOLE): evicting a clean block is then an unlink.
 *
 * Dirty blocks are never evicted. When dirty data alone reaches the limit, writers wait for uploads to clean
 * some, then get ENOSPC; nothing acknowledged is ever dropped.
 */
export class BlockCache {
  readonly blockSize: number;
  private readonly layout: CacheLayout;
  private readonly files = new Map<number, Map<number, BlockState>>();
  /** Clean blocks in least-recently-used order (a Map keeps insertion order; touching re-inserts). */
  private readonly lru = new Map<string, { ino: number; index: number }>();
  private readonly locks = new KeyedMutex();
  private readonly pool = new HandlePool();
  private readonly dirtyWaiters = new Set<() => void>();
  /** Per file, bumped by every change of its bytes (write, truncate, drop): an upload compares it before and after. */
  private readonly generations = new Map<number, number>();
  /** Whether a clean block of this file may be evicted (it can be fetched again); every file by default. */
  private evictionGuard: (ino: number) => boolean = () => true;
  /** Which bytes of each file must not come from its last uploaded cap (see HoleFloors). */
  private readonly holeFloors: HoleFloors;
  private readonly crashGuard: MachineCrashGuard;
  private readonly spares: SpareFiles;
  /** Files of freed inodes still being removed (see drop). */
  private readonly removals = new Set<Promise<void>>();
  private readonly logger = new Logger('BlockCache');
  /** Clean blocks dropped at start because the machine crashed since they were written (MachineCrashGuard). */
  droppedAfterMachineCrash = 0;
  /** Shard directories known to exist (created or found since start): a new file in one needs no mkdir. */
  private readonly knownShards = new Set<number>();
  /** Shard directories created (or found at start) since the last fsync of a file in them: their names may not be durable. */
  private readonly newShards = new Set<number>();
  private usedBytes = 0;
  private dirtyBytes = 0;
  /**
   * Dirty blocks per file that has any, kept with each block's dirty flag: the admin API's cache overview, which the
   * benchmark and dashboards poll while a drain runs, counted dirty files by walking every cached block (10 s of
   * CPU in the full benchmark run of 2026-12-07).
   */
  private readonly dirtyBlocksPerFile = new Map<number, number>();
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private diskReading: { free: number; total: number; at: number; usedBytes: number } | undefined;

  constructor(private readonly options: BlockCacheOptions) {
    this.blockSize = options.blockSize;
    this.layout = new CacheLayout(options.dir);
    this.holeFloors = new HoleFloors(this.layout);
    this.crashGuard = new MachineCrashGuard(options.dir, options.bootIdFile);
    this.spares = new SpareFiles(path.join(options.dir, 'spare'), options.spareFiles);
  }

  /** Rebuilds the in-memory index from disk: the cache, dirty blocks included, survives a restart. */
  async init(): Promise<void> {
    await fsp.mkdir(this.layout.root, { recursive: true, mode: 0o700 });
    await this.layout.migrateFromInodeDirectories(this.options.dir, HOLE_FLOOR_FILE);
    await this.spares.init();
    const { cleanBlocksSuspect } = await this.crashGuard.opened();
    const found: { key: string; ino: number; index: number; mtimeMs: number }[] = [];
    for (const shard of await this.layout.shards()) {
      // Whether its name reached the disk is not known: the first fsync of a file in it syncs `blocks/` too.
      this.knownShards.add(shard);
      this.newShards.add(shard);
      const dir = this.layout.shardDir(shard);
      for (const name of await fsp.readdir(dir)) {
        const parsed = this.layout.parse(name);
        if (parsed.kind === 'floor') {
          await this.holeFloors.load(parsed.ino);
        } else if (parsed.kind === 'other' && name.endsWith('.tmp')) {
          // A floor being rewritten when the process ended (hole-floors.ts): the floor under its own name stands.
          await fsp.rm(path.join(dir, name), { force: true });
        }
        if (parsed.kind !== 'block') {
          continue;
        }
        const { ino, index, dirty } = parsed;
        const file = path.join(dir, name);
        if (!dirty && cleanBlocksSuspect) {
          await fsp.rm(file, { force: true });
          this.droppedAfterMachineCrash += 1;
          continue;
        }
        const blocks = this.blocksOf(ino);
        const existing = blocks.get(index);
        if (existing !== undefined) {
          // A crash between writing a dirty copy and removing the clean one: the dirty one is newer.
          const clean = this.layout.blockPath(ino, index, false);
          await fsp.rm(clean, { force: true });
          if (existing.dirty) {
            continue;
          }
          this.usedBytes -= existing.length;
          this.lru.delete(this.lockKey(ino, index));
          const at = found.findIndex((block) => block.ino === ino && block.index === index);
          if (at >= 0) {
            found.splice(at, 1);
          }
        }
        const stat = await fsp.stat(file);
        // Whether the process that wrote a dirty block fsync'd it is not known: the next fsync of its file syncs it.
        blocks.set(index, { dirty, length: stat.size, undurable: dirty });
        this.usedBytes += stat.size;
        if (dirty) {
          this.dirtyBytes += stat.size;
          this.countDirty(ino, 1);
        } else {
          found.push({ key: `${ino}:${index}`, ino, index, mtimeMs: stat.mtimeMs });
        }
      }
    }
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const block of found) {
      this.lru.set(block.key, { ino: block.ino, index: block.index });
    }
  }

  private blockPath(ino: number, index: number, dirty: boolean): string {
    return this.layout.blockPath(ino, index, dirty);
  }

  private lockKey(ino: number, index: number): string {
    return `${ino}:${index}`;
  }

  private blocksOf(ino: number): Map<number, BlockState> {
    let blocks = this.files.get(ino);
    if (!blocks) {
      blocks = new Map();
      this.files.set(ino, blocks);
    }
    return blocks;
  }

  private touch(ino: number, index: number): void {
    const key = this.lockKey(ino, index);
    const entry = this.lru.get(key);
    if (entry) {
      this.lru.delete(key);
      this.lru.set(key, entry);
    }
  }

  /**
   * Reads `length` bytes at `offset` of a file whose size is `fileSize`. Blocks the cache lacks come from
   * `fetch` (and are kept, clean); without a fetcher, or when it has nothing, they read as zeros (holes). `into`:
   * where the bytes go when given (at least `length` long), instead of a new zero-filled buffer; the answer is then a
   * view of it.
   */
  async read(
    ino: number,
    offset: number,
    length: number,
    fileSize: number,
    fetch?: BlockFetcher,
    into?: Buffer,
  ): Promise<Buffer> {
    const end = Math.min(offset + length, fileSize);
    if (end <= offset) {
      return Buffer.alloc(0);
    }
    const result = into === undefined ? Buffer.alloc(end - offset) : into.subarray(0, end - offset);
    const zeroed = into === undefined;
    for (let position = offset; position < end;) {
      const index = Math.floor(position / this.blockSize);
      const inBlock = position - index * this.blockSize;
      const take = Math.min(this.blockSize - inBlock, end - position);
      await this.locks.run(this.lockKey(ino, index), async () => {
        let state = this.files.get(ino)?.get(index);
        if (!state && fetch) {
          this.misses++;
          const data = await fetch(index);
          if (data) {
            if (!(await this.storeCleanBlock(ino, index, data, true))) {
              // Not kept (no room, or cut by a truncate meanwhile): serve what is still the file's.
              const usable = this.fetchedLength(ino, index, data.length);
              const copied =
                inBlock < usable ? data.copy(result, position - offset, inBlock, Math.min(usable, inBlock + take)) : 0;
              if (!zeroed) {
                result.fill(0, position - offset + copied, position - offset + take);
              }
              return;
            }
            state = this.files.get(ino)?.get(index);
          }
        } else if (state) {
          this.hits++;
        }
        if (!state) {
          if (!zeroed) {
            result.fill(0, position - offset, position - offset + take); // A hole.
          }
          return;
        }
        this.touch(ino, index);
        const servable = Math.min(take, Math.max(0, (state.cutAt ?? Infinity) - inBlock));
        if (servable > 0) {
          const file = this.blockPath(ino, index, state.dirty);
          await this.pool.use(file, (handle) => handle.readInto(result, position - offset, servable, inBlock));
        }
        if (servable < take && !zeroed) {
          result.fill(0, position - offset + servable, position - offset + take); // Cut by a truncate.
        }
      });
      position += take;
    }
    return result;
  }

  /**
   * How many leading bytes of a file a fetcher may take from the file's last uploaded cap: everything (undefined),
   * unless a truncate since the last complete upload cut the file, after which the bytes past the cut are holes
   * until written (written bytes are dirty blocks, never fetched).
   */
  remoteLimit(ino: number): number | undefined {
    return this.holeFloors.get(ino);
  }

  /** Counts a block the cache lacked that was fetched around it (a streamed block, which is offered afterwards). */
  noteMiss(): void {
    this.misses++;
  }

  /** Whether the cache holds block `index` of the file (clean or dirty). */
  hasBlock(ino: number, index: number): boolean {
    return this.files.get(ino)?.has(index) ?? false;
  }

  /**
   * Keeps a block fetched from the file's cap when the cache lacks it, there is room, and the file's bytes have not
   * changed since `generation` (a write, truncate or drop since would make it stale). A drop that begins while the
   * block is written removes it again. Returns whether it was kept.
   */
  async offerCleanBlock(ino: number, index: number, data: Buffer, generation: number): Promise<boolean> {
    return this.locks.run(this.lockKey(ino, index), async () => {
      if (this.hasBlock(ino, index) || this.writeGeneration(ino) !== generation) {
        return false;
      }
      if (!(await this.storeCleanBlock(ino, index, data, true))) {
        return false;
      }
      if (this.writeGeneration(ino) !== generation) {
        await this.dropBlock(ino, index);
        return false;
      }
      return true;
    });
  }

  /** Bytes of a fetched block that are the file's (the hole floor may cut it); 0 when it is all hole now. */
  private fetchedLength(ino: number, index: number, length: number): number {
    return this.holeFloors.usable(ino, index * this.blockSize, length);
  }

  /**
   * The block's state, fetching and keeping it first when the cache lacks it and the file has it remotely (a
   * partial write or a truncate must keep the rest of the block). The caller holds the block's lock.
   */
  private async keptBlock(ino: number, index: number, fetch?: BlockFetcher): Promise<BlockState | undefined> {
    const state = this.files.get(ino)?.get(index);
    if (state || !fetch) {
      return state;
    }
    const existing = await fetch(index);
    if (existing) {
      await this.storeCleanBlock(ino, index, existing);
    }
    return this.files.get(ino)?.get(index);
  }

  /**
   * Keeps a fetched block, clean. For a read (`optional`), a block that does not fit once the least recently used
   * clean blocks not in use are evicted is served without being kept: the limit holds even while concurrent
   * fetches and read-ahead fill the cache. The room is reserved before the first await for the same reason. A
   * write that needs the rest of the block always keeps it (it becomes dirty, which the dirty limit governs).
   */
  private async storeCleanBlock(ino: number, index: number, fetched: Buffer, optional = false): Promise<boolean> {
    let data = fetched.subarray(0, this.fetchedLength(ino, index, fetched.length));
    if (data.length === 0) {
      return false;
    }
    await this.makeRoom(data.length, false);
    if (optional && this.usedBytes + data.length > this.options.maxBytes) {
      return false;
    }
    let reserved = data.length;
    this.usedBytes += reserved;
    try {
      this.makeFileDir(ino);
      const file = this.blockPath(ino, index, false);
      this.spares.takeInto(file);
      await this.pool.use(file, (handle) => handle.write(data, 0, data.length, 0));
      // A truncate that began meanwhile (it sets the floor before anything else) may have cut this block away.
      if (this.fetchedLength(ino, index, data.length) < data.length) {
        await this.pool.forget(file);
        await fsp.rm(file, { force: true });
        data = data.subarray(0, this.fetchedLength(ino, index, data.length));
        this.usedBytes -= reserved - data.length;
        reserved = data.length;
        if (data.length === 0) {
          return false;
        }
        await this.pool.use(file, (handle) => handle.write(data, 0, data.length, 0));
      }
    } catch (error) {
      this.usedBytes -= reserved;
      throw error;
    }
    this.blocksOf(ino).set(index, { dirty: false, length: data.length });
    this.lru.set(this.lockKey(ino, index), { ino, index });
    return true;
  }

  /**
   * Writes `data` at `offset`. The caller must already own `data` (FUSE reuses its buffer once the callback
   * returns, so FsOps copies it before the first await). A block the cache lacks but the file has remotely is
   * fetched first, so a partial write never loses the rest of the block.
   */
  async write(ino: number, offset: number, data: Buffer, fetch?: BlockFetcher): Promise<void> {
    this.bumpGeneration(ino);
    const end = offset + data.length;
    for (let position = offset; position < end;) {
      const index = Math.floor(position / this.blockSize);
      const inBlock = position - index * this.blockSize;
      const take = Math.min(this.blockSize - inBlock, end - position);
      await this.locks.run(this.lockKey(ino, index), async () => {
        await this.applyCut(ino, index);
        // A write over the whole block needs none of its old bytes.
        const partial = inBlock > 0 || take < this.blockSize;
        let state = partial ? await this.keptBlock(ino, index, fetch) : this.files.get(ino)?.get(index);
        const grows = Math.max(0, inBlock + take - (state?.length ?? 0));
        const newlyDirty = state?.dirty ? grows : (state?.length ?? 0) + grows;
        await this.makeRoom(grows, true, newlyDirty);
        state = await this.markDirty(ino, index, state);
        const file = this.blockPath(ino, index, true);
        await this.pool.use(file, (handle) => handle.write(data, position - offset, take, inBlock));
        state.unpersisted = true;
        state.undurable = true;
        state.length += grows;
        this.usedBytes += grows;
        this.dirtyBytes += grows;
      });
      position += take;
    }
  }

  /** Makes a block dirty (renaming its clean file), creating an empty one when the cache lacks it. */
  private async markDirty(ino: number, index: number, state: BlockState | undefined): Promise<BlockState> {
    if (state?.dirty) {
      return state;
    }
    if (state) {
      const clean = this.blockPath(ino, index, false);
      await this.pool.forget(clean);
      await fsp.rename(clean, this.blockPath(ino, index, true));
      this.lru.delete(this.lockKey(ino, index));
      state.dirty = true;
      this.dirtyBytes += state.length;
      this.countDirty(ino, 1);
      return state;
    }
    this.makeFileDir(ino);
    this.spares.takeInto(this.blockPath(ino, index, true));
    const created: BlockState = { dirty: true, length: 0 };
    this.blocksOf(ino).set(index, created);
    this.countDirty(ino, 1);
    return created;
  }

  /**
   * Cuts the file's cached data at `newSize`, whichever way the size moves: blocks past it are dropped, a cached
   * last block longer than it is cut (and becomes dirty), and the hole floor goes down to it, so that nothing past
   * `newSize` is fetched from the file's previous cap again until written. The caller's idea of the old size plays
   * no part: a size the caller had wrong must not leave old bytes behind. A last block the cache lacks is not
   * fetched: its bytes below `newSize` are still the cap's, and the floor cuts what lies past.
   */
  async truncate(ino: number, newSize: number): Promise<void> {
    this.bumpGeneration(ino);
    // Before any await: a fetch that stores a block concurrently must see the new floor, and a read (an upload's
    // above all) that starts now must not see the bytes this truncate is about to remove from cached blocks.
    const floorDurable = this.holeFloors.lower(ino, newSize);
    const cut: number[] = [];
    for (const [index, state] of this.files.get(ino) ?? []) {
      const keep = Math.max(0, newSize - index * this.blockSize);
      if (state.length > keep) {
        state.cutAt = Math.min(state.cutAt ?? Infinity, keep);
        cut.push(index);
      }
    }
    // The floor first: after a crash, a block dropped without it would come back from the cap.
    await floorDurable;
    for (const index of cut.sort((a, b) => a - b)) {
      await this.locks.run(this.lockKey(ino, index), () => this.applyCut(ino, index));
    }
  }

  /** Carries out a truncate's pending cut of a block (see `cutAt`). The caller holds the block's lock. */
  private async applyCut(ino: number, index: number): Promise<void> {
    let state = this.files.get(ino)?.get(index);
    const keep = state?.cutAt;
    if (!state || keep === undefined) {
      return;
    }
    if (keep === 0) {
      await this.dropBlock(ino, index);
      return;
    }
    if (state.length > keep) {
      state = await this.markDirty(ino, index, state);
      const file = this.blockPath(ino, index, true);
      await this.pool.use(file, (handle) => handle.truncate(keep));
      // Its size is the truncate's to record; only the block file's durability is owed.
      state.undurable = true;
      const removed = state.length - keep;
      state.length = keep;
      this.usedBytes -= removed;
      this.dirtyBytes -= removed;
      this.notifyDirtyDrained();
    }
    state.cutAt = undefined;
  }

  /** Removes a block's file and takes it off the books. The caller holds the block's lock. */
  private async dropBlock(ino: number, index: number): Promise<void> {
    const state = this.files.get(ino)?.get(index);
    if (!state) {
      return;
    }
    const file = this.blockPath(ino, index, state.dirty);
    await this.pool.forget(file);
    await this.spares.recycle(file);
    this.forgetBlock(ino, index);
  }

  /**
   * Takes a block off the books (sizes, dirty counts, the LRU) and returns the path of its file, which the caller
   * removes; undefined when the cache has no such block. The caller holds the block's lock.
   */
  private forgetBlock(ino: number, index: number): string | undefined {
    const blocks = this.files.get(ino);
    const state = blocks?.get(index);
    if (!blocks || !state) {
      return undefined;
    }
    const file = this.blockPath(ino, index, state.dirty);
    blocks.delete(index);
    this.usedBytes -= state.length;
    if (state.dirty) {
      this.dirtyBytes -= state.length;
      this.countDirty(ino, -1);
      this.notifyDirtyDrained();
    } else {
      this.lru.delete(this.lockKey(ino, index));
    }
    if (blocks.size === 0) {
      this.files.delete(ino);
    }
    return file;
  }

  /**
   * The close-time persist point of a file (writeback's `close`): what its writes put in the block files already
   * survives a crash of RiverFS, as write(2) hands it to the kernel, so nothing is written or synced here; the
   * blocks only stop counting as written-but-unrecorded (`hasUnpersistedWrites`).
   */
  persist(ino: number): void {
    for (const state of this.files.get(ino)?.values() ?? []) {
      state.unpersisted = false;
    }
  }

  /**
   * Makes the file's cached state survive a crash of the machine (fsync, fdatasync): its block files written since
   * their last fdatasync, its hole floor, then the directory holding their names (and that directory's own name
   * when it is new). Also a persist point.
   */
  async fsync(ino: number): Promise<void> {
    this.persist(ino);
    for (const [index, state] of this.files.get(ino) ?? []) {
      if (state.undurable) {
        await this.locks.run(this.lockKey(ino, index), () => this.syncBlockFile(ino, index, state));
      }
    }
    await this.holeFloors.makeDurable(ino);
    // Even with no block left (a truncate dropped them all), the names of its blocks and floor may have changed.
    if (!(await syncDirectory(this.layout.dirOf(ino)))) {
      return; // No directory: nothing of this file is cached, so nothing is owed.
    }
    const shard = this.layout.shardOf(ino);
    // A shard this process did not make or find was made by the file's hole floor (a truncate of a file with no
    // cached block): its name is as new.
    if (this.newShards.delete(shard) || !this.knownShards.has(shard)) {
      this.knownShards.add(shard);
      await syncDirectory(this.layout.root);
    }
  }

  /** fdatasync of one block file when it was written since its last one. The caller holds the block's lock. */
  private async syncBlockFile(ino: number, index: number, state: BlockState): Promise<void> {
    if (state.undurable && this.files.get(ino)?.get(index) === state) {
      state.undurable = false;
      try {
        await this.pool.datasync(this.blockPath(ino, index, state.dirty));
      } catch (error) {
        state.undurable = true;
        throw error;
      }
    }
  }

  /**
   * Creates the shard directory the file's blocks go in, once per shard and process, remembering that its name is
   * not durable until the next fsync of a file in it.
   */
  private makeFileDir(ino: number): void {
    const shard = this.layout.shardOf(ino);
    if (this.knownShards.has(shard)) {
      return;
    }
    if (fs.mkdirSync(this.layout.shardDir(shard), { recursive: true, mode: 0o700 }) !== undefined) {
      this.newShards.add(shard);
    }
    this.knownShards.add(shard);
  }

  /**
   * Drops everything cached for a freed inode (its last name and last open handle are gone). Its blocks leave the
   * cache's books before this returns; their files go after the replies pending now have been sent, each under its
   * block's lock, so anything that comes for the same block later waits for it. Removing a file costs a truncate
   * and a rename, or an unlink (110–130 µs each here, python loops), in unlink's handler of about 300 µs: time the
   * caller of unlink(2) need not wait for. A crash before the removal leaves files of an inode that no longer
   * exists, as a crash between the unlink's commit and the removal always could: the next start drops the dirty
   * ones (TahoeSyncWorker.recoverCache), and clean ones age out of the LRU.
   */
  async drop(ino: number): Promise<void> {
    this.bumpGeneration(ino);
    const hadFloor = this.holeFloors.has(ino);
    await this.holeFloors.forget(ino);
    const indexes = [...(this.files.get(ino)?.keys() ?? [])];
    // A small file's few names go with synchronous calls: short syscalls, cheaper than thread-pool round trips.
    const inLine = indexes.length <= SYNC_REMOVAL_MAX_BLOCKS;
    for (const index of indexes) {
      await new Promise<void>((forgotten) => {
        this.removeLater(
          this.locks.run(this.lockKey(ino, index), async () => {
            let file: string | undefined;
            try {
              file = this.forgetBlock(ino, index);
            } finally {
              forgotten();
            }
            if (file !== undefined) {
              await afterPendingReplies();
              await this.pool.forget(file);
              await this.spares.recycle(file, inLine);
            }
          }),
        );
      });
    }
    // In line, not later: nothing orders it after a floor the same inode may get next (a pull refills it).
    if (hadFloor) {
      fs.rmSync(this.layout.floorPath(ino), { force: true });
    }
  }

  private removeLater(removal: Promise<unknown>): void {
    const tracked = removal.then(
      () => undefined,
      (error: unknown) => {
        // What is left is a stray file of an inode that no longer exists: space, not data.
        this.logger.warn(`could not remove a freed file's cache file: ${(error as Error).message}`);
      },
    );
    this.removals.add(tracked);
    void tracked.finally(() => this.removals.delete(tracked));
  }

  /** Resolves once the files of every inode dropped so far are gone (tests, close). */
  async removalsSettled(): Promise<void> {
    while (this.removals.size > 0) {
      await Promise.all([...this.removals]);
    }
  }

  /** Every cached block of the file, ascending: its index, whether it is dirty, and its bytes on disk. */
  cachedBlocks(ino: number): { index: number; dirty: boolean; bytes: number }[] {
    return [...(this.files.get(ino)?.entries() ?? [])]
      .map(([index, state]) => ({ index, dirty: state.dirty, bytes: state.length }))
      .sort((a, b) => a.index - b.index);
  }

  /**
   * Indexes of the file's dirty blocks, ascending (what an upload must take from the cache). With `within`, only
   * the blocks whose bytes all lie below it: what an upload of that many bytes holds, and so may mark clean.
   */
  dirtyBlocks(ino: number, within = Infinity): number[] {
    return [...(this.files.get(ino)?.entries() ?? [])]
      .filter(([index, state]) => state.dirty && index * this.blockSize + this.heldLength(state) <= within)
      .map(([index]) => index)
      .sort((a, b) => a - b);
  }

  /** The bytes of a block that are still the file's (a truncate may be about to cut it). */
  private heldLength(state: BlockState): number {
    return Math.min(state.length, state.cutAt ?? Infinity);
  }

  /** Changes of the file's bytes so far in this process (0 before the first). */
  writeGeneration(ino: number): number {
    return this.generations.get(ino) ?? 0;
  }

  private bumpGeneration(ino: number): void {
    this.generations.set(ino, (this.generations.get(ino) ?? 0) + 1);
  }

  /** Whether the file has blocks written since its last persist point (bytes whose size is not recorded yet). */
  hasUnpersistedWrites(ino: number): boolean {
    for (const state of this.files.get(ino)?.values() ?? []) {
      if (state.dirty && state.unpersisted) {
        return true;
      }
    }
    return false;
  }

  /**
   * Decides which files' clean blocks may be evicted. A clean block read back after eviction comes from the fetcher,
   * or reads as zeros without one: a file whose blocks cannot be fetched again must keep them.
   */
  setEvictionGuard(guard: (ino: number) => boolean): void {
    this.evictionGuard = guard;
  }

  hasDirtyData(ino: number): boolean {
    return this.dirtyBlocks(ino).length > 0;
  }

  /** Inodes with dirty blocks: after a restart, the files whose data must still reach Tahoe. */
  dirtyInodes(): number[] {
    return [...this.dirtyBlocksPerFile.keys()];
  }

  /** How many files have dirty blocks (cheap: kept as blocks change). */
  dirtyFileCount(): number {
    return this.dirtyBlocksPerFile.size;
  }

  private countDirty(ino: number, change: 1 | -1): void {
    const count = (this.dirtyBlocksPerFile.get(ino) ?? 0) + change;
    if (count > 0) {
      this.dirtyBlocksPerFile.set(ino, count);
    } else {
      this.dirtyBlocksPerFile.delete(ino);
    }
  }

  /**
   * After an upload: the blocks become clean (evictable). Only blocks not rewritten since are passed here. With
   * `ifGeneration`, a block is left dirty once the file's write generation differs (a write raced the upload); the
   * check and the rename happen under the block's lock, which every write of it takes after bumping the generation.
   * Returns the number of blocks made clean.
   */
  async markClean(ino: number, indexes: number[], ifGeneration?: number): Promise<number> {
    let cleaned = 0;
    for (const index of indexes) {
      await this.locks.run(this.lockKey(ino, index), async () => {
        const state = this.files.get(ino)?.get(index);
        const stale = (): boolean => ifGeneration !== undefined && this.writeGeneration(ino) !== ifGeneration;
        if (!state?.dirty || stale()) {
          return;
        }
        // A clean block is served instead of the cap: its bytes must be on disk before its name says clean, or a
        // crash of the machine could leave a clean name over bytes that never reached the disk (the dirty name
        // only costs a second upload). Off the FUSE path: uploads run in the background.
        await this.syncBlockFile(ino, index, state);
        if (stale()) {
          return;
        }
        const dirtyPath = this.blockPath(ino, index, true);
        await this.pool.forget(dirtyPath);
        await fsp.rename(dirtyPath, this.blockPath(ino, index, false));
        state.dirty = false;
        state.unpersisted = false;
        this.dirtyBytes -= state.length;
        this.countDirty(ino, -1);
        this.lru.set(this.lockKey(ino, index), { ino, index });
        cleaned += 1;
      });
    }
    if (ifGeneration !== undefined && this.writeGeneration(ino) === ifGeneration && this.holeFloors.has(ino)) {
      // The upload read every byte after the floor was set and no change raced it: its cap holds zeros wherever
      // the floor made holes, and nothing past its own size. The cap is right about every byte again.
      await this.holeFloors.clear(ino);
    }
    this.notifyDirtyDrained();
    return cleaned;
  }

  /** Drops clean blocks (all, or one file's); dirty blocks stay. Returns the bytes freed. */
  async evictClean(ino?: number): Promise<number> {
    let freed = 0;
    for (const [key, block] of [...this.lru]) {
      if ((ino !== undefined && block.ino !== ino) || !this.evictionGuard(block.ino)) {
        continue;
      }
      freed += await this.evictOne(key, block);
    }
    return freed;
  }

  private async evictOne(key: string, block: { ino: number; index: number }): Promise<number> {
    return this.locks.run(key, async () => {
      const state = this.files.get(block.ino)?.get(block.index);
      if (!state || state.dirty) {
        this.lru.delete(key);
        return 0;
      }
      const length = state.length;
      await this.dropBlock(block.ino, block.index);
      this.evictions++;
      return length;
    });
  }

  /**
   * Free and total bytes of the cache's disk. statfs costs a thread-pool round trip, which a sequential writer
   * would pay on every 128 KiB request: a reading is reused for a short while, minus what we wrote since.
   */
  private async diskSpace(): Promise<{ free: number; total: number }> {
    const now = (this.options.now ?? Date.now)();
    if (this.diskReading && now - this.diskReading.at < DISK_READING_TTL_MS) {
      return {
        free: this.diskReading.free - (this.usedBytes - this.diskReading.usedBytes),
        total: this.diskReading.total,
      };
    }
    let reading: { free: number; total: number };
    if (this.options.diskSpace) {
      reading = await this.options.diskSpace();
    } else {
      const stat = await fsp.statfs(this.layout.root);
      reading = { free: stat.bavail * stat.bsize, total: stat.blocks * stat.bsize };
    }
    this.diskReading = { ...reading, at: now, usedBytes: this.usedBytes };
    return reading;
  }

  /**
   * Frees room for `incoming` more bytes: evicts least-recently-used clean blocks while the cache is over its
   * size or the disk under its free ratio. For dirty data (`dirty`), waits for uploads when dirty bytes alone
   * would pass the limit, then fails with ENOSPC.
   */
  private async makeRoom(incoming: number, dirty: boolean, newlyDirty = incoming): Promise<void> {
    if (incoming <= 0 && newlyDirty <= 0) {
      return;
    }
    const { maxBytes, minFreeRatio } = this.options;
    const now = this.options.now ?? Date.now;
    const overLimit = async (): Promise<boolean> => {
      if (this.usedBytes + incoming > maxBytes) {
        return true;
      }
      const disk = await this.diskSpace();
      return disk.free - incoming < disk.total * minFreeRatio;
    };
    const deadline = now() + (this.options.dirtyWaitMs ?? 30_000);
    for (;;) {
      while (await overLimit()) {
        if (!(await this.evictLeastRecentlyUsed())) {
          break;
        }
      }
      if (!dirty) {
        return;
      }
      if (this.dirtyBytes + newlyDirty <= maxBytes && !(await overLimit())) {
        return;
      }
      const remaining = deadline - now();
      if (remaining <= 0) {
        throw new FsError('ENOSPC', `the cache holds ${this.dirtyBytes} dirty bytes, its limit is ${maxBytes}`);
      }
      // Uploads (markClean) and truncates wake us; the timer re-checks the disk in case another program freed it.
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.dirtyWaiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(remaining, 1000));
        this.dirtyWaiters.add(wake);
      });
    }
  }

  /**
   * Evicts the least recently used clean block that nobody is working on. Blocks whose lock is held are skipped:
   * their holder may itself be waiting here for room, and waiting for it would deadlock.
   */
  private async evictLeastRecentlyUsed(): Promise<boolean> {
    for (const [key, block] of this.lru) {
      if (this.locks.isLocked(key) || !this.evictionGuard(block.ino)) {
        continue;
      }
      await this.evictOne(key, block);
      return true;
    }
    return false;
  }

  private notifyDirtyDrained(): void {
    for (const wake of [...this.dirtyWaiters]) {
      wake();
    }
  }

  /** The most bytes the cache holds (the cache-size setting). */
  /** Bytes in dirty blocks now (cheap; stats() counts blocks too). */
  get dirtyByteCount(): number {
    return this.dirtyBytes;
  }

  get maxBytes(): number {
    return this.options.maxBytes;
  }

  stats(): BlockCacheStats {
    let blocks = 0;
    for (const file of this.files.values()) {
      blocks += file.size;
    }
    return {
      usedBytes: this.usedBytes,
      dirtyBytes: this.dirtyBytes,
      cleanBytes: this.usedBytes - this.dirtyBytes,
      files: this.files.size,
      blocks,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      maxBytes: this.options.maxBytes,
      blockSize: this.blockSize,
    };
  }

  /** Empty files ready for new blocks, and how many new blocks took one. */
  spareFileStats(): { ready: number; taken: number } {
    return { ready: this.spares.readyCount, taken: this.spares.taken };
  }

  async close(): Promise<void> {
    await this.removalsSettled();
    await this.spares.close();
    await this.pool.closeAll();
    await this.crashGuard.closed();
  }
}

/** fsync of a directory (the names in it); false when it does not exist. */
async function syncDirectory(dir: string): Promise<boolean> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return false;
    }
    throw error;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}
