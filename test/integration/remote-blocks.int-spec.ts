import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pollUntil } from '../../src/grid/process.util';
import { BlockCache } from '../../src/cache/block-cache';
import type { SyncInode } from '../../src/metadata/sync-journal';
import {
  DEFAULT_REMOTE_BLOCKS_OPTIONS,
  RemoteBlocks,
  type RemoteBlocksEvent,
  type RemoteBlocksOptions,
} from '../../src/sync/remote-blocks';
import type { TahoeRequestEvent } from '../../src/tahoe/tahoe.types';
import { testTahoeClient } from '../support/tahoe-fixtures';

const BLOCK = 64 * 1024;
const INO = 42;

describe('RemoteBlocks with a real TahoeClient and BlockCache', () => {
  const requests: TahoeRequestEvent[] = [];
  const events: RemoteBlocksEvent[] = [];
  const made: RemoteBlocks[] = [];
  const client = testTahoeClient({ observer: { request: (event) => requests.push(event), bytes: () => undefined } });
  let dir: string;
  let cache: BlockCache;

  beforeEach(async () => {
    requests.length = 0;
    events.length = 0;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-remote-'));
    cache = new BlockCache({ dir, blockSize: BLOCK, maxBytes: 64 * 1024 * 1024, minFreeRatio: 0 });
    await cache.init();
  });

  afterEach(async () => {
    await Promise.all(made.splice(0).map((remote) => remote.close()));
    await cache.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  afterAll(async () => {
    await client.close();
  });

  async function uploaded(content: Buffer, options: Partial<RemoteBlocksOptions> = {}): Promise<RemoteBlocks> {
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
    const remote = new RemoteBlocks(
      { journal: { getSyncInode: () => Promise.resolve(inode) }, tahoe: client, cache },
      { ...DEFAULT_REMOTE_BLOCKS_OPTIONS, maxConcurrentDownloads: 2, readAheadBlocks: 3, ...options },
    );
    remote.onEvent = (event) => events.push(event);
    made.push(remote);
    return remote;
  }

  const readRanges = (): number => requests.filter((event) => event.operation === 'readRange').length;
  const streamedGets = (): number => requests.filter((event) => event.operation === 'read').length;

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

  it('should serve a whole sequential read with one streaming GET, storing the blocks as they pass', async () => {
    const content = randomBytes(40 * BLOCK + 999);
    const remote = await uploaded(content);
    const piece = 32 * 1024;
    for (let position = 0; position < content.length; position += piece) {
      const got = await remote.read(1, INO, position, piece, content.length);
      expect(got.equals(content.subarray(position, position + piece))).toBe(true);
    }
    expect(streamedGets()).toBe(1);
    expect(readRanges()).toBe(0);
    await pollUntil(() => Promise.resolve(remote.openStreams().length === 0 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 20,
      describeTimeout: () => 'the stream did not end at the end of the file',
    });
    // Every block went to the cache off the reply path: read again, with no request.
    expect((await remote.read(2, INO, 0, content.length, content.length)).equals(content)).toBe(true);
    expect(streamedGets()).toBe(1);
  });

  it('should answer a cold first read as soon as its range has arrived, before the rest of its block', async () => {
    const big = 4 * 1024 * 1024;
    await cache.close();
    cache = new BlockCache({ dir, blockSize: big, maxBytes: 64 * 1024 * 1024, minFreeRatio: 0 });
    await cache.init();
    const content = randomBytes(2 * big);
    const remote = await uploaded(content);
    const got = await remote.read(1, INO, 0, 4096, content.length);
    expect(got.equals(content.subarray(0, 4096))).toBe(true);
    const served = events.find((event) => event.kind === 'served' && event.index === 0);
    // Tahoe sends 128 KiB segments: the read was answered with a small part of the 4 MiB block received.
    expect(served).toMatchObject({ from: 'stream' });
    expect((served as { streamReceived: number }).streamReceived).toBeLessThan(big);
  });

  it('should answer a demand read elsewhere in the file with its own GET, not behind the read-ahead stream', async () => {
    const content = randomBytes(64 * BLOCK);
    const remote = await uploaded(content, { readAheadBlocks: 2 });
    for (const position of [0, 32 * 1024, BLOCK]) {
      await remote.read(1, INO, position, 32 * 1024, content.length);
    }
    const readAhead = remote.openStreams().find((stream) => stream.openEnded);
    expect(readAhead).toBeDefined();
    // The read-ahead stream waits at its window (a few blocks past its reader): block 50 is far behind it.
    const far = 50 * BLOCK + 100;
    const got = await remote.read(2, INO, far, 5000, content.length);
    expect(got.equals(content.subarray(far, far + 5000))).toBe(true);
    const stillStreaming = remote.openStreams().find((stream) => stream.openEnded);
    expect(stillStreaming?.frontBlock).toBeLessThan(50);
    const opened = events.filter((event) => event.kind === 'stream-opened');
    expect(opened).toEqual([
      expect.objectContaining({ firstBlock: 0, openEnded: true }),
      expect.objectContaining({ firstBlock: 50, openEnded: false }),
    ]);
    expect(events.filter((event) => event.kind === 'served' && event.index === 50)).toEqual([
      expect.objectContaining({ from: 'stream' }),
    ]);
  });

  it('should give a stream up when the last handle reading from it is closed, freeing its slot at once', async () => {
    const content = randomBytes(64 * BLOCK);
    // One open-ended stream at a time, idling out only after a minute: only the release can free it in this test.
    const remote = await uploaded(content, { readAheadBlocks: 2, maxStreams: 1, streamIdleMs: 60_000 });
    const streamsOf = (ino: number): number => remote.openStreams().filter((stream) => stream.ino === ino).length;
    for (const fh of [1, 3]) {
      const got = await remote.read(fh, INO, 0, 32 * 1024, content.length);
      expect(got.equals(content.subarray(0, 32 * 1024))).toBe(true);
    }
    expect(streamsOf(INO)).toBe(1);
    remote.release(1, INO);
    expect(streamsOf(INO)).toBe(1); // Handle 3 still reads from it.
    remote.release(3, INO);
    await pollUntil(() => Promise.resolve(streamsOf(INO) === 0 ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 10,
      describeTimeout: () => 'the stream of the closed handles is still open',
    });
    // Another file read sequentially from its start gets the slot: one GET to its end, not one per block.
    const other = INO + 1;
    const got = await remote.read(5, other, 0, 32 * 1024, content.length);
    expect(got.equals(content.subarray(0, 32 * 1024))).toBe(true);
    expect(events.filter((event) => event.kind === 'stream-opened')).toEqual([
      expect.objectContaining({ ino: INO, openEnded: true }),
      expect.objectContaining({ ino: other, openEnded: true }),
    ]);
  });

  it('should read a truncated-away range as zeros rather than bytes of the old cap', async () => {
    const content = randomBytes(4 * BLOCK);
    const remote = await uploaded(content);
    await cache.truncate(INO, BLOCK + 5);
    const grown = 3 * BLOCK;
    for (const data of [
      await remote.read(1, INO, 0, grown, grown),
      await cache.read(INO, 0, grown, grown, remote.fetcher(INO)),
    ]) {
      expect(data.subarray(0, BLOCK + 5).equals(content.subarray(0, BLOCK + 5))).toBe(true);
      expect(data.subarray(BLOCK + 5).equals(Buffer.alloc(grown - BLOCK - 5))).toBe(true);
    }
  });
});
