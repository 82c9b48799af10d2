import { runMigrations } from '../../src/metadata/data-source';
import { type InodeRecord, ROOT_INO, type Timespec } from '../../src/metadata/metadata.types';
import type { SqlMetadataStore } from '../../src/metadata/sql-metadata.store';
import type { RemoteNode, SyncJournal } from '../../src/metadata/sync-journal';
import { findInconsistencies } from './metadata-consistency';
import { type ContractDatabase, FakeClock, type StoreHandle, openStore } from './metadata-store.contract';

const owner = { uid: 1000, gid: 1000 };
const T: Timespec = { sec: 1_600_000_000, nsec: 123_456_789 };

function remoteNode(overrides: Partial<RemoteNode> = {}): RemoteNode {
  return {
    type: 'file',
    mode: 0o640,
    uid: 7,
    gid: 8,
    rdev: 0,
    size: 1234,
    mtime: T,
    ctime: { sec: T.sec + 1, nsec: 5 },
    writeCap: 'URI:CHK:aaaa:bbbb:2:3:1234',
    readCap: 'URI:CHK:aaaa:bbbb:2:3:1234',
    ...overrides,
  };
}

const b = (text: string): Buffer => Buffer.from(text, 'utf8');

/**
 * What a pull applies (SyncJournal.applyRemote), on each database: inodes created in sync with their caps and
 * attributes, changes and removals only of entries unchanged locally, and the invariants of the tree kept.
 */
export function describeRemoteApplyContract(name: string, createDatabase: () => Promise<ContractDatabase>): void {
  describe(`applying remote changes (${name})`, () => {
    const clock = new FakeClock();
    let database: ContractDatabase;
    let handle: StoreHandle;
    let store: SqlMetadataStore;
    let journal: SyncJournal;
    let sequence = 0;

    beforeAll(async () => {
      database = await createDatabase();
      await runMigrations(database.url);
      handle = await openStore(database.url, clock);
      store = handle.store as SqlMetadataStore;
      journal = store.syncJournal();
      await store.initFilesystem({ uid: 0, gid: 0, mode: 0o755 });
      await store.openSession({ host: 'remote-contract', pid: process.pid });
    });

    afterAll(async () => {
      await store?.close();
      await database?.destroy();
    });

    afterEach(async () => {
      expect(await findInconsistencies(handle.dataSource)).toEqual([]);
    });

    async function freshDir(): Promise<InodeRecord> {
      sequence += 1;
      return store.mkdir(ROOT_INO, `remote-${sequence}`, { ...owner, mode: 0o755 });
    }

    async function names(dir: number): Promise<string[]> {
      const result: string[] = [];
      for await (const entry of store.entries(dir)) {
        result.push(entry.name.toString());
      }
      return result.sort();
    }

    it('should create files, directories and symlinks in sync, with their attributes, caps and synced edges', async () => {
      const dir = await freshDir();
      const result = await journal.applyRemote(
        dir.ino,
        [
          { kind: 'add', name: b('file'), node: remoteNode(), metaHash: 'h1' },
          {
            kind: 'add',
            name: b('sub'),
            node: remoteNode({
              type: 'dir',
              mode: 0o750,
              size: 0,
              writeCap: 'URI:DIR2:x:y',
              readCap: 'URI:DIR2-RO:x:y',
            }),
            metaHash: null,
          },
          {
            kind: 'add',
            name: b('link'),
            node: remoteNode({ type: 'symlink', mode: 0o777, target: b('file'), writeCap: 'URI:LIT:mzuwyzi' }),
            metaHash: 'h3',
          },
          {
            kind: 'add',
            name: b('tagged'),
            node: remoteNode({ xattrs: [{ name: b('user.k'), value: b('v') }] }),
            metaHash: 'h4',
          },
        ],
        { listedAt: 42_000, publishAfter: false },
      );
      expect(result).toMatchObject({ applied: 4, skipped: 0 });
      expect(await names(dir.ino)).toEqual(['file', 'link', 'sub', 'tagged']);

      const file = await store.lookup(dir.ino, 'file');
      expect(file).toMatchObject({
        type: 'file',
        mode: 0o640,
        uid: 7,
        gid: 8,
        size: 1234,
        nlink: 1,
        mtime: T,
        ctime: { sec: T.sec + 1, nsec: 5 },
        writeCap: 'URI:CHK:aaaa:bbbb:2:3:1234',
        syncState: 'synced',
        dataDirty: false,
        syncedContentVersion: file.contentVersion,
      });
      const sub = await store.lookup(dir.ino, 'sub');
      expect(sub).toMatchObject({ type: 'dir', mode: 0o750, nlink: 2, parent: dir.ino, listedAt: null });
      expect(await store.readlink((await store.lookup(dir.ino, 'link')).ino)).toEqual(b('file'));
      expect(await store.getXattr((await store.lookup(dir.ino, 'tagged')).ino, 'user.k')).toEqual(b('v'));

      const parent = await store.getInode(dir.ino);
      expect(parent).toMatchObject({ nlink: 3, listedAt: 42_000 });
      // A pull marks nothing dirty: the directory's state is what it was (a new directory, not yet published).
      expect(parent.mtime).toEqual(dir.mtime);
      const synced = new Map((await journal.syncedEntries(dir.ino)).map((entry) => [entry.name.toString(), entry]));
      expect(synced.get('file')).toMatchObject({ child: file.ino, cap: 'URI:CHK:aaaa:bbbb:2:3:1234', metaHash: 'h1' });
      expect(synced.get('sub')).toMatchObject({ child: sub.ino, cap: 'URI:DIR2:x:y', metaHash: null });
    });

    it("should list a directory's children for a publish: every name with its inode, target and xattrs, across pages", async () => {
      const dir = await freshDir();
      const mode = { ...owner, mode: 0o644 };
      // More than one page (1,000 entries): the last ones, on the second page, carry the cases.
      for (let index = 0; index < 1000; index += 1) {
        await store.create(dir.ino, `plain-${String(index).padStart(4, '0')}`, mode);
      }
      const tagged = await store.create(dir.ino, 'tagged', mode);
      await store.setXattr(tagged.ino, 'user.b', b('2'));
      await store.setXattr(tagged.ino, 'user.a', b('1'));
      await store.link(tagged.ino, dir.ino, 'tagged-too');
      const link = await store.symlink(dir.ino, 'link', 'plain-0007', owner);
      await store.setXattr(link.ino, 'user.on-link', b('x'));
      const elsewhere = await freshDir();
      await store.setXattr((await store.create(elsewhere.ino, 'other', mode)).ino, 'user.other', b('no'));

      const children = await journal.children(dir.ino);
      expect(children).toHaveLength(1003);
      expect(children.slice(0, 2).map((child) => [child.name.toString(), child.xattrs, child.target])).toEqual([
        ['plain-0000', [], undefined],
        ['plain-0001', [], undefined],
      ]);
      const byName = new Map(children.map((child) => [child.name.toString(), child]));
      for (const name of ['tagged', 'tagged-too']) {
        expect(byName.get(name)).toMatchObject({ inode: { ino: tagged.ino, nlink: 2, type: 'file' } });
        expect(byName.get(name)?.xattrs).toEqual([
          { name: b('user.a'), value: b('1') },
          { name: b('user.b'), value: b('2') },
        ]);
        expect(byName.get(name)?.target).toBeUndefined();
      }
      expect(byName.get('link')).toMatchObject({ target: b('plain-0007'), inode: { ino: link.ino, type: 'symlink' } });
      expect(byName.get('link')?.xattrs).toEqual([{ name: b('user.on-link'), value: b('x') }]);
      expect(await journal.children(elsewhere.ino)).toHaveLength(1);
      const empty = await store.mkdir(dir.ino, 'empty', { ...owner, mode: 0o755 });
      expect(await journal.children(empty.ino)).toEqual([]);

      // The lighter listings a publish asks first: names only, and subdirectories without a dirnode.
      const names = (await journal.childNames(dir.ino)).map((name) => name.toString());
      expect(names).toEqual(children.map((child) => child.name.toString()).concat('empty'));
      expect(await journal.unpublishedSubdirectories(dir.ino)).toEqual([empty.ino]);
      await journal.recordCap(empty.ino, 'URI:DIR2:e:f', 'URI:DIR2-RO:e:f');
      expect(await journal.unpublishedSubdirectories(dir.ino)).toEqual([]);
    });

    it('should keep published inode numbers when asked, and link a second name of the same inode', async () => {
      const dir = await freshDir();
      const other = await freshDir();
      const wanted = 900_000 + sequence;
      await journal.applyRemote(
        dir.ino,
        [
          { kind: 'add', name: b('one'), node: remoteNode(), metaHash: null, ino: wanted },
          { kind: 'add', name: b('two'), node: remoteNode(), metaHash: null, ino: wanted },
        ],
        { listedAt: 1, publishAfter: false },
      );
      await journal.applyRemote(
        other.ino,
        [{ kind: 'add', name: b('three'), node: remoteNode(), metaHash: null, linkTo: wanted }],
        {
          listedAt: 1,
          publishAfter: false,
        },
      );
      const one = await store.lookup(dir.ino, 'one');
      expect(one.ino).toBe(wanted);
      expect((await store.lookup(dir.ino, 'two')).ino).toBe(wanted);
      expect((await store.lookup(other.ino, 'three')).ino).toBe(wanted);
      expect((await store.getInode(wanted)).nlink).toBe(3);
    });

    it('should join the names of one published inode whichever directory is listed first, and only with its cap', async () => {
      const near = await freshDir();
      const far = await store.mkdir((await store.mkdir(near.ino, 'n1', { ...owner, mode: 0o755 })).ino, 'n2', {
        ...owner,
        mode: 0o755,
      });
      const sibling = await freshDir();
      // An identity no inode of this database has as its own number (a fresh gateway pulling another's tree).
      const identity = 800_000 + sequence;
      const cap = `URI:CHK:join${sequence}:x:2:3:1234`;
      const node = remoteNode({ writeCap: cap, readCap: cap });
      const add = (name: string, overrides: Partial<RemoteNode> = {}) => ({
        kind: 'add' as const,
        name: b(name),
        node: { ...node, ...overrides },
        metaHash: null,
        publishedIno: identity,
      });
      const apply = (dir: number, changes: ReturnType<typeof add>[]) =>
        journal.applyRemote(dir, changes, { listedAt: 1, publishAfter: false });

      // The far, nested directory first; then its sibling's two names in one listing; then the near one.
      await apply(far.ino, [add('deep')]);
      const deep = await store.lookup(far.ino, 'deep');
      expect(deep.ino).not.toBe(identity);
      expect(deep.nlink).toBe(1);
      await apply(sibling.ino, [add('one'), add('two')]);
      await apply(near.ino, [add('near')]);
      const joined = await Promise.all([
        store.lookup(sibling.ino, 'one'),
        store.lookup(sibling.ino, 'two'),
        store.lookup(near.ino, 'near'),
      ]);
      expect(joined.map((inode) => inode.ino)).toEqual([deep.ino, deep.ino, deep.ino]);
      expect((await store.getInode(deep.ino)).nlink).toBe(4);
      expect((await journal.getSyncInode(deep.ino))?.publishedIno).toBe(identity);

      // The same identity with another cap is another file now; so is a name of another type.
      const otherCap = `URI:CHK:other${sequence}:x:2:3:99`;
      await apply(near.ino, [add('replaced', { writeCap: otherCap, readCap: otherCap })]);
      const replaced = await store.lookup(near.ino, 'replaced');
      expect(replaced.ino).not.toBe(deep.ino);
      expect(replaced.nlink).toBe(1);
      // A name listed later joins the inode whose cap it has, not the first one with the identity.
      await apply(sibling.ino, [add('replaced-too', { writeCap: otherCap, readCap: otherCap })]);
      expect(await store.lookup(sibling.ino, 'replaced-too')).toMatchObject({ ino: replaced.ino, nlink: 2 });
      expect((await store.getInode(deep.ino)).nlink).toBe(4);

      // Removed remotely, one name at a time: the count follows, and the inode stays while a name is left.
      for (const [dir, name, left] of [
        [sibling.ino, 'one', 3],
        [far.ino, 'deep', 2],
      ] as const) {
        const inode = await journal.getSyncInode(deep.ino);
        await journal.applyRemote(
          dir,
          [{ kind: 'remove', name: b(name), child: deep.ino, changeSeq: inode!.changeSeq }],
          {
            listedAt: 2,
            publishAfter: false,
          },
        );
        expect((await store.getInode(deep.ino)).nlink).toBe(left);
      }
      // A later name of the same file still joins what is left of it.
      await apply(far.ino, [add('back')]);
      expect(await store.lookup(far.ino, 'back')).toMatchObject({ ino: deep.ino, nlink: 3 });
    });

    it('should not join a pulled name to a file made here whose number equals its identity', async () => {
      const dir = await freshDir();
      const mine = await store.create(dir.ino, 'mine', { ...owner, mode: 0o644 });
      const cap = `URI:CHK:collide${sequence}:x:2:3:1234`;
      const add = (name: string, ino?: number) => ({
        kind: 'add' as const,
        name: b(name),
        node: remoteNode({ writeCap: cap, readCap: cap }),
        metaHash: null,
        publishedIno: mine.ino,
        ...(ino === undefined ? {} : { ino }),
      });
      // A rebuild asks for the published number, which is taken: another number, the identity kept for the rest.
      await journal.applyRemote(dir.ino, [add('first', mine.ino)], { listedAt: 1, publishAfter: false });
      await journal.applyRemote(dir.ino, [add('second')], { listedAt: 1, publishAfter: false });
      const first = await store.lookup(dir.ino, 'first');
      expect(first.ino).not.toBe(mine.ino);
      expect(await store.lookup(dir.ino, 'second')).toMatchObject({ ino: first.ino, nlink: 2 });
      expect(await store.getInode(mine.ino)).toMatchObject({ nlink: 1 });
    });

    it('should take a remote change of an unchanged entry, and leave an entry changed locally since alone', async () => {
      const dir = await freshDir();
      await journal.applyRemote(
        dir.ino,
        [
          { kind: 'add', name: b('kept'), node: remoteNode(), metaHash: null },
          { kind: 'add', name: b('edited'), node: remoteNode(), metaHash: null },
        ],
        { listedAt: 1, publishAfter: false },
      );
      const kept = await journal.getSyncInode((await store.lookup(dir.ino, 'kept')).ino);
      const edited = await journal.getSyncInode((await store.lookup(dir.ino, 'edited')).ino);
      await store.setattr(edited!.ino, { mode: 0o600 });

      const next = remoteNode({ size: 99, writeCap: 'URI:CHK:cccc:dddd:2:3:99', readCap: 'URI:CHK:cccc:dddd:2:3:99' });
      const result = await journal.applyRemote(
        dir.ino,
        [
          {
            kind: 'update',
            name: b('kept'),
            child: kept!.ino,
            changeSeq: kept!.changeSeq,
            node: next,
            contentChanged: true,
            metaHash: 'n',
          },
          {
            kind: 'update',
            name: b('edited'),
            child: edited!.ino,
            changeSeq: edited!.changeSeq,
            node: next,
            contentChanged: true,
            metaHash: 'n',
          },
        ],
        { listedAt: 2, publishAfter: false },
      );
      expect(result).toMatchObject({ applied: 1, skipped: 1, dropData: [kept!.ino] });
      const after = await store.getInode(kept!.ino);
      expect(after).toMatchObject({ size: 99, writeCap: next.writeCap, contentVersion: kept!.contentVersion + 1 });
      expect(after.syncedContentVersion).toBe(after.contentVersion);
      expect(await store.getInode(edited!.ino)).toMatchObject({ mode: 0o600, size: 1234, syncState: 'dirty' });
    });

    it('should remove an unchanged file and a whole unchanged tree, and keep a tree with local changes', async () => {
      const dir = await freshDir();
      const subNode = remoteNode({
        type: 'dir',
        mode: 0o755,
        size: 0,
        writeCap: 'URI:DIR2:s:t',
        readCap: 'URI:DIR2-RO:s:t',
      });
      await journal.applyRemote(
        dir.ino,
        [
          { kind: 'add', name: b('gone'), node: remoteNode(), metaHash: null },
          { kind: 'add', name: b('tree'), node: subNode, metaHash: null },
          { kind: 'add', name: b('busy'), node: { ...subNode, writeCap: 'URI:DIR2:u:v' }, metaHash: null },
        ],
        { listedAt: 1, publishAfter: false },
      );
      const tree = await store.lookup(dir.ino, 'tree');
      const busy = await store.lookup(dir.ino, 'busy');
      await journal.applyRemote(tree.ino, [{ kind: 'add', name: b('leaf'), node: remoteNode(), metaHash: null }], {
        listedAt: 1,
        publishAfter: false,
      });
      await journal.applyRemote(
        tree.ino,
        [{ kind: 'add', name: b('deep'), node: { ...subNode, writeCap: 'URI:DIR2:w:z' }, metaHash: null }],
        { listedAt: 1, publishAfter: false },
      );
      await journal.applyRemote(
        busy.ino,
        [{ kind: 'add', name: b('inner'), node: { ...subNode, writeCap: 'URI:DIR2:i:j' }, metaHash: null }],
        { listedAt: 1, publishAfter: false },
      );
      // Deep down, so `busy` itself is still in sync: only a walk of its tree finds the change.
      await store.create((await store.lookup(busy.ino, 'inner')).ino, 'written-here', { ...owner, mode: 0o644 });
      const gone = await journal.getSyncInode((await store.lookup(dir.ino, 'gone')).ino);
      const treeRow = await journal.getSyncInode(tree.ino);
      const busyRow = await journal.getSyncInode(busy.ino);

      const result = await journal.applyRemote(
        dir.ino,
        [
          { kind: 'remove', name: b('gone'), child: gone!.ino, changeSeq: gone!.changeSeq },
          { kind: 'remove', name: b('tree'), child: tree.ino, changeSeq: treeRow!.changeSeq },
          { kind: 'remove', name: b('busy'), child: busy.ino, changeSeq: busyRow!.changeSeq },
        ],
        { listedAt: 3, publishAfter: false },
      );
      expect(result.skipped).toBe(0);
      expect(await names(dir.ino)).toEqual(['busy']);
      expect(result.dropData).toContain(gone!.ino);
      await expect(store.getInode(tree.ino)).rejects.toMatchObject({ code: 'ENOENT' });
      // The tree with local changes stays, to be linked again by the next publish of its parent.
      expect(await names((await store.lookup(busy.ino, 'inner')).ino)).toEqual(['written-here']);
      expect((await journal.syncedEntries(dir.ino)).map((entry) => entry.name.toString())).toEqual([]);
      expect(await store.getInode(dir.ino)).toMatchObject({ nlink: 3, entriesDirty: true, syncState: 'dirty' });
    });

    it('should add a conflict copy as a new entry to publish, and skip a name that exists', async () => {
      const dir = await freshDir();
      await store.create(dir.ino, 'taken', { ...owner, mode: 0o644 });
      const result = await journal.applyRemote(
        dir.ino,
        [
          { kind: 'add', name: b('taken'), node: remoteNode(), metaHash: null },
          { kind: 'add', name: b('doc.conflict-20261204T000000Z'), node: remoteNode(), metaHash: null, publish: true },
        ],
        { listedAt: 1, publishAfter: false },
      );
      expect(result).toMatchObject({ applied: 1, skipped: 1 });
      expect(await names(dir.ino)).toEqual(['doc.conflict-20261204T000000Z', 'taken']);
      expect(await journal.syncedEntries(dir.ino)).toEqual([]);
      expect((await store.getInode(dir.ino)).entriesDirty).toBe(true);
    });
  });
}
