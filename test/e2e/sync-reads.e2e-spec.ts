import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { freshRootDircap } from '../support/tahoe.helper';
import { eventually } from '../support/tahoe-tree.helper';

const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = 64 * KiB;

interface CacheStats {
  usedBytes: number;
  dirtyBytes: number;
  hits: number;
  misses: number;
  limits: { maxBytes: number };
}

function admin(riverfs: RiverFsProcess): {
  cache: () => Promise<CacheStats>;
  evict: () => Promise<void>;
  waitSynced: (file: string) => Promise<void>;
} {
  const api = request(riverfs.adminUrl);
  const auth = { Authorization: `Bearer ${riverfs.adminToken()}` };
  const cache = async (): Promise<CacheStats> => {
    const response = await api.get('/admin/cache').set(auth);
    expect(response.status).toBe(200);
    return response.body as CacheStats;
  };
  return {
    cache,
    evict: async () => {
      const response = await api.post('/admin/cache/evict').set(auth).send({});
      expect(response.status).toBe(200);
    },
    /** Until the file's content is in Tahoe (its cap current) and nothing in the cache is dirty. */
    waitSynced: async (file) => {
      await eventually(`${file} synced`, async () => {
        const inode = await api.get('/admin/inodes').query({ path: file }).set(auth);
        const sync = (inode.body as { sync?: { dataDirty: boolean; syncedContentVersion: number | null } }).sync;
        if (inode.status !== 200 || sync?.dataDirty !== false || sync.syncedContentVersion === null) {
          return undefined;
        }
        return (await cache()).dirtyBytes === 0 ? true : undefined;
      });
    },
  };
}

/** GETs of file data so far: streamed (RemoteBlocks' streams) and single blocks (writes' and uploads' fetches). */
async function tahoeGets(riverfs: RiverFsProcess): Promise<{ streamed: number; blocks: number }> {
  const metrics = await (await fetch(`${riverfs.adminUrl}/metrics`)).text();
  const count = (op: string): number =>
    [
      ...metrics.matchAll(new RegExp(`^riverfs_tahoe_requests_total\\{op="${op}",status="\\w+"\\} (\\d+)$`, 'gm')),
    ].reduce((sum, match) => sum + Number(match[1]), 0);
  return { streamed: count('read'), blocks: count('readRange') };
}

/** Reads `length` bytes at `position` through a fresh descriptor (the kernel drops its page cache on open). */
function readRange(file: string, position: number, length: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const read = fs.readSync(fd, buffer, 0, length, position);
    return buffer.subarray(0, read);
  } finally {
    fs.closeSync(fd);
  }
}

describe('reads of uncached data', () => {
  it('should read a synced file back byte for byte from Tahoe after its blocks were evicted', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, {
        args: ['--root-cap', await freshRootDircap(), '--cache-block-size', '64KiB'],
      });
      try {
        const api = admin(riverfs);
        const content = randomBytes(10 * BLOCK + 12_345);
        const tiny = Buffer.from('small enough for a LIT cap');
        fs.writeFileSync(path.join(mountpoint, 'multi.bin'), content);
        fs.writeFileSync(path.join(mountpoint, 'tiny.txt'), tiny);
        await api.waitSynced('/multi.bin');
        await api.waitSynced('/tiny.txt');

        await api.evict();
        const evicted = await api.cache();
        expect(evicted.usedBytes).toBe(0);

        expect(fs.readFileSync(path.join(mountpoint, 'multi.bin')).equals(content)).toBe(true);
        expect(fs.readFileSync(path.join(mountpoint, 'tiny.txt')).equals(tiny)).toBe(true);
        const afterRead = await api.cache();
        expect(afterRead.misses).toBeGreaterThanOrEqual(evicted.misses + 11);
        expect(afterRead.usedBytes).toBe(content.length + tiny.length);

        await api.evict();
        for (let i = 0; i < 20; i++) {
          const position = Math.floor(Math.random() * content.length);
          const length = 1 + Math.floor(Math.random() * 3 * BLOCK);
          const got = readRange(path.join(mountpoint, 'multi.bin'), position, length);
          expect(got.equals(content.subarray(position, position + length))).toBe(true);
        }
        // Past the end: nothing, and no request that Tahoe would answer with 416.
        expect(readRange(path.join(mountpoint, 'multi.bin'), content.length + 10, 100).length).toBe(0);
      } finally {
        await riverfs.dispose();
      }
    });
  });

  it('should keep the rest of an evicted block when part of it is overwritten or the file is truncated', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, {
        args: ['--root-cap', await freshRootDircap(), '--cache-block-size', '64KiB'],
      });
      try {
        const api = admin(riverfs);
        const file = path.join(mountpoint, 'patched.bin');
        const content = randomBytes(4 * BLOCK + 999);
        fs.writeFileSync(file, content);
        await api.waitSynced('/patched.bin');
        await api.evict();

        // Read-modify-write of block 1 through the fetcher.
        const patch = Buffer.from('patched in the middle of block one');
        const fd = fs.openSync(file, 'r+');
        try {
          fs.writeSync(fd, patch, 0, patch.length, BLOCK + 1000);
        } finally {
          fs.closeSync(fd);
        }
        const expected = Buffer.from(content);
        patch.copy(expected, BLOCK + 1000);
        expect(fs.readFileSync(file).equals(expected)).toBe(true);

        // Once that is uploaded: shrink into an evicted block, then grow; the cut-off bytes come back as zeros.
        await api.waitSynced('/patched.bin');
        await api.evict();
        fs.truncateSync(file, 2 * BLOCK + 500);
        fs.truncateSync(file, 3 * BLOCK + 10);
        const truncated = Buffer.concat([expected.subarray(0, 2 * BLOCK + 500), Buffer.alloc(BLOCK - 490)]);
        expect(fs.readFileSync(file).equals(truncated)).toBe(true);
        await api.waitSynced('/patched.bin');
        await api.evict();
        expect(fs.readFileSync(file).equals(truncated)).toBe(true);
      } finally {
        await riverfs.dispose();
      }
    });
  });

  it('should read a 64 MiB file cold and sequentially through one streaming GET while the cache holds 16 MiB', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const rootCap = await freshRootDircap();
      const args = ['--root-cap', rootCap];
      const content = randomBytes(64 * MiB + 777);
      let riverfs = await RiverFsProcess.start(mountpoint, { args });
      const dataDir = riverfs.dataDir;
      try {
        fs.writeFileSync(path.join(mountpoint, 'large.bin'), content);
        await admin(riverfs).waitSynced('/large.bin');
        await riverfs.stop();
        riverfs = await RiverFsProcess.start(mountpoint, { dataDir, args: [...args, '--cache-size', '16MiB'] });
        const api = admin(riverfs);
        await api.evict();
        const getsBefore = await tahoeGets(riverfs);

        const fd = fs.openSync(path.join(mountpoint, 'large.bin'), 'r');
        let peak = 0;
        try {
          const chunk = Buffer.alloc(MiB);
          for (let position = 0; position < content.length; position += chunk.length) {
            const read = fs.readSync(fd, chunk, 0, chunk.length, position);
            expect(read).toBe(Math.min(chunk.length, content.length - position));
            expect(chunk.subarray(0, read).equals(content.subarray(position, position + read))).toBe(true);
            peak = Math.max(peak, (await api.cache()).usedBytes);
          }
        } finally {
          fs.closeSync(fd);
        }
        const stats = await api.cache();
        expect(stats.limits.maxBytes).toBe(16 * MiB);
        expect(peak).toBeLessThanOrEqual(16 * MiB);
        expect(stats.usedBytes).toBeLessThanOrEqual(16 * MiB);
        // One GET streamed the file (a block GET for the first read at most, and a new stream if one idled out
        // while this test polled the admin API): not one per block or run of blocks.
        const gets = await tahoeGets(riverfs);
        expect(gets.streamed - getsBefore.streamed).toBeGreaterThanOrEqual(1);
        expect(gets.streamed - getsBefore.streamed + gets.blocks - getsBefore.blocks).toBeLessThanOrEqual(3);
      } finally {
        await riverfs.dispose();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
});

describe('warmup', () => {
  it('should fill the cache with a tree of LIT and CHK files through the streaming reader', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, {
        args: ['--root-cap', await freshRootDircap(), '--cache-block-size', '256KiB'],
      });
      try {
        const api = admin(riverfs);
        const files = new Map<string, Buffer>([
          ['/w/empty', Buffer.alloc(0)],
          ['/w/tiny.txt', Buffer.from('fifty-five bytes or fewer: a LIT cap')],
          ['/w/sub/medium.bin', randomBytes(300_001)],
          ['/w/sub/deeper/large.bin', randomBytes(3 * MiB + 17)],
        ]);
        fs.mkdirSync(path.join(mountpoint, 'w', 'sub', 'deeper'), { recursive: true });
        for (const [file, content] of files) {
          fs.writeFileSync(path.join(mountpoint, file), content);
        }
        for (const file of files.keys()) {
          await api.waitSynced(file);
        }
        await api.evict();
        expect((await api.cache()).usedBytes).toBe(0);
        const getsBefore = await tahoeGets(riverfs);

        const warmup = await request(riverfs.adminUrl)
          .post('/admin/warmup')
          .set({ Authorization: `Bearer ${riverfs.adminToken()}` })
          .send({ path: '/w', wait: true });
        expect(warmup.status).toBe(200);
        const total = [...files.values()].reduce((sum, content) => sum + content.length, 0);
        expect(warmup.body).toMatchObject({ state: 'succeeded', result: { files: files.size, bytes: total } });

        const warm = await api.cache();
        expect(warm.usedBytes).toBe(total);
        // LIT caps decode locally; each CHK file is one streamed GET.
        const gets = await tahoeGets(riverfs);
        expect(gets.streamed - getsBefore.streamed).toBe(2);
        expect(gets.blocks - getsBefore.blocks).toBe(0);
        for (const [file, content] of files) {
          expect(fs.readFileSync(path.join(mountpoint, file)).equals(content)).toBe(true);
        }
        expect((await api.cache()).misses).toBe(warm.misses);
        expect(await tahoeGets(riverfs)).toEqual(gets);
      } finally {
        await riverfs.dispose();
      }
    });
  });
});
