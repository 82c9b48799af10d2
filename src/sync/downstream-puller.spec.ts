import { ROOT_INO } from '../metadata/metadata.types';
import type { RemoteChange, SyncChild, SyncInode, SyncJournal, SyncedEntry } from '../metadata/sync-journal';
import { LocalContentGate } from '../cache/local-content-gate';
import { InProcessStateStore } from '../state/in-process-state-store';
import type { TahoeClient } from '../tahoe/tahoe.client';
import type { TahoeNode } from '../tahoe/tahoe.types';
import { MetadataEvents } from '../metadata/metadata-events';
import { conflictName } from './conflict-name';
import { DownstreamPuller } from './downstream-puller';
import { edgeHash } from './edge-metadata.util';

const CAP_A = 'URI:CHK:aaaa:aaaa:2:3:10';
const CAP_B = 'URI:CHK:bbbb:bbbb:2:3:20';

function inode(ino: number, overrides: Partial<SyncInode> = {}): SyncInode {
  return {
    ino,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 10,
    nlink: 1,
    rdev: 0,
    atime: { sec: 1, nsec: 0 },
    mtime: { sec: 1, nsec: 0 },
    ctime: { sec: 1, nsec: 0 },
    parent: null,
    contentVersion: 0,
    writeCap: CAP_A,
    readCap: CAP_A,
    syncedContentVersion: 0,
    syncState: 'synced',
    dataDirty: false,
    attrDirty: false,
    entriesDirty: false,
    dirtySince: null,
    listedAt: null,
    changeSeq: 3,
    syncError: null,
    syncTries: 0,
    dirtyOwner: null,
    ...overrides,
  };
}

function file(cap: string, linkmotime = 1000): TahoeNode {
  return { type: 'file', mutable: false, roUri: cap, size: 10, metadata: { linkmotime, custom: {}, raw: {} } };
}

function synced(name: string, child: number, cap: string): SyncedEntry {
  return { parent: ROOT_INO, name: Buffer.from(name), child, cap, metaHash: edgeHash(cap, null), syncedAt: 0 };
}

/** A unit test's stand-ins for the journal and Tahoe (both real in the e2e suites): one root directory. */
function puller(
  remote: Record<string, TahoeNode>,
  local: SyncChild[],
  syncedEntries: SyncedEntry[],
  onList: () => void = () => undefined,
  duringApply: () => void = () => undefined,
) {
  const applied: RemoteChange[][] = [];
  /** Files with dirty cache blocks, and what happened to the cache and to writers, in order. */
  const dirtyBlocks = new Set<number>();
  const events: string[] = [];
  const localContent = new LocalContentGate({ hasDirtyData: (ino) => dirtyBlocks.has(ino) });
  const journal = {
    getSyncInode: (ino: number) => Promise.resolve(ino === ROOT_INO ? inode(ROOT_INO, { type: 'dir' }) : null),
    children: () => Promise.resolve(local),
    syncedEntries: () => Promise.resolve(syncedEntries),
    applyRemote: (_dir: number, changes: RemoteChange[]) => {
      applied.push(changes);
      duringApply();
      const dropData = changes.flatMap((change) =>
        change.kind === 'update' && change.contentChanged ? [change.child] : [],
      );
      return Promise.resolve({ applied: changes.length, skipped: 0, added: [], dropData, changed: [] });
    },
  } as unknown as SyncJournal;
  const tahoe = {
    listDirectory: () => {
      onList();
      return Promise.resolve({ type: 'directory', mutable: true, children: new Map(Object.entries(remote)) });
    },
  } as unknown as TahoeClient;
  const instance = new DownstreamPuller(
    {
      journal,
      tahoe,
      state: new InProcessStateStore(),
      cache: {
        drop: (ino: number) => {
          events.push(`drop ${ino}`);
          return Promise.resolve();
        },
      },
      localContent,
      rootCap: { current: 'URI:DIR2:root:root' },
      logger: { log: () => undefined, warn: () => undefined, error: () => undefined },
      defaultOwner: { uid: 1, gid: 2 },
      events: new MetadataEvents(),
    },
    { ttlMs: 1000, lookupWaitMs: 1000, lockTtlMs: 5000, refreshSpacingFactor: 4, maxRefreshMs: 60_000 },
  );
  return { instance, applied, dirtyBlocks, events, localContent };
}

function kinds(changes: RemoteChange[]): string[] {
  return changes.map((change) => `${change.kind}:${change.name.toString()}`);
}

describe('DownstreamPuller (planning against stand-ins)', () => {
  it('should trust the listing of a directory that took long to pull for four times as long, the TTL otherwise', async () => {
    jest.useFakeTimers({ now: 1_000_000, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      let listings = 0;
      let listingTakesMs = 5000;
      const { instance } = puller({}, [], [], () => {
        listings += 1;
        jest.setSystemTime(Date.now() + listingTakesMs);
      });
      const root = inode(ROOT_INO, { type: 'dir', listedAt: Date.now() - 2000 });
      const refresh = async (): Promise<void> => {
        expect(instance.ensureListed(root)).toBeUndefined();
        await instance.pull(ROOT_INO); // joins the refresh in flight, if one started
      };
      await refresh();
      expect(listings).toBe(1);
      expect(instance.refreshAfter(ROOT_INO)).toBe(20_000);
      jest.setSystemTime(Date.now() + 19_000);
      expect(instance.ensureListed(root)).toBeUndefined();
      listingTakesMs = 10;
      jest.setSystemTime(Date.now() + 1001);
      await refresh();
      expect(listings).toBe(2); // the refresh past 20 s; none at 19 s
      expect(instance.refreshAfter(ROOT_INO)).toBe(1000);
    } finally {
      jest.useRealTimers();
    }
  });

  it('should add what only Tahoe has, with the defaults for a tree without riverfs metadata', async () => {
    const { instance, applied } = puller({ new: file(CAP_A, 1234.5) }, [], []);
    const result = await instance.pull(ROOT_INO);
    expect(kinds(applied[0])).toEqual(['add:new']);
    expect(applied[0][0]).toMatchObject({
      node: { type: 'file', mode: 0o644, uid: 1, gid: 2, size: 10, mtime: { sec: 1234, nsec: 500_000_000 } },
    });
    expect(result).toMatchObject({ added: 1, conflicts: [] });
  });

  it('should change nothing when Tahoe has what was last synced', async () => {
    const { instance, applied } = puller(
      { same: file(CAP_A) },
      [{ name: Buffer.from('same'), inode: inode(5), xattrs: [] }],
      [synced('same', 5, CAP_A)],
    );
    await instance.pull(ROOT_INO);
    expect(applied[0]).toEqual([]);
  });

  it('should take a remote content change of an entry that is in sync here', async () => {
    const { instance, applied } = puller(
      { doc: file(CAP_B) },
      [{ name: Buffer.from('doc'), inode: inode(5), xattrs: [] }],
      [synced('doc', 5, CAP_A)],
    );
    await instance.pull(ROOT_INO);
    expect(applied[0]).toEqual([
      expect.objectContaining({ kind: 'update', child: 5, changeSeq: 3, contentChanged: true }),
    ]);
  });

  it('should keep a local change and save the remote version beside it when both changed', async () => {
    const dirty = inode(5, { syncState: 'dirty', dataDirty: true });
    const { instance, applied } = puller(
      { doc: file(CAP_B) },
      [{ name: Buffer.from('doc'), inode: dirty, xattrs: [] }],
      [synced('doc', 5, CAP_A)],
    );
    const result = await instance.pull(ROOT_INO);
    expect(result?.conflicts).toHaveLength(1);
    expect(result?.conflicts[0]).toMatch(/^doc\.conflict-\d{8}T\d{6}Z$/);
    expect(kinds(applied[0])).toEqual([`add:${result!.conflicts[0]}`, 'acknowledge:doc']);
    expect(applied[0][0]).toMatchObject({ publish: true, node: { writeCap: CAP_B } });
    // The remote cap is now the synced one: the next publish replaces it with the local version.
    expect(applied[0][1]).toMatchObject({ child: 5, cap: CAP_B });
  });

  it('should keep a file open for writing here and save the remote version beside it, though SQL says in sync', async () => {
    const { instance, applied, events, localContent } = puller(
      { doc: file(CAP_B) },
      [{ name: Buffer.from('doc'), inode: inode(5), xattrs: [] }],
      [synced('doc', 5, CAP_A)],
    );
    const leave = await localContent.enterWriter(5);
    const result = await instance.pull(ROOT_INO);
    leave();
    expect(result?.conflicts).toHaveLength(1);
    expect(kinds(applied[0])).toEqual([`add:${result!.conflicts[0]}`, 'acknowledge:doc']);
    expect(events).toEqual([]);
  });

  it('should keep a file with dirty cache blocks (closed, not uploaded) and save the remote version beside it', async () => {
    const { instance, applied, dirtyBlocks, events } = puller(
      { doc: file(CAP_B) },
      [{ name: Buffer.from('doc'), inode: inode(5), xattrs: [] }],
      [synced('doc', 5, CAP_A)],
    );
    dirtyBlocks.add(5);
    const result = await instance.pull(ROOT_INO);
    expect(kinds(applied[0])).toEqual([`add:${result!.conflicts[0]}`, 'acknowledge:doc']);
    expect(events).toEqual([]);
  });

  it('should keep a file being written here that Tahoe removed (published again)', async () => {
    const { instance, applied, localContent } = puller(
      {},
      [{ name: Buffer.from('doc'), inode: inode(5), xattrs: [] }],
      [synced('doc', 5, CAP_A)],
    );
    const leave = await localContent.enterWriter(5);
    await instance.pull(ROOT_INO);
    leave();
    expect(kinds(applied[0])).toEqual(['forget:doc']);
  });

  it('should make a writer that opens the file while a pull replaces it wait until the old blocks are dropped', async () => {
    let writer: Promise<void> | undefined;
    const fixture = puller(
      { doc: file(CAP_B) },
      [{ name: Buffer.from('doc'), inode: inode(5), xattrs: [] }],
      [synced('doc', 5, CAP_A)],
      undefined,
      () => {
        writer = fixture.localContent.enterWriter(5).then((leave) => {
          fixture.events.push('writer in');
          leave();
        });
      },
    );
    await fixture.instance.pull(ROOT_INO);
    await writer;
    expect(kinds(fixture.applied[0])).toEqual(['update:doc']);
    expect(fixture.events).toEqual(['drop 5', 'writer in']);
  });

  it('should remove an entry gone from Tahoe only while nothing local waits for it', async () => {
    const clean = { name: Buffer.from('clean'), inode: inode(5), xattrs: [] };
    const edited = {
      name: Buffer.from('edited'),
      inode: inode(6, { syncState: 'dirty', attrDirty: true }),
      xattrs: [],
    };
    const { instance, applied } = puller(
      {},
      [clean, edited],
      [synced('clean', 5, CAP_A), synced('edited', 6, CAP_A), synced('gone', 7, CAP_A)],
    );
    await instance.pull(ROOT_INO);
    expect(kinds(applied[0])).toEqual(['remove:clean', 'forget:edited', 'forget:gone']);
  });

  it('should recognise its own publish that was not recorded (a crash between the two)', async () => {
    const { instance, applied } = puller(
      { mine: file(CAP_A) },
      [{ name: Buffer.from('mine'), inode: inode(5, { syncState: 'dirty', attrDirty: true }), xattrs: [] }],
      [],
    );
    await instance.pull(ROOT_INO);
    expect(applied[0]).toEqual([expect.objectContaining({ kind: 'acknowledge', child: 5, cap: CAP_A })]);
  });

  it('should match a local name in another Unicode normalisation to the NFC name Tahoe keeps', async () => {
    const decomposed = Buffer.from('cafe\u0301', 'utf8');
    const { instance, applied } = puller(
      { 'caf\u00e9': file(CAP_A) },
      [{ name: decomposed, inode: inode(5), xattrs: [] }],
      [{ ...synced('x', 5, CAP_A), name: decomposed }],
    );
    await instance.pull(ROOT_INO);
    expect(applied[0]).toEqual([]);
  });

  it('should take the riverfs attributes of an edge another gateway changed', async () => {
    const metadata = {
      v: 1,
      type: 'file',
      ino: 99,
      mode: 0o600,
      uid: 7,
      gid: 8,
      mtime_ns: '5000000000',
      ctime_ns: '6000000000',
    };
    const node: TahoeNode = { ...file(CAP_A), metadata: { custom: { riverfs: metadata }, raw: {} } };
    const { instance, applied } = puller(
      { doc: node },
      [{ name: Buffer.from('doc'), inode: inode(5), xattrs: [] }],
      [synced('doc', 5, CAP_A)],
    );
    await instance.pull(ROOT_INO);
    expect(applied[0]).toEqual([
      expect.objectContaining({
        kind: 'update',
        contentChanged: false,
        node: expect.objectContaining({
          mode: 0o600,
          uid: 7,
          gid: 8,
          mtime: { sec: 5, nsec: 0 },
          ctime: { sec: 6, nsec: 0 },
        }),
      }),
    ]);
  });

  it('should send every added name with the inode identity its edge carries, to be joined where it is applied', async () => {
    const withIdentity = (cap: string, ino: unknown, type = 'file'): TahoeNode => ({
      ...file(cap),
      metadata: {
        custom: { riverfs: { v: 1, type, ino, mode: 0o644, uid: 1, gid: 2, mtime_ns: '1', ctime_ns: '1' } },
        raw: {},
      },
    });
    const remote = {
      first: withIdentity(CAP_A, 700),
      second: withIdentity(CAP_A, 700),
      foreign: file(CAP_B),
      broken: withIdentity(CAP_B, -3),
      huge: withIdentity(CAP_B, 2 ** 60),
      root: withIdentity(CAP_B, ROOT_INO),
    };
    const identities = (changes: RemoteChange[]) =>
      Object.fromEntries(
        changes.map((change) => [
          change.name.toString(),
          change.kind === 'add' ? [change.publishedIno, change.ino, change.linkTo] : change.kind,
        ]),
      );

    // Lazily: the identity only (the inode number is this database's), both names of one listing alike.
    const lazy = puller(remote, [], []);
    await lazy.instance.pull(ROOT_INO);
    expect(identities(lazy.applied[0])).toEqual({
      first: [700, undefined, undefined],
      second: [700, undefined, undefined],
      foreign: [undefined, undefined, undefined],
      broken: [undefined, undefined, undefined],
      huge: [undefined, undefined, undefined],
      root: [ROOT_INO, undefined, undefined],
    });
    // A rebuild also asks for the published number, except the root's.
    const rebuild = puller(remote, [], []);
    await rebuild.instance.pull(ROOT_INO, { keepInodeNumbers: true });
    expect(identities(rebuild.applied[0])).toMatchObject({
      first: [700, 700, undefined],
      second: [700, 700, undefined],
      root: [ROOT_INO, undefined, undefined],
    });
  });

  it('should take another file under one name of a hard link off that inode, and new content of it onto it', async () => {
    const edge = (cap: string, ino: number): TahoeNode => ({
      ...file(cap),
      metadata: {
        custom: { riverfs: { v: 1, type: 'file', ino, mode: 0o644, uid: 1, gid: 2, mtime_ns: '1', ctime_ns: '1' } },
        raw: {},
      },
    });
    const linked = { name: Buffer.from('doc'), inode: inode(5, { nlink: 2, publishedIno: 70 }), xattrs: [] };
    const pullWith = async (remote: TahoeNode) => {
      const { instance, applied } = puller({ doc: remote }, [linked], [synced('doc', 5, CAP_A)]);
      await instance.pull(ROOT_INO);
      return applied[0];
    };
    // Replaced (renamed over, as editors save): the name leaves the inode, its other name keeps the old content.
    const replaced = await pullWith(edge(CAP_B, 71));
    expect(kinds(replaced)).toEqual(['remove:doc', 'add:doc']);
    expect(replaced[1]).toMatchObject({ publishedIno: 71, node: { writeCap: CAP_B } });
    // Changed in place (same identity): the inode takes the content, for every name.
    expect(await pullWith(edge(CAP_B, 70))).toEqual([
      expect.objectContaining({ kind: 'update', child: 5, contentChanged: true }),
    ]);
    // An edge without an identity (another Tahoe client) cannot say: the content changes, as for a single name.
    expect(kinds(await pullWith(file(CAP_B)))).toEqual(['update:doc']);
  });

  it('should keep conflict names within NAME_MAX bytes, shortening the name by whole characters', () => {
    expect(conflictName('doc.txt', '20261204T031500Z', 1)).toBe('doc.txt.conflict-20261204T031500Z');
    expect(conflictName('doc.txt', '20261204T031500Z', 3)).toBe('doc.txt.conflict-20261204T031500Z-3');
    const long = '\u{1F600}'.repeat(63); // 252 bytes of 4-byte characters
    const name = conflictName(long, '20261204T031500Z', 2);
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
    expect(name.endsWith('.conflict-20261204T031500Z-2')).toBe(true);
    expect(Buffer.from(name, 'utf8').toString('utf8')).toBe(name);
  });
});
