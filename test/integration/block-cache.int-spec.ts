import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlockCache, type BlockCacheOptions } from '../../src/cache/block-cache';
import { isFsError } from '../../src/common/errors/fs-error';
import { seededRandom } from '../support/seeded-random';

const BS = 4096;

function pattern(length: number, seed: number): Buffer {
  const random = seededRandom(seed);
  return Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
}

describe('BlockCache on a real disk', () => {
  let dir: string;
  const caches: BlockCache[] = [];

  async function open(options: Partial<BlockCacheOptions> = {}): Promise<BlockCache> {
    const cache = new BlockCache({
      dir,
      blockSize: BS,
      maxBytes: 1024 * BS,
      minFreeRatio: 0,
      dirtyWaitMs: 200,
      ...options,
    });
    await cache.init();
    caches.push(cache);
    return cache;
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-cache-'));
  });
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((cache) => cache.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('should read back writes that span blocks, with holes as zeros', async () => {
    const cache = await open();
    const data = pattern(3 * BS + 100, 1);
    await cache.write(7, BS / 2, data);
    const size = BS / 2 + data.length;
    const all = await cache.read(7, 0, size + 500, size);
    expect(all.length).toBe(size);
    expect(all.subarray(0, BS / 2).equals(Buffer.alloc(BS / 2))).toBe(true);
    expect(all.subarray(BS / 2).equals(data)).toBe(true);
    // A block never written inside the file reads as zeros.
    await cache.write(8, 5 * BS, Buffer.from('tail'));
    const hole = await cache.read(8, 2 * BS, BS, 5 * BS + 4);
    expect(hole.equals(Buffer.alloc(BS))).toBe(true);
    expect(cache.dirtyBlocks(8)).toEqual([5]);
  });

  it("should read into a caller's buffer (the FUSE reply storage), zeroing holes and cut tails it held bytes in", async () => {
    const cache = await open();
    const data = pattern(BS + 100, 4);
    await cache.write(9, BS / 2, data);
    await cache.write(9, 4 * BS, Buffer.from('abcdef'));
    await cache.truncate(9, 4 * BS + 2);
    const size = 4 * BS + 6; // Extended again: the 4 bytes past the cut read as zeros.
    const expected = await cache.read(9, 0, size, size);
    const storage = Buffer.alloc(size + 50, 0xaa);
    const answer = await cache.read(9, 0, size + 50, size, undefined, storage);
    expect(answer.buffer).toBe(storage.buffer);
    expect(answer.length).toBe(size);
    expect(answer.equals(expected)).toBe(true);
    expect(answer.subarray(0, BS / 2).equals(Buffer.alloc(BS / 2))).toBe(true); // The hole before the write.
    expect(answer.subarray(2 * BS, 4 * BS).equals(Buffer.alloc(2 * BS))).toBe(true); // Blocks never written.
    expect(answer.subarray(4 * BS).toString('latin1')).toBe('ab\0\0\0\0');
  });

  it('should keep dirty blocks and their contents across a restart', async () => {
    const first = await open();
    const data = pattern(2 * BS + 17, 2);
    await first.write(3, 10, data);
    await first.fsync(3);
    await first.close();
    const second = await open();
    expect(second.dirtyBlocks(3)).toEqual([0, 1, 2]);
    expect(second.dirtyInodes()).toEqual([3]);
    expect((await second.read(3, 10, data.length, 10 + data.length)).equals(data)).toBe(true);
    expect(second.stats()).toMatchObject({ dirtyBytes: 2 * BS + 27, usedBytes: 2 * BS + 27 });
  });

  it("should give a freed file's block files to new blocks, emptied, and read none of their old bytes", async () => {
    // No refill (low-water mark 0): the only spares are the files this test frees.
    const cache = await open({ spareFiles: { lowWater: 0, highWater: 4 } });
    await cache.write(5, 0, pattern(2 * BS, 5));
    expect(cache.spareFileStats()).toEqual({ ready: 0, taken: 0 });
    await cache.drop(5);
    expect(cache.stats()).toMatchObject({ usedBytes: 0, dirtyBytes: 0, files: 0 });
    expect(cache.dirtyInodes()).toEqual([]);
    // The files go after drop returned (after the unlink's reply).
    await cache.removalsSettled();
    expect(cache.spareFileStats()).toEqual({ ready: 2, taken: 0 });
    expect(fs.readdirSync(path.join(dir, 'blocks', '0'))).toEqual([]);

    const data = Buffer.from('ten bytes!');
    await cache.write(6, 100, data);
    await cache.write(6, BS + 3, data);
    expect(cache.spareFileStats()).toEqual({ ready: 0, taken: 2 });
    const size = BS + 3 + data.length;
    const all = await cache.read(6, 0, size, size);
    expect(all.subarray(0, 100).equals(Buffer.alloc(100))).toBe(true);
    expect(all.subarray(100, 110).equals(data)).toBe(true);
    expect(all.subarray(110, BS + 3).equals(Buffer.alloc(BS - 107))).toBe(true);
    expect(fs.statSync(path.join(dir, 'blocks', '0', '6.0.d')).size).toBe(110);
    expect(fs.statSync(path.join(dir, 'blocks', '0', '6.1.d')).size).toBe(3 + data.length);
  });

  it('should keep what is written to a dropped inode before its old files are removed (a pull drops and refills)', async () => {
    const cache = await open();
    await cache.write(7, 0, pattern(2 * BS, 7));
    await cache.drop(7);
    const fresh = Buffer.from('the new content');
    await cache.write(7, 0, fresh);
    await cache.removalsSettled();
    expect((await cache.read(7, 0, BS, fresh.length)).equals(fresh)).toBe(true);
    expect(cache.dirtyBlocks(7)).toEqual([0]);
    expect(fs.readdirSync(path.join(dir, 'blocks', '0'))).toEqual(['7.0.d']);
    expect(fs.statSync(path.join(dir, 'blocks', '0', '7.0.d')).size).toBe(fresh.length);
  });

  it("should list a file's cached blocks with their state and bytes, from its own map", async () => {
    const cache = await open();
    await cache.write(3, 10, pattern(2 * BS + 17, 3));
    await cache.markClean(3, [1]);
    expect(cache.cachedBlocks(3)).toEqual([
      { index: 0, dirty: true, bytes: BS },
      { index: 1, dirty: false, bytes: BS },
      { index: 2, dirty: true, bytes: 27 },
    ]);
    expect(cache.cachedBlocks(4)).toEqual([]);
  });

  it('should take over a cache kept in one directory per file (the layout before shards), floors included', async () => {
    const old = path.join(dir, 'files', '5');
    fs.mkdirSync(old, { recursive: true });
    const dirtyBytes = pattern(BS, 9);
    const cleanBytes = pattern(100, 10);
    fs.writeFileSync(path.join(old, '0.d'), dirtyBytes);
    fs.writeFileSync(path.join(old, '1'), cleanBytes);
    fs.writeFileSync(path.join(old, 'holes-from'), String(BS + 100));
    const cache = await open();
    expect(fs.existsSync(path.join(dir, 'files'))).toBe(false);
    expect(cache.dirtyBlocks(5)).toEqual([0]);
    expect(cache.hasBlock(5, 1)).toBe(true);
    expect(cache.remoteLimit(5)).toBe(BS + 100);
    expect((await cache.read(5, 0, BS + 100, BS + 100)).equals(Buffer.concat([dirtyBytes, cleanBytes]))).toBe(true);
    expect(cache.stats()).toMatchObject({ dirtyBytes: BS, usedBytes: BS + 100 });
    // A freed file leaves no name behind in the shard its blocks shared with others.
    await cache.write(6, 0, Buffer.from('neighbour'));
    await cache.drop(5);
    await cache.removalsSettled();
    expect(fs.readdirSync(path.join(dir, 'blocks', '0'))).toEqual(['6.0.d']);
  });

  it('should fetch clean blocks again after the machine restarted without the cache synced, and only then', async () => {
    const bootIdFile = path.join(dir, 'boot_id');
    const fetched = pattern(BS, 9);
    let fetches = 0;
    const fetcher = (): Promise<Buffer> => {
      fetches += 1;
      return Promise.resolve(fetched);
    };
    const written = pattern(BS, 10);
    fs.writeFileSync(bootIdFile, 'boot-1\n');
    const beforeCrash = await open({ bootIdFile });
    expect((await beforeCrash.read(4, 0, BS, BS, fetcher)).equals(fetched)).toBe(true);
    await beforeCrash.write(5, 0, written);
    expect(fetches).toBe(1);

    // The machine crashed (the cache never closed) and booted again: the clean block may be torn, the dirty one is
    // the fsync contract's.
    fs.writeFileSync(bootIdFile, 'boot-2\n');
    const afterCrash = await open({ bootIdFile });
    expect(afterCrash.droppedAfterMachineCrash).toBe(1);
    expect((await afterCrash.read(5, 0, BS, BS)).equals(written)).toBe(true);
    expect((await afterCrash.read(4, 0, BS, BS, fetcher)).equals(fetched)).toBe(true);
    expect(fetches).toBe(2);

    // An orderly close syncs the cache: a reboot after it keeps every block.
    await afterCrash.close();
    fs.writeFileSync(bootIdFile, 'boot-3\n');
    const afterReboot = await open({ bootIdFile });
    expect(afterReboot.droppedAfterMachineCrash).toBe(0);
    expect((await afterReboot.read(4, 0, BS, BS, fetcher)).equals(fetched)).toBe(true);
    expect(fetches).toBe(2);

    // A crash of RiverFS alone (same boot, never closed) loses nothing: the kernel still holds what was written.
    const afterProcessCrash = await open({ bootIdFile });
    expect(afterProcessCrash.droppedAfterMachineCrash).toBe(0);
    expect((await afterProcessCrash.read(4, 0, BS, BS, fetcher)).equals(fetched)).toBe(true);
    expect(fetches).toBe(2);
  });

  it('should cut the last block and drop later ones when a file shrinks', async () => {
    const cache = await open();
    await cache.write(4, 0, pattern(4 * BS, 3));
    await cache.truncate(4, BS + 10);
    expect(cache.dirtyBlocks(4)).toEqual([0, 1]);
    expect(cache.stats().usedBytes).toBe(BS + 10);
    // Growing again exposes zeros, not the old bytes.
    const regrown = await cache.read(4, BS, 3 * BS, 4 * BS);
    expect(regrown.subarray(10).equals(Buffer.alloc(3 * BS - 10))).toBe(true);
    await cache.truncate(4, 0);
    expect(cache.stats()).toMatchObject({ usedBytes: 0, dirtyBytes: 0, files: 0 });
  });

  it('should fetch a block it lacks before a partial write, keeping the rest of that block', async () => {
    const cache = await open();
    const remote = pattern(2 * BS, 4);
    const fetched: number[] = [];
    const fetch = (index: number): Promise<Buffer> => {
      fetched.push(index);
      return Promise.resolve(remote.subarray(index * BS, (index + 1) * BS));
    };
    await cache.write(5, BS + 100, Buffer.from('patch'), fetch);
    expect(fetched).toEqual([1]);
    const expected = Buffer.from(remote);
    Buffer.from('patch').copy(expected, BS + 100);
    expect((await cache.read(5, 0, 2 * BS, 2 * BS, fetch)).equals(expected)).toBe(true);
    expect(fetched).toEqual([1, 0]);
    expect(cache.dirtyBlocks(5)).toEqual([1]);
  });

  it('should evict least recently used clean blocks only, staying within its size', async () => {
    const cache = await open({ maxBytes: 4 * BS });
    const remote = pattern(10 * BS, 5);
    const fetch = (index: number): Promise<Buffer> => Promise.resolve(remote.subarray(index * BS, (index + 1) * BS));
    await cache.write(1, 0, pattern(BS, 6)); // dirty: pinned
    for (let index = 0; index < 10; index++) {
      expect(
        (await cache.read(2, index * BS, BS, 10 * BS, fetch)).equals(remote.subarray(index * BS, (index + 1) * BS)),
      ).toBe(true);
    }
    const stats = cache.stats();
    expect(stats.usedBytes).toBeLessThanOrEqual(4 * BS);
    expect(stats.evictions).toBe(7);
    expect(cache.dirtyBlocks(1)).toEqual([0]);
    // The most recent blocks survived, the oldest went.
    expect(stats.misses).toBe(10);
    await cache.read(2, 9 * BS, BS, 10 * BS, fetch);
    expect(cache.stats().hits).toBe(1);
    expect(await cache.evictClean()).toBe(3 * BS);
    expect(cache.stats()).toMatchObject({ usedBytes: BS, dirtyBytes: BS });
  });

  it('should stay within its size while many fetches of missing blocks run at once', async () => {
    const cache = await open({ maxBytes: 4 * BS });
    const remote = pattern(16 * BS, 12);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // Every fetch waits at the gate, so all sixteen are in flight before any block is stored.
    const fetch = async (index: number): Promise<Buffer> => {
      await gate;
      return remote.subarray(index * BS, (index + 1) * BS);
    };
    const reads = Array.from({ length: 16 }, (_, index) => cache.read(3, index * BS, BS, 16 * BS, fetch));
    release();
    const blocks = await Promise.all(reads);
    blocks.forEach((block, index) => expect(block.equals(remote.subarray(index * BS, (index + 1) * BS))).toBe(true));
    expect(cache.stats().usedBytes).toBeLessThanOrEqual(4 * BS);
  });

  it('should make writers wait for dirty data to drain, then fail with ENOSPC', async () => {
    const cache = await open({ maxBytes: 2 * BS, dirtyWaitMs: 2000 });
    await cache.write(1, 0, pattern(2 * BS, 7));
    const waiting = cache.write(1, 2 * BS, pattern(BS, 8));
    await cache.markClean(1, [0]);
    await expect(waiting).resolves.toBeUndefined();
    expect(cache.dirtyBlocks(1)).toEqual([1, 2]);

    const quick = await open({ dir: path.join(dir, 'second'), maxBytes: BS, dirtyWaitMs: 50 });
    await quick.write(9, 0, pattern(BS, 9));
    const error: unknown = await quick.write(9, BS, Buffer.from('x')).catch((e: unknown) => e);
    expect(isFsError(error, 'ENOSPC')).toBe(true);
    // Nothing acknowledged was dropped.
    expect((await quick.read(9, 0, BS, BS)).equals(pattern(BS, 9))).toBe(true);
  });

  it('should refuse dirty data when the disk would fall under the free ratio', async () => {
    const cache = await open({
      minFreeRatio: 0.5,
      dirtyWaitMs: 50,
      diskSpace: () => Promise.resolve({ free: 10 * BS, total: 21 * BS }),
    });
    const error: unknown = await cache.write(1, 0, pattern(BS, 10)).catch((e: unknown) => e);
    expect(isFsError(error, 'ENOSPC')).toBe(true);
  });

  it('should match an in-memory model over a random sequence of writes, truncates, uploads and reads', async () => {
    const cache = await open();
    const random = seededRandom(42);
    let model = Buffer.alloc(0);
    for (let step = 0; step < 300; step++) {
      const choice = random();
      if (choice < 0.6) {
        const offset = Math.floor(random() * 6 * BS);
        const data = pattern(1 + Math.floor(random() * 2 * BS), step);
        await cache.write(11, offset, data);
        if (offset + data.length > model.length) {
          model = Buffer.concat([model, Buffer.alloc(offset + data.length - model.length)]);
        }
        data.copy(model, offset);
      } else if (choice < 0.65) {
        await cache.markClean(11, cache.dirtyBlocks(11)); // What an upload does once the blocks reached Tahoe.
      } else if (choice < 0.75) {
        const size = Math.floor(random() * 7 * BS);
        await cache.truncate(11, size);
        model =
          size <= model.length
            ? Buffer.from(model.subarray(0, size))
            : Buffer.concat([model, Buffer.alloc(size - model.length)]);
      } else {
        const offset = Math.floor(random() * (model.length + 1));
        const length = Math.floor(random() * 3 * BS);
        // Every other read goes into a buffer holding other bytes, as the FUSE reply storage does.
        const into = step % 2 === 0 ? Buffer.alloc(length, 0xee) : undefined;
        const got = await cache.read(11, offset, length, model.length, undefined, into);
        expect(got.equals(model.subarray(offset, offset + length))).toBe(true);
      }
      const dirty = cache.cachedBlocks(11).some((block) => block.dirty);
      expect([cache.dirtyInodes(), cache.dirtyFileCount()]).toEqual(dirty ? [[11], 1] : [[], 0]);
    }
    expect((await cache.read(11, 0, model.length, model.length)).equals(model)).toBe(true);
  });
});
