import { MetadataEvents } from './metadata-events';
import type { MetadataStore } from './metadata.store';
import type { DirPage, InodeRecord, SetAttrChanges } from './metadata.types';
import { CachedMetadataStore } from './cached-metadata.store';

function fileRecord(size: number): InodeRecord {
  return { ino: 7, type: 'file', size } as InodeRecord;
}

/**
 * An inner store (a fake: reads and writes overlap on MariaDB, but not on demand) whose reads are held until the
 * test releases them, each answering the row as it was when the read began.
 */
function overlappingStore(): {
  store: MetadataStore;
  releaseReads: () => void;
} {
  let row = fileRecord(8 << 20);
  let holding = true;
  const held: (() => void)[] = [];
  const read = (): Promise<InodeRecord> => {
    const seen = { ...row };
    return holding ? new Promise((resolve) => held.push(() => resolve(seen))) : Promise.resolve(seen);
  };
  const store = {
    events: new MetadataEvents(),
    getInode: read,
    open: read,
    setattr: (_ino: number, changes: SetAttrChanges): Promise<InodeRecord> => {
      row = { ...row, size: changes.size ?? row.size };
      return Promise.resolve({ ...row });
    },
  } as unknown as MetadataStore;
  const releaseReads = (): void => {
    holding = false;
    held.splice(0).forEach((release) => release());
  };
  return { store, releaseReads };
}

describe('CachedMetadataStore', () => {
  it('should not keep a row that a read began before a concurrent setattr (fake overlapping store)', async () => {
    const { store, releaseReads } = overlappingStore();
    const cached = new CachedMetadataStore(store, { ttlMs: 60_000 });
    const staleRead = cached.getInode(7);
    await cached.setattr(7, { size: 3 << 20 });
    releaseReads();
    expect((await staleRead).size).toBe(8 << 20); // The read itself answers what it saw...
    expect((await cached.getInode(7)).size).toBe(3 << 20); // ...but the cache keeps the truncate's size.
    expect(cached.cacheStats().hits).toBe(1);
  });

  it('should not keep a row that an open began before a concurrent setattr (fake overlapping store)', async () => {
    const { store, releaseReads } = overlappingStore();
    const cached = new CachedMetadataStore(store, { ttlMs: 60_000 });
    const staleOpen = cached.open(7);
    await cached.setattr(7, { size: 1 << 20 });
    releaseReads();
    await staleOpen;
    expect((await cached.getInode(7)).size).toBe(1 << 20);
  });

  it('should serve a row read while nothing changed from the cache afterwards', async () => {
    const { store, releaseReads } = overlappingStore();
    const cached = new CachedMetadataStore(store, { ttlMs: 60_000 });
    const read = cached.getInode(7);
    releaseReads();
    expect((await read).size).toBe(8 << 20);
    expect((await cached.getInode(7)).size).toBe(8 << 20);
    expect(cached.cacheStats()).toMatchObject({ hits: 1, misses: 1 });
  });

  it('should answer lookups and getattr of the names a readdirplus page carried without asking the store', async () => {
    const child = { ino: 12, type: 'file', size: 5 } as InodeRecord;
    let storeLookups = 0;
    const store = {
      events: new MetadataEvents(),
      readdir: (): Promise<DirPage> =>
        Promise.resolve({
          entries: [{ name: Buffer.from('seen'), ino: 12, type: 'file', cookie: 1, inode: child }],
          next: null,
        }),
      lookup: () => {
        storeLookups++;
        return Promise.resolve(child);
      },
      getInode: () => {
        storeLookups++;
        return Promise.resolve(child);
      },
    } as unknown as MetadataStore;
    const cached = new CachedMetadataStore(store, { ttlMs: 60_000 });
    await cached.readdir(1, { plus: false });
    await cached.lookup(1, 'seen');
    expect(storeLookups).toBe(1); // a page without attributes feeds nothing
    const fresh = new CachedMetadataStore(store, { ttlMs: 60_000 });
    await fresh.readdir(1, { plus: true });
    expect((await fresh.lookup(1, 'seen')).ino).toBe(12);
    expect((await fresh.getInode(12)).size).toBe(5);
    expect(storeLookups).toBe(1);
  });
});
