import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CachedMetadataStore } from '../../src/metadata/cached-metadata.store';
import { openDataSource, runMigrations } from '../../src/metadata/data-source';
import type { SyncStateChanged } from '../../src/metadata/metadata-events';
import { ROOT_INO } from '../../src/metadata/metadata.types';
import { SqlMetadataStore } from '../../src/metadata/sql-metadata.store';
import type { SyncJournal } from '../../src/metadata/sync-journal';

const OWNER = { uid: 1000, gid: 1000, mode: 0o644 };

describe('the metadata layer announces changes made behind the mount (SQLite)', () => {
  let directory: string;
  let store: SqlMetadataStore;
  let journal: SyncJournal;

  beforeEach(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-events-'));
    const url = `sqlite:${path.join(directory, 'metadata.sqlite')}`;
    await runMigrations(url);
    store = new SqlMetadataStore(await openDataSource(url));
    await store.initFilesystem({ uid: 1000, gid: 1000, mode: 0o755 });
    journal = store.syncJournal();
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it("should announce the rows each of the journal's writes changed, once committed", async () => {
    const file = await store.create(ROOT_INO, 'a', OWNER);
    const heard: SyncStateChanged[] = [];
    store.events.on('syncStateChanged', (event) => heard.push(event));
    await journal.markDirty(file.ino, { data: true });
    const dirty = (await journal.getSyncInode(file.ino))!;
    await journal.markSyncing(file.ino, dirty.changeSeq);
    await journal.markFailed(file.ino, 'grid unreachable', 1);
    await journal.recordCap(file.ino, 'URI:CHK:a:b:3:10:1', 'URI:CHK:a:b:3:10:1');
    expect(heard.map((event) => event.inos)).toEqual([[file.ino], [file.ino], [file.ino], [file.ino]]);
  });

  it('should not announce a markClean that cleared nothing (the inode changed since)', async () => {
    const file = await store.create(ROOT_INO, 'b', OWNER);
    await journal.markDirty(file.ino, { data: true });
    const stale = (await journal.getSyncInode(file.ino))!.changeSeq;
    await journal.markDirty(file.ino, { data: true });
    const heard: number[] = [];
    store.events.on('syncStateChanged', ({ inos }) => heard.push(...inos));
    expect(await journal.markClean(file.ino, stale, { data: true })).toBe(false);
    expect(await journal.markCleanMany([{ ino: file.ino, changeSeq: stale, flags: { data: true } }])).toEqual([]);
    expect(heard).toEqual([]);
  });

  it('should let a subscriber that reads through the mount cache read the new row, though it subscribed first', async () => {
    const file = await store.create(ROOT_INO, 'c', OWNER);
    const seen: (string | null)[] = [];
    // Subscribed before the cache exists: the bus still lets the cache forget first.
    const mount: { cache?: CachedMetadataStore } = {};
    store.events.on('syncStateChanged', () => {
      void mount.cache!.getInode(file.ino).then((inode) => seen.push(inode.writeCap));
    });
    const cached = new CachedMetadataStore(store, { ttlMs: 60_000 });
    mount.cache = cached;
    expect((await cached.getInode(file.ino)).writeCap).toBeNull();
    await journal.recordCap(file.ino, 'URI:CHK:c:d:3:10:1', 'URI:CHK:c:d:3:10:1');
    expect((await cached.getInode(file.ino)).writeCap).toBe('URI:CHK:c:d:3:10:1');
    expect(seen).toEqual(['URI:CHK:c:d:3:10:1']);
  });

  it("should drop the mount cache's names when a pull announces that names changed", async () => {
    const cached = new CachedMetadataStore(store, { ttlMs: 60_000 });
    const file = await store.create(ROOT_INO, 'gone-remotely', OWNER);
    expect((await cached.lookup(ROOT_INO, 'gone-remotely')).ino).toBe(file.ino);
    // Removed as a pull removes a name: through the store, not the cache.
    await store.unlink(ROOT_INO, 'gone-remotely');
    expect((await cached.lookup(ROOT_INO, 'gone-remotely')).ino).toBe(file.ino); // still the cached answer
    store.events.publish('remoteApplied', {
      inos: [ROOT_INO],
      names: [{ parent: ROOT_INO, name: Buffer.from('gone-remotely'), gone: file.ino }],
    });
    await expect(cached.lookup(ROOT_INO, 'gone-remotely')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('should announce the root when its cap is recorded', async () => {
    const heard: number[] = [];
    store.events.on('syncStateChanged', ({ inos }) => heard.push(...inos));
    await store.setRootCap('URI:DIR2:abc:def');
    expect(heard).toEqual([ROOT_INO]);
  });
});
