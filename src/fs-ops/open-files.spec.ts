import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlockCache } from '../cache/block-cache';
import { LocalContentGate } from '../cache/local-content-gate';
import { openDataSource, runMigrations } from '../metadata/data-source';
import { ROOT_INO } from '../metadata/metadata.types';
import { SqlMetadataStore } from '../metadata/sql-metadata.store';
import { OpenFiles, type RemoteBlockReader } from './open-files';

const BLOCK = 64 * 1024;
const O_RDWR = 2;

/** The remote side of OpenFiles recorded, not reached: which blocks a write asked for, and what it got back. */
function recordingRemote(remoteBytes: Buffer): { reader: RemoteBlockReader; fetched: number[] } {
  const fetched: number[] = [];
  const reader: RemoteBlockReader = {
    fetcher: () => (index) => {
      fetched.push(index);
      const block = remoteBytes.subarray(index * BLOCK, (index + 1) * BLOCK);
      return Promise.resolve(block.length > 0 ? Buffer.from(block) : undefined);
    },
    read: () => Promise.reject(new Error('not used here')),
    release: () => undefined,
  };
  return { reader, fetched };
}

describe('OpenFiles writes into blocks the cache lacks', () => {
  let dir: string;
  let store: SqlMetadataStore;
  let cache: BlockCache;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-open-files-'));
    const url = `sqlite:${path.join(dir, 'meta.sqlite')}`;
    await runMigrations(url);
    store = new SqlMetadataStore(await openDataSource(url));
    await store.initFilesystem({ uid: 0, gid: 0, mode: 0o755 });
    await store.openSession({ host: 'test', pid: process.pid, version: 'test' });
    cache = new BlockCache({ dir: path.join(dir, 'cache'), blockSize: BLOCK, maxBytes: 64 * BLOCK, minFreeRatio: 0 });
    await cache.init();
  });

  afterEach(async () => {
    await cache.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function fileOf(size: number, remote: RemoteBlockReader): Promise<{ files: OpenFiles; fh: number }> {
    const created = await store.create(ROOT_INO, 'f', { uid: 0, gid: 0, mode: 0o644 });
    const inode = size > 0 ? await store.recordContentChange(created.ino, { size, mtime: 'now' }) : created;
    const files = new OpenFiles(store, cache, {
      now: () => ({ sec: 1, nsec: 0 }),
      localContent: new LocalContentGate(cache),
      remoteBlocks: remote,
    });
    return { files, fh: await files.open(inode, O_RDWR) };
  }

  it('should fetch nothing for a block wholly past the end of the file, whatever its cap holds there', async () => {
    const remoteBytes = Buffer.alloc(3 * BLOCK, 7); // Bytes a truncate left in the old cap: not the file's.
    const { reader, fetched } = recordingRemote(remoteBytes);
    const { files, fh } = await fileOf(BLOCK + 100, reader);
    await files.write(fh, Buffer.from('tail'), 2 * BLOCK + 10);
    expect(fetched).toEqual([]);
    const block = await cache.read(files.inoOf(fh)!, 2 * BLOCK, 14, 2 * BLOCK + 14);
    expect(block.equals(Buffer.concat([Buffer.alloc(10), Buffer.from('tail')]))).toBe(true);
    await files.release(fh);
  });

  it('should fetch a block that holds bytes of the file before writing part of it', async () => {
    const remoteBytes = Buffer.alloc(BLOCK + 100, 7);
    const { reader, fetched } = recordingRemote(remoteBytes);
    const { files, fh } = await fileOf(BLOCK + 100, reader);
    await files.write(fh, Buffer.from('mid'), BLOCK + 50);
    expect(fetched).toEqual([1]);
    const kept = await cache.read(files.inoOf(fh)!, BLOCK + 40, 20, BLOCK + 100);
    expect(kept.equals(Buffer.concat([Buffer.alloc(10, 7), Buffer.from('mid'), Buffer.alloc(7, 7)]))).toBe(true);
    await files.release(fh);
  });

  it('should fetch nothing for a new file, block after block, as its writes extend it', async () => {
    const { reader, fetched } = recordingRemote(Buffer.alloc(0));
    const { files, fh } = await fileOf(0, reader);
    for (let position = 0; position < 3 * BLOCK; position += 4096) {
      await files.write(fh, Buffer.alloc(4096, 1), position);
    }
    expect(fetched).toEqual([]);
    await files.release(fh);
  });
});
