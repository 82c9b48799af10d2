import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pollUntil } from '../../src/grid/process.util';
import { BlockCache } from '../../src/cache/block-cache';
import type { SyncInode } from '../../src/metadata/sync-journal';
import { RemoteBlocks } from '../../src/sync/remote-blocks';
import type { TahoeRequestEvent } from '../../src/tahoe/tahoe.types';
import { testTahoeClient } from '../support/tahoe-fixtures';

const BLOCK = 64 * 1024;
const INO = 42;

describe('RemoteBlocks with a real TahoeClient and BlockCache', () => {
  const requests: TahoeRequestEvent[] = [];
  const client = testTahoeClient({ observer: { request: (event) => requests.push(event), bytes: () => undefined } });
  let dir: string;
  let cache: BlockCache;

  beforeEach(async () => {
    requests.length = 0;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-remote-'));
    cache = new BlockCache({ dir, blockSize: BLOCK, maxBytes: 64 * 1024 * 1024, minFreeRatio: 0 });
    await cache.init();
  });

  afterEach(async () => {
    await cache.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  afterAll(async () => {
    await client.close();
  });

  async function uploaded(content: Buffer): Promise<RemoteBlocks> {
    const cap = await client.upload(content);
    const inode = {
      ino: INO,
      type: 'file',
      size: content.length,
      readCap: cap,
      writeCap: cap,
      contentVersion: 1,
      syncedContentVersion: 1,
      dataDirty: false,
    } as SyncInode;
    requests.length = 0;
    return new RemoteBlocks(
      { journal: { getSyncInode: () => Promise.resolve(inode) }, tahoe: client, cache },
      { maxConcurrentDownloads: 2, readAheadBlocks: 3, maxBlocksPerRequest: 8 },
    );
  }

  const readRanges = (): number => requests.filter((event) => event.operation === 'readRange').length;

  it('should download a missing block once when two reads of it run concurrently', async () => {
    const content = randomBytes(3 * BLOCK + 100);
    const remote = await uploaded(content);
    const [first, second] = await Promise.all([
      cache.read(INO, BLOCK + 10, 1000, content.length, remote.fetcher(INO)),
      cache.read(INO, BLOCK + 500, 2000, content.length, remote.fetcher(INO)),
    ]);
    expect(first.equals(content.subarray(BLOCK + 10, BLOCK + 1010))).toBe(true);
    expect(second.equals(content.subarray(BLOCK + 500, BLOCK + 2500))).toBe(true);
    expect(readRanges()).toBe(1);
    expect(remote.downloads).toBe(1);
    // Cached now: read again without a request.
    expect((await cache.read(INO, BLOCK, BLOCK, content.length, remote.fetcher(INO))).length).toBe(BLOCK);
    expect(readRanges()).toBe(1);
  });

  it('should fetch the next blocks in the background, in one request, when a handle reads sequentially', async () => {
    const content = randomBytes(8 * BLOCK);
    const remote = await uploaded(content);
    for (const position of [0, 32 * 1024]) {
      remote.readAhead(1, INO, position, 32 * 1024, content.length);
      await cache.read(INO, position, 32 * 1024, content.length, remote.fetcher(INO));
    }
    // The second read was sequential: blocks 1..3 come without being read.
    await pollUntil(() => Promise.resolve([1, 2, 3].every((index) => cache.hasBlock(INO, index)) ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 20,
      describeTimeout: () => 'read-ahead did not fetch blocks 1..3',
    });
    expect(cache.hasBlock(INO, 4)).toBe(false);
    // The demand read of block 0, then blocks 1..3 in one ranged GET (each GET costs Tahoe a fixed setup).
    expect(readRanges()).toBe(2);
    const whole = await cache.read(INO, 0, content.length, content.length, remote.fetcher(INO));
    expect(whole.equals(content)).toBe(true);
  });

  it('should read a truncated-away range as zeros rather than bytes of the old cap', async () => {
    const content = randomBytes(4 * BLOCK);
    const remote = await uploaded(content);
    await cache.truncate(INO, BLOCK + 5);
    const grown = 3 * BLOCK;
    const data = await cache.read(INO, 0, grown, grown, remote.fetcher(INO));
    expect(data.subarray(0, BLOCK + 5).equals(content.subarray(0, BLOCK + 5))).toBe(true);
    expect(data.subarray(BLOCK + 5).equals(Buffer.alloc(grown - BLOCK - 5))).toBe(true);
  });
});
