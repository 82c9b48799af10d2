import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlockCache } from '../../src/cache/block-cache';
import { toErrno } from '../../src/fs-ops/errno.mapper';
import type { SyncInode } from '../../src/metadata/sync-journal';
import { DEFAULT_REMOTE_BLOCKS_OPTIONS, RemoteBlocks } from '../../src/sync/remote-blocks';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { testGrid } from '../support/tahoe.helper';

const MiB = 1024 * 1024;
const INO = 7;
/** The configured Tahoe body timeout of these tests: a stalled stream must fail within it (plus scheduling slack). */
const BODY_TIMEOUT_MS = 3_000;
const SLACK_MS = 2_000;
const PIECE = 128 * 1024;

describe('a streaming read while the Tahoe client node stops or stalls', () => {
  const grid = testGrid();
  let dir: string;
  let cache: BlockCache;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-stream-fault-'));
    cache = new BlockCache({ dir, blockSize: MiB, maxBytes: 64 * MiB, minFreeRatio: 0 });
    await cache.init();
  });

  afterEach(async () => {
    await cache.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A file of `size` random bytes uploaded to the grid, and a RemoteBlocks reading it with the short timeout. */
  async function streamedFile(
    size: number,
  ): Promise<{ content: Buffer; remote: RemoteBlocks; close: () => Promise<void> }> {
    const content = randomBytes(size);
    const uploader = testTahoeClient();
    const cap = await uploader.upload(content).finally(() => uploader.close());
    const client = testTahoeClient({ bodyTimeout: BODY_TIMEOUT_MS, headersTimeout: BODY_TIMEOUT_MS, retries: 0 });
    const inode = {
      ino: INO,
      type: 'file',
      size,
      readCap: cap,
      writeCap: cap,
      contentVersion: 1,
      syncedContentVersion: 1,
      dataDirty: false,
    } as SyncInode;
    const remote = new RemoteBlocks(
      { journal: { getSyncInode: () => Promise.resolve(inode) }, tahoe: client, cache },
      { ...DEFAULT_REMOTE_BLOCKS_OPTIONS, readAheadBlocks: 2 },
    );
    return {
      content,
      remote,
      close: async () => {
        await remote.close();
        await client.close();
      },
    };
  }

  /** Reads on sequentially from `position` until a read fails; returns the failure and how long that read took. */
  async function readUntilFailure(
    remote: RemoteBlocks,
    content: Buffer,
    position: number,
  ): Promise<{ error: unknown; failedAt: number; tookMs: number }> {
    for (let at = position; at < content.length; at += PIECE) {
      const started = Date.now();
      try {
        const got = await remote.read(1, INO, at, PIECE, content.length);
        expect(got.equals(content.subarray(at, at + PIECE))).toBe(true);
      } catch (error) {
        return { error, failedAt: at, tookMs: Date.now() - started };
      }
    }
    throw new Error('every read succeeded: the outage never reached the stream');
  }

  it('should fail the waiting read with EIO within the timeout when the node stalls, and recover after', async () => {
    const { content, remote, close } = await streamedFile(48 * MiB);
    try {
      for (let at = 0; at < 2 * MiB; at += PIECE) {
        await remote.read(1, INO, at, PIECE, content.length);
      }
      expect(remote.openStreams()).toEqual([expect.objectContaining({ openEnded: true })]);
      const pid = grid.nodePid('client');
      expect(pid).toBeDefined();
      // SIGSTOP: the connection stays open and silent, the stall a wedged node gives.
      process.kill(pid!, 'SIGSTOP');
      let outcome: Awaited<ReturnType<typeof readUntilFailure>>;
      try {
        outcome = await readUntilFailure(remote, content, 2 * MiB);
      } finally {
        process.kill(pid!, 'SIGCONT');
      }
      expect(toErrno(outcome.error).name).toBe('EIO');
      expect(outcome.tookMs).toBeLessThanOrEqual(BODY_TIMEOUT_MS + SLACK_MS);
      await grid.waitUntilHappy();
      // The next read opens a new GET and gets the right bytes.
      const again = await remote.read(1, INO, outcome.failedAt, PIECE, content.length);
      expect(again.equals(content.subarray(outcome.failedAt, outcome.failedAt + PIECE))).toBe(true);
    } finally {
      await close();
    }
  });

  it('should fail the waiting read with EIO when the node is stopped mid-stream, and recover once it is back', async () => {
    const { content, remote, close } = await streamedFile(48 * MiB);
    try {
      for (let at = 0; at < 2 * MiB; at += PIECE) {
        await remote.read(1, INO, at, PIECE, content.length);
      }
      let outcome: Awaited<ReturnType<typeof readUntilFailure>>;
      try {
        await grid.stopNode('client');
        outcome = await readUntilFailure(remote, content, 2 * MiB);
      } finally {
        await grid.startNode('client');
        await grid.waitUntilHappy();
      }
      expect(toErrno(outcome.error).name).toBe('EIO');
      expect(outcome.tookMs).toBeLessThanOrEqual(BODY_TIMEOUT_MS + SLACK_MS);
      const again = await remote.read(1, INO, outcome.failedAt, PIECE, content.length);
      expect(again.equals(content.subarray(outcome.failedAt, outcome.failedAt + PIECE))).toBe(true);
    } finally {
      await close();
    }
  });
});
