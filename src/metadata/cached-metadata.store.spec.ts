import { MetadataEvents } from './metadata-events';
import type { MetadataStore } from './metadata.store';
import type { DirEntryRecord, DirPage, InodeRecord, SetAttrChanges } from './metadata.types';
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
  holdReads: () => void;
} {
  let row = fileRecord(8 << 20);
  let holding = true;
  let accesses = 0;
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
    // Each access sets a later time.
    touchAccessTime: (inode: InodeRecord): Promise<InodeRecord> => {
      row = { ...row, atime: { sec: ++accesses, nsec: 0 } };
      return Promise.resolve({ ...inode, atime: row.atime });
    },
  } as unknown as MetadataStore;
  const releaseReads = (): void => {
    holding = false;
    held.splice(0).forEach((release) => release());
  };
  return { store, releaseReads, holdReads: () => (holding = true) };
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

  it('should show the access time a read touched from the cached row, and keep no row read across it (fake overlapping store)', async () => {
    const { store, releaseReads, holdReads } = overlappingStore();
    const cached = new CachedMetadataStore(store, { ttlMs: 60_000 });
    releaseReads();
    const before = await cached.getInode(7);

    expect((await cached.touchAccessTime(before)).atime).toEqual({ sec: 1, nsec: 0 });
    expect((await cached.getInode(7)).atime).toEqual({ sec: 1, nsec: 0 }); // From the cache: one read in all.
    expect(before.atime).toBeUndefined(); // The caller's record is not changed under it.
    expect(cached.cacheStats()).toMatchObject({ hits: 1, misses: 1 });

    cached.invalidateInode(7);
    holdReads();
    const readAcross = cached.getInode(7);
    await cached.touchAccessTime(before);
    releaseReads();
    expect((await readAcross).atime).toEqual({ sec: 1, nsec: 0 });
    expect((await cached.getInode(7)).atime).toEqual({ sec: 2, nsec: 0 }); // The older read was not kept.
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

describe('CachedMetadataStore listings', () => {
  /** A directory 1 holding `a` (inode 12) in an inner store (a fake) that counts its readdir calls. */
  function listedStore(): {
    store: MetadataStore;
    events: MetadataEvents;
    readdirs: () => number;
  } {
    const events = new MetadataEvents();
    let readdirs = 0;
    let child = { ino: 12, type: 'file', size: 5 } as InodeRecord;
    const entries: DirEntryRecord[] = [{ name: Buffer.from('a'), ino: 12, type: 'file', cookie: 1, inode: child }];
    const store = {
      events,
      readdir: (): Promise<DirPage> => {
        readdirs++;
        // The inode as it is now: a setattr changes `child`.
        const now = entries.map((entry) => ({ ...entry, inode: entry.ino === child.ino ? child : entry.inode }));
        return Promise.resolve({ entries: now, next: null });
      },
      create: (_parent: number, name: Buffer): Promise<InodeRecord> => {
        const made = { ino: 13, type: 'file', size: 0 } as InodeRecord;
        entries.push({ name, ino: 13, type: 'file', cookie: 2, inode: made });
        return Promise.resolve(made);
      },
      setattr: (_ino: number, changes: SetAttrChanges): Promise<InodeRecord> => {
        child = { ...child, size: changes.size ?? child.size };
        return Promise.resolve(child);
      },
    } as unknown as MetadataStore;
    return { store, events, readdirs: () => readdirs };
  }

  it('should serve a page listed again from the cache, with the inodes as they are now', async () => {
    const { store, readdirs } = listedStore();
    const cached = new CachedMetadataStore(store, { ttlMs: 60_000 });
    await cached.readdir(1, { plus: true, after: 0, limit: 32 });
    await cached.setattr(12, { size: 9 });
    const again = await cached.readdir(1, { plus: true, after: 0, limit: 32 });
    expect(readdirs()).toBe(1);
    expect(again.entries.map((entry) => [entry.name.toString(), entry.inode?.size])).toEqual([['a', 9]]);
    expect((await cached.readdir(1, { plus: false, after: 0, limit: 32 })).entries[0].inode).toBeUndefined();
    expect(readdirs()).toBe(1);
    expect(cached.cacheStats().listedDirectories).toBe(1);
  });

  it('should list a directory again from the store after a name was created in it', async () => {
    const { store, readdirs } = listedStore();
    const cached = new CachedMetadataStore(store, { ttlMs: 60_000 });
    await cached.readdir(1, { plus: true, after: 0, limit: 32 });
    await cached.create(1, Buffer.from('b'), { mode: 0o644, uid: 0, gid: 0 });
    const names = (await cached.readdir(1, { plus: true, after: 0, limit: 32 })).entries.map((e) => e.name.toString());
    expect(names).toEqual(['a', 'b']);
    expect(readdirs()).toBe(2);
  });

  it('should list a directory again from the store once a remote change named it or its time to live passed', async () => {
    const { store, events, readdirs } = listedStore();
    let now = 0;
    const cached = new CachedMetadataStore(store, { ttlMs: 1_000, now: () => now });
    await cached.readdir(1, { after: 0, limit: 32 });
    events.publish('remoteApplied', { inos: [1], names: [] });
    await cached.readdir(1, { after: 0, limit: 32 });
    expect(readdirs()).toBe(2);
    now = 1_000;
    await cached.readdir(1, { after: 0, limit: 32 });
    expect(readdirs()).toBe(3);
  });

  it('should not keep a page whose read overlapped a change (fake overlapping store)', async () => {
    const { store, readdirs } = listedStore();
    const inner = store as unknown as { readdir: () => Promise<DirPage> };
    const plainReaddir = inner.readdir;
    let release: () => void = () => undefined;
    inner.readdir = () => new Promise<DirPage>((resolve) => (release = () => resolve(plainReaddir())));
    const cached = new CachedMetadataStore(store, { ttlMs: 60_000 });
    const overlapping = cached.readdir(1, { after: 0, limit: 32 });
    await cached.create(1, Buffer.from('b'), { mode: 0o644, uid: 0, gid: 0 });
    release();
    await overlapping;
    inner.readdir = plainReaddir;
    const names = (await cached.readdir(1, { after: 0, limit: 32 })).entries.map((e) => e.name.toString());
    expect(names).toEqual(['a', 'b']);
    expect(readdirs()).toBe(2);
  });
});

describe('CachedMetadataStore after sync bookkeeping', () => {
  it('should read again the rows the sync layer changed that it held, and only those', async () => {
    const events = new MetadataEvents();
    const reads: number[] = [];
    let syncState = 'dirty';
    const store = {
      events,
      getInode: (ino: number): Promise<InodeRecord> => {
        reads.push(ino);
        return Promise.resolve({ ino, type: 'file', size: 1, syncState } as InodeRecord);
      },
    } as unknown as MetadataStore;
    const cached = new CachedMetadataStore(store, { ttlMs: 60_000 });
    await cached.getInode(7);
    syncState = 'synced';
    events.publish('syncStateChanged', { inos: [7, 8] });
    // The refresh runs on the next turn of the event loop.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(reads).toEqual([7, 7]);
    expect((await cached.getInode(7)).syncState).toBe('synced');
    expect(reads).toEqual([7, 7]);
    expect(cached.cacheStats().hits).toBe(1);
  });

  it('should keep a row read again while other rows changed, and read again one whose own change overlapped (fake store)', async () => {
    const events = new MetadataEvents();
    const reads: number[] = [];
    const held: (() => void)[] = [];
    let hold = false;
    let version = 0;
    const store = {
      events,
      getInode: (ino: number): Promise<InodeRecord> => {
        reads.push(ino);
        const seen = { ino, type: 'file', size: version } as InodeRecord;
        return hold ? new Promise((resolve) => held.push(() => resolve(seen))) : Promise.resolve(seen);
      },
    } as unknown as MetadataStore;
    const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const release = async (): Promise<void> => {
      hold = false;
      held.splice(0).forEach((resume) => resume());
      await nextTurn();
    };
    const cached = new CachedMetadataStore(store, { ttlMs: 60_000 });
    await cached.getInode(7);
    await cached.getInode(9);

    hold = true;
    version = 1;
    events.publish('syncStateChanged', { inos: [7] });
    await nextTurn();
    events.publish('syncStateChanged', { inos: [9] }); // another row, while 7 is being read
    await release();
    expect(reads).toEqual([7, 9, 7, 9]);
    expect((await cached.getInode(7)).size).toBe(1);
    expect((await cached.getInode(9)).size).toBe(1);

    hold = true;
    version = 2;
    events.publish('syncStateChanged', { inos: [7] });
    await nextTurn();
    version = 3;
    events.publish('syncStateChanged', { inos: [7] }); // the same row again, while it is being read
    await release();
    await nextTurn();
    expect(reads).toEqual([7, 9, 7, 9, 7, 7]);
    expect((await cached.getInode(7)).size).toBe(3);
    expect(reads).toHaveLength(6);
  });

  it('should read a directory again right after a name in it changed, for the next permission check of the kernel', async () => {
    const reads: number[] = [];
    let mtime = 1;
    const store = {
      events: new MetadataEvents(),
      getInode: (ino: number): Promise<InodeRecord> => {
        reads.push(ino);
        return Promise.resolve({ ino, type: 'dir', mtime: { sec: mtime, nsec: 0 } } as InodeRecord);
      },
      unlink: (): Promise<{ ino: number; nlink: number; freed: boolean }> => {
        mtime = 2;
        return Promise.resolve({ ino: 12, nlink: 0, freed: true });
      },
    } as unknown as MetadataStore;
    const cached = new CachedMetadataStore(store, { ttlMs: 60_000 });
    await cached.getInode(1);
    await cached.unlink(1, 'gone');
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(reads).toEqual([1, 1]);
    expect((await cached.getInode(1)).mtime.sec).toBe(2);
    expect(reads).toEqual([1, 1]);
  });
});
