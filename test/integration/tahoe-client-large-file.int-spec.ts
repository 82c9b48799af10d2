import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseKnownCap } from '../../src/tahoe/cap.util';
import type { TahoeClient } from '../../src/tahoe/tahoe.client';
import { testTahoeClient } from '../support/tahoe-fixtures';

const MiB = 1024 * 1024;
// Above 64 MiB and not a multiple of the 1 MiB segment size, so the last segment is a partial one.
const FILE_SIZE = 72 * MiB + 12_345;
const RANGE_SIZE = 4 * MiB;
const MAX_RSS_GROWTH = 40 * MiB;

/** xorshift32: the same seed always gives the same bytes, so a failure can be reproduced exactly. */
function* seededChunks(seed: number, total: number, chunkSize: number): Generator<Buffer> {
  let state = seed >>> 0 || 1;
  for (let offset = 0; offset < total; offset += chunkSize) {
    const chunk = Buffer.allocUnsafe(Math.min(chunkSize, total - offset));
    let index = 0;
    for (; index + 4 <= chunk.length; index += 4) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      chunk.writeUInt32LE(state >>> 0, index);
    }
    for (; index < chunk.length; index += 1) {
      chunk[index] = index & 0xff;
    }
    yield chunk;
  }
}

// Each chunk read from disk or the socket is a new Buffer, and V8 frees such external memory only after tens of MiB
// of it have piled up; collecting before each sample makes the RSS show what is retained, not what awaits the GC.
// The samples take a young-generation collection only (about 1 ms; it frees dropped chunks): a full one costs
// ~430 ms in a Jest worker whose heap has grown to 400 MB over earlier suites, and every 50 ms that made this suite
// take 380 s in CI instead of 5 s. The baseline and the final figure take a full one.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;

/** Writes `size` seeded bytes to `file` in 1 MiB chunks (never whole in memory); returns their SHA-256. */
function writeSeededFile(file: string, seed: number, size: number): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'w');
  try {
    for (const chunk of seededChunks(seed, size, MiB)) {
      hash.update(chunk);
      fs.writeSync(fd, chunk);
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** Samples the process RSS until stopped; reports the highest value seen above the baseline. */
function rssWatcher(): { stop: () => number } {
  collectGarbage();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const timer = setInterval(() => {
    collectGarbage({ type: 'minor' });
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 50);
  return {
    stop: () => {
      clearInterval(timer);
      collectGarbage();
      peak = Math.max(peak, process.memoryUsage.rss());
      return peak - baseline;
    },
  };
}

describe('TahoeClient with a file larger than 64 MiB', () => {
  let client: TahoeClient;
  let dir: string;

  beforeAll(() => {
    client = testTahoeClient({ retries: 3 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-tahoe-large-'));
  });

  afterAll(async () => {
    await client.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(
    'should upload it from disk and read it back by ranges with the same hash, without holding it in memory',
    async () => {
      // The first large streamed transfer in a process grows the allocator's arenas by ~30 MiB once (measured,
      // whatever the upload method), and undici loads its parser on first use. An 8 MiB round trip first takes
      // those one-time costs out of the measurement; a client that buffered whole files would still grow by the
      // size of the 72 MiB file below.
      const warmUpFile = path.join(dir, 'warm-up.bin');
      writeSeededFile(warmUpFile, 0xbeef, 8 * MiB);
      const warmUp = await client.uploadFile(warmUpFile);
      let warmUpBytes = 0;
      for await (const chunk of (await client.read(warmUp)).stream) {
        warmUpBytes += (chunk as Buffer).length;
      }
      expect(warmUpBytes).toBe(8 * MiB);

      const file = path.join(dir, 'large.bin');
      const expectedHash = writeSeededFile(file, 0x5eed, FILE_SIZE);

      const uploadRss = rssWatcher();
      const cap = await client.uploadFile(file);
      const uploadGrowth = uploadRss.stop();
      expect(parseKnownCap(cap)).toMatchObject({ kind: 'CHK', size: FILE_SIZE });
      expect(uploadGrowth).toBeLessThan(MAX_RSS_GROWTH);

      const readRss = rssWatcher();
      const readBack = createHash('sha256');
      let received = 0;
      for (let start = 0; start < FILE_SIZE; start += RANGE_SIZE) {
        const end = Math.min(start + RANGE_SIZE, FILE_SIZE) - 1;
        const result = await client.read(cap, { range: { start, end } });
        expect(result).toMatchObject({ totalSize: FILE_SIZE, contentLength: end - start + 1, range: { start, end } });
        for await (const chunk of result.stream) {
          readBack.update(chunk as Buffer);
          received += (chunk as Buffer).length;
        }
      }
      const readGrowth = readRss.stop();
      expect(received).toBe(FILE_SIZE);
      expect(readBack.digest('hex')).toBe(expectedHash);
      expect(readGrowth).toBeLessThan(MAX_RSS_GROWTH);

      // An unaligned range across a segment boundary, compared with the bytes on disk.
      const start = 5 * MiB - 777;
      const slice = await client.readRange(cap, start, 3000);
      const onDisk = Buffer.alloc(3000);
      const check = fs.openSync(file, 'r');
      try {
        fs.readSync(check, onDisk, 0, 3000, start);
      } finally {
        fs.closeSync(check);
      }
      expect(slice.equals(onDisk)).toBe(true);
    },
    15 * 60_000,
  );
});
