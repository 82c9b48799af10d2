import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlockCache } from '../../src/cache/block-cache';
import type { SyncInode } from '../../src/metadata/sync-journal';
import { FileUploader } from '../../src/sync/file-uploader.service';
import { RemoteBlocks } from '../../src/sync/remote-blocks';
import { testTahoeClient } from '../support/tahoe-fixtures';

const INO = 77;

/**
 * A dropped block stays dropped: BlockCache, FileUploader and RemoteBlocks together, on the real grid, with uploads
 * recorded the way the sync worker records them (the file's journal row is an object here: cap, size and content
 * version are all an upload and a fetch look at).
 */
describe('dropped blocks with uploads in flight (real grid; journal row in memory)', () => {
  const client = testTahoeClient();
  let dir: string;
  let cache: BlockCache;
  let row: SyncInode;
  let remote: RemoteBlocks;
  let uploader: FileUploader;

  async function openCache(blockSize: number): Promise<void> {
    cache = new BlockCache({ dir, blockSize, maxBytes: 64 * 1024 * 1024, minFreeRatio: 0 });
    await cache.init();
    remote = new RemoteBlocks({ journal: { getSyncInode: () => Promise.resolve({ ...row }) }, tahoe: client, cache });
    uploader = new FileUploader(cache, client, (ino) => remote.fetcher(ino));
  }

  /** What the sync worker does once an upload returns: record its cap, then mark its blocks clean. */
  async function record(upload: Awaited<ReturnType<FileUploader['upload']>>, contentVersion: number): Promise<void> {
    expect(upload).toBeDefined();
    expect(cache.writeGeneration(INO)).toBe(upload!.generation);
    row = { ...row, writeCap: upload!.cap, readCap: upload!.cap, syncedContentVersion: contentVersion };
    await cache.markClean(INO, upload!.dirtyBlocks, upload!.generation);
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-dropped-'));
    row = {
      ino: INO,
      type: 'file',
      size: 0,
      readCap: null,
      writeCap: null,
      contentVersion: 1,
      syncedContentVersion: null,
      dataDirty: true,
      dirtyOwner: null,
    } as SyncInode;
  });

  afterEach(async () => {
    await cache.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  afterAll(async () => {
    await client.close();
  });

  it('should read zeros, and upload zeros, where a truncate dropped blocks an upload starting meanwhile read', async () => {
    // Blocks small enough that the whole file is a LIT upload: the upload reads every block without any I/O, so it
    // runs entirely while the truncate that began just before it is still at its first await (deterministic).
    const block = 12;
    await openCache(block);
    const old = randomBytes(4 * block);
    await cache.write(INO, 0, old);
    row.size = old.length;
    await record(await uploader.upload({ ...row }), 1);

    // The file is cut inside block 1; the next upload starts while the journal still has the old size (the
    // truncate records the new one once the cache is done).
    const cutAt = block + 5;
    const truncating = cache.truncate(INO, cutAt);
    const upload = await uploader.upload({ ...row, contentVersion: 2 });
    await truncating;
    await record(upload, 2);

    // Grown again over the dropped blocks without writing them, the cached blocks evicted: reads fetch from the cap.
    await cache.truncate(INO, old.length);
    await cache.evictClean(INO);
    const expected = Buffer.concat([old.subarray(0, cutAt), Buffer.alloc(old.length - cutAt)]);
    expect((await cache.read(INO, 0, old.length, old.length, remote.fetcher(INO))).toString('hex')).toBe(
      expected.toString('hex'),
    );
    // Tahoe holds what the file held: zeros past the cut.
    expect((await client.readAll(upload!.cap)).toString('hex')).toBe(expected.toString('hex'));
  });

  it('should mark clean only the blocks an upload holds whole when the journal size lags the cache', async () => {
    const block = 64 * 1024;
    await openCache(block);
    const first = randomBytes(2 * block);
    await cache.write(INO, 0, first);
    row.size = first.length;
    await record(await uploader.upload({ ...row }), 1);

    // A write past the end reaches the cache (and is fsync'd by the close) before its size reaches the journal; an
    // upload picked just then holds the old size only.
    const appended = randomBytes(block + 100);
    await cache.write(INO, first.length, appended);
    await cache.fsync(INO);
    const upload = await uploader.upload({ ...row, contentVersion: 2 });
    await record(upload, 2);
    expect(cache.dirtyBlocks(INO)).toEqual([2, 3]);

    await cache.evictClean(INO);
    const size = first.length + appended.length;
    const read = await cache.read(INO, 0, size, size, remote.fetcher(INO));
    expect(read.equals(Buffer.concat([first, appended]))).toBe(true);
  });

  it('should read zeros past a truncate after a restart, until an upload holds the truncate', async () => {
    const block = 64 * 1024;
    await openCache(block);
    const old = randomBytes(4 * block);
    await cache.write(INO, 0, old);
    row.size = old.length;
    await record(await uploader.upload({ ...row }), 1);
    const cutAt = block + 7;
    await cache.truncate(INO, cutAt);
    await cache.fsync(INO);
    await cache.close();

    // A new process: the dropped blocks are neither cached nor fetched from the old cap, which still has them.
    await openCache(block);
    const expected = Buffer.concat([old.subarray(0, cutAt), Buffer.alloc(old.length - cutAt)]);
    await cache.evictClean(INO);
    expect((await cache.read(INO, 0, old.length, old.length, remote.fetcher(INO))).equals(expected)).toBe(true);

    // Once an upload of the cut file is recorded its cap speaks for every byte again, restart or not.
    row = { ...row, size: cutAt, contentVersion: 2 };
    await record(await uploader.upload({ ...row }), 2);
    expect(cache.remoteLimit(INO)).toBeUndefined();
    await cache.close();
    await openCache(block);
    expect(cache.remoteLimit(INO)).toBeUndefined();
    await cache.evictClean(INO);
    expect((await cache.read(INO, 0, cutAt, cutAt, remote.fetcher(INO))).equals(old.subarray(0, cutAt))).toBe(true);
  });

  it('should stop an upload, sending nothing more, once the file is written during it', async () => {
    const block = 64 * 1024;
    await openCache(block);
    const content = randomBytes(4 * block);
    await cache.write(INO, 0, content);
    row.size = content.length;
    await record(await uploader.upload({ ...row }), 1);
    await cache.evictClean(INO);

    // The next upload reads the evicted blocks through its fetcher: held at block 1 until the test has written.
    let reached!: () => void;
    const atBlockOne = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const heldUploader = new FileUploader(cache, client, (ino) => async (index) => {
      if (index === 1) {
        reached();
        await gate;
      }
      return remote.fetch(ino, index);
    });
    const uploading = heldUploader.upload({ ...row, contentVersion: 2 });
    await atBlockOne;
    await cache.write(INO, 3 * block, Buffer.from('written while the upload ran'));
    release();
    expect(await uploading).toBeUndefined();
  });
});
