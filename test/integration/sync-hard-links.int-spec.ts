import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDataSource, runMigrations } from '../../src/metadata/data-source';
import { type InodeRecord, ROOT_INO } from '../../src/metadata/metadata.types';
import { SqlMetadataStore } from '../../src/metadata/sql-metadata.store';
import { InProcessStateStore } from '../../src/state/in-process-state-store';
import { DEFAULT_PULL_OPTIONS, DownstreamPuller } from '../../src/sync/downstream-puller';
import { edgeMetadata } from '../../src/sync/edge-metadata.util';
import type { TahoeClient } from '../../src/tahoe/tahoe.client';
import type { ChildSpec } from '../../src/tahoe/tahoe.types';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { freshRootDircap } from '../support/tahoe.helper';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
const OWNER = { uid: 1000, gid: 1000 };

/** An edge as a RiverFS gateway publishes it: the cap and the `riverfs` metadata with the inode's identity. */
function fileEdge(cap: string, ino: number): ChildSpec {
  return {
    type: 'file',
    roUri: cap,
    metadata: {
      riverfs: {
        v: 1,
        type: 'file',
        ino,
        mode: 0o640,
        uid: 1000,
        gid: 1000,
        mtime_ns: '1600000000123456789',
        ctime_ns: '1600000000123456789',
      },
    },
  };
}

function dirEdge(cap: string, ino: number): ChildSpec {
  return {
    type: 'directory',
    rwUri: cap,
    metadata: {
      riverfs: {
        v: 1,
        type: 'dir',
        ino,
        mode: 0o755,
        uid: 1000,
        gid: 1000,
        mtime_ns: '1600000000000000000',
        ctime_ns: '1600000000000000000',
      },
    },
  };
}

/** A database that has never seen the tree, and a puller on it: what a fresh gateway (or a rebuild) starts from. */
async function freshGateway(directory: string, name: string, tahoe: TahoeClient, rootCap: string) {
  const url = `sqlite:${path.join(directory, `${name}.sqlite`)}`;
  await runMigrations(url);
  const store = new SqlMetadataStore(await openDataSource(url));
  await store.initFilesystem({ ...OWNER, mode: 0o755 });
  await store.setRootCap(rootCap);
  const state = new InProcessStateStore();
  const puller = new DownstreamPuller(
    {
      journal: store.syncJournal(),
      tahoe,
      state,
      cache: { drop: () => Promise.resolve() },
      localContent: { holdForRemoteChange: () => () => undefined },
      rootCap: { current: rootCap },
      logger: quiet,
      defaultOwner: OWNER,
      events: store.events,
    },
    { ...DEFAULT_PULL_OPTIONS, ttlMs: 0 },
  );
  const at = async (...names: string[]): Promise<InodeRecord> => {
    let node = await store.getInode(ROOT_INO);
    for (const part of names) {
      node = await store.lookup(node.ino, part);
    }
    return node;
  };
  return {
    store,
    puller,
    at,
    close: async () => {
      await store.close();
      await state.close();
    },
  };
}

/**
 * Names of one inode spread over a tree in Tahoe, joined by a gateway that pulls it with a database of its own:
 * lazily, directory by directory in whatever order they are looked into, and whole (`fsck --rebuild`). Real grid,
 * real SQLite, the real puller.
 */
describe('hard links pulled from Tahoe (SQLite, test grid)', () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-hardlinks-'));
  const client = testTahoeClient();

  /*
   * A fresh tree (published inode numbers in brackets):
   *   a/ [40]          x [500, A]   x2 [2, B]     x3 [2, B]
   *   b/ [500]         z [500, A]
   *   b/deep/ [42]     y [500, A]
   *   c/ [43]          w [500, another cap: another file now]
   * Directory b carries 500 too: a rebuild that keeps inode numbers gives b that number, and the file must get another.
   * A fresh lazy gateway's first file of its own is inode 2: B's identity is taken there by another file.
   */
  async function publishTree(): Promise<{ rootCap: string; b: string }> {
    const rootCap = await freshRootDircap();
    const capA = await client.upload(
      Buffer.from('the content of file A, long enough for a CHK cap: ' + 'a'.repeat(64)),
    );
    const capB = await client.upload(Buffer.from('file B'));
    const capOther = await client.upload(Buffer.from('another file under a name that once was a link of A'));
    const [a, b, deep, c] = [await client.mkdir(), await client.mkdir(), await client.mkdir(), await client.mkdir()];
    await client.setChildren(a, { x: fileEdge(capA, 500), x2: fileEdge(capB, 2), x3: fileEdge(capB, 2) });
    await client.setChildren(b, { z: fileEdge(capA, 500), deep: dirEdge(deep, 42) });
    await client.setChildren(deep, { y: fileEdge(capA, 500) });
    await client.setChildren(c, { w: fileEdge(capOther, 500) });
    await client.setChildren(rootCap, { a: dirEdge(a, 40), b: dirEdge(b, 500), c: dirEdge(c, 43) });
    return { rootCap, b };
  }

  afterAll(async () => {
    await client.close();
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it('should join the names lazily, the far directory listed first, nlink growing as directories are listed', async () => {
    const tree = await publishTree();
    const gateway = await freshGateway(directory, 'lazy', client, tree.rootCap);
    try {
      // A file made here before the tree was seen holds a number the tree uses as an identity: never joined to it.
      const mine = await gateway.store.create(ROOT_INO, 'mine', { ...OWNER, mode: 0o644 });
      expect(mine.ino).toBe(2);
      await gateway.puller.pull(ROOT_INO);
      await gateway.puller.pull((await gateway.at('b')).ino);
      const z = await gateway.at('b', 'z');
      expect(z.nlink).toBe(1);
      await gateway.puller.pull((await gateway.at('b', 'deep')).ino);
      const y = await gateway.at('b', 'deep', 'y');
      expect(y.ino).toBe(z.ino);
      expect(y.nlink).toBe(2);
      await gateway.puller.pull((await gateway.at('c')).ino);
      const w = await gateway.at('c', 'w');
      expect(w.ino).not.toBe(z.ino);
      expect(w.nlink).toBe(1);
      await gateway.puller.pull((await gateway.at('a')).ino);
      const x = await gateway.at('a', 'x');
      expect(x.ino).toBe(z.ino);
      expect((await gateway.store.getInode(z.ino)).nlink).toBe(3);
      const [x2, x3] = [await gateway.at('a', 'x2'), await gateway.at('a', 'x3')];
      expect(x3.ino).toBe(x2.ino);
      expect(x3.nlink).toBe(2);
      expect(new Set([mine.ino, x.ino, x2.ino, w.ino]).size).toBe(4);
      expect((await gateway.store.getInode(mine.ino)).nlink).toBe(1);

      // Published again from here, every name keeps the identity the tree gave it (not this database's number).
      const children = await gateway.store.syncJournal().children((await gateway.at('a')).ino);
      expect(children.map((child) => [child.name.toString(), edgeMetadata(child).ino]).sort()).toEqual([
        ['x', 500],
        ['x2', 2],
        ['x3', 2],
      ]);
      expect(x.ino).not.toBe(500);

      // Another client removes one name: the count shrinks when its directory is listed again.
      await client.unlink(tree.b, 'z');
      await gateway.puller.pull((await gateway.at('b')).ino);
      await expect(gateway.at('b', 'z')).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await gateway.store.getInode(x.ino)).nlink).toBe(2);
      expect((await gateway.at('b', 'deep', 'y')).ino).toBe(x.ino);
      // Another file put under one name (renamed over it elsewhere): that name leaves the inode, the others stay.
      const capNew = await client.upload(Buffer.from('a new file saved over x by an editor on another gateway'));
      await client.setChildren((await gateway.at('a')).writeCap!, { x: fileEdge(capNew, 9000) }, { replace: true });
      await gateway.puller.pull((await gateway.at('a')).ino);
      const newX = await gateway.at('a', 'x');
      expect(newX).toMatchObject({ nlink: 1, writeCap: capNew });
      expect(newX.ino).not.toBe(x.ino);
      expect(await gateway.store.getInode(x.ino)).toMatchObject({ nlink: 1 });
      expect((await gateway.at('b', 'deep', 'y')).writeCap).not.toBe(capNew);
      // Nothing to push for what is left: its last name, removed remotely in a directory listed after, goes too (is
      // not linked again), and the inode with it.
      expect((await gateway.store.syncJournal().getSyncInode(x.ino))?.syncState).toBe('synced');
      await client.unlink((await gateway.at('b', 'deep')).writeCap!, 'y');
      await gateway.puller.pull((await gateway.at('b', 'deep')).ino);
      await expect(gateway.at('b', 'deep', 'y')).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(gateway.store.getInode(x.ino)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await gateway.close();
    }
  });

  it('should join the names in a rebuild that keeps inode numbers, a number taken by a directory included', async () => {
    const tree = await publishTree();
    const gateway = await freshGateway(directory, 'rebuild', client, tree.rootCap);
    try {
      await gateway.puller.pullTree(ROOT_INO, { keepInodeNumbers: true });
      expect((await gateway.at('b')).ino).toBe(500);
      const x = await gateway.at('a', 'x');
      expect(x.ino).not.toBe(500);
      expect(x.nlink).toBe(3);
      expect((await gateway.at('b', 'z')).ino).toBe(x.ino);
      expect((await gateway.at('b', 'deep', 'y')).ino).toBe(x.ino);
      const x2 = await gateway.at('a', 'x2');
      expect(x2).toMatchObject({ ino: 2, nlink: 2 });
      expect((await gateway.at('a', 'x3')).ino).toBe(2);
      expect(await gateway.at('c', 'w')).toMatchObject({ nlink: 1 });
      expect((await gateway.at('c', 'w')).ino).not.toBe(x.ino);
    } finally {
      await gateway.close();
    }
  });
});
