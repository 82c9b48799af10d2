import type { DataSource } from 'typeorm';
import { type ErrnoName, FsError } from '../../src/common/errors/fs-error';
import { openDataSource, runMigrations } from '../../src/metadata/data-source';
import { type MetadataClock, toMs } from '../../src/metadata/metadata-txn.util';
import type { MetadataStore } from '../../src/metadata/metadata.store';
import {
  type InodeRecord,
  ROOT_INO,
  SYMLINK_MAX,
  type Timespec,
  XATTR_CREATE,
  XATTR_REPLACE,
  XATTR_SIZE_MAX,
} from '../../src/metadata/metadata.types';
import { SqlMetadataStore } from '../../src/metadata/sql-metadata.store';
import { findInconsistencies } from './metadata-consistency';

/** A clock that moves only when told, so every timestamp can be checked exactly. */
export class FakeClock implements MetadataClock {
  private current: Timespec;

  constructor(sec = 1_700_000_000, nsec = 0) {
    this.current = { sec, nsec };
  }

  now(): Timespec {
    return { ...this.current };
  }

  /** Moves forward by a second and some nanoseconds, so both fields of the next timestamp differ. */
  tick(ms = 1000): Timespec {
    const total = this.current.nsec + (ms % 1000) * 1_000_000 + 123;
    this.current = {
      sec: this.current.sec + Math.floor(ms / 1000) + Math.floor(total / 1e9),
      nsec: total % 1e9,
    };
    return this.now();
  }
}

export interface ContractDatabase {
  /** A `db` setting naming an empty database. */
  url: string;
  destroy(): Promise<void>;
}

export interface StoreHandle {
  store: MetadataStore;
  /** The store's own DataSource, for checks below the port (rows left behind, invariants). */
  dataSource: DataSource;
}

export async function openStore(url: string, clock: MetadataClock, poolSize?: number): Promise<StoreHandle> {
  const dataSource = await openDataSource(url, { poolSize });
  return { store: new SqlMetadataStore(dataSource, { clock }), dataSource };
}

export async function expectErrno(action: Promise<unknown>, code: ErrnoName): Promise<void> {
  const error = await action.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(FsError);
  expect((error as FsError).code).toBe(code);
}

const owner = { uid: 1000, gid: 1000 };
const FILE = { ...owner, mode: 0o644 };
const DIR = { ...owner, mode: 0o755 };

/**
 * The behaviour every MetadataStore must have, run against each database (one database per suite; each
 * test works in a directory of its own under the root).
 */
export function describeMetadataStoreContract(name: string, createDatabase: () => Promise<ContractDatabase>): void {
  describe(`MetadataStore contract (${name})`, () => {
    const clock = new FakeClock();
    let database: ContractDatabase;
    let handle: StoreHandle;
    let store: MetadataStore;
    let sequence = 0;

    beforeAll(async () => {
      database = await createDatabase();
      await runMigrations(database.url);
      handle = await openStore(database.url, clock);
      store = handle.store;
      await store.initFilesystem({ uid: 0, gid: 0, mode: 0o755 });
      await store.openSession({ host: 'contract', pid: process.pid });
    });

    afterAll(async () => {
      await store?.close();
      await database?.destroy();
    });

    async function freshDir(mode = 0o755): Promise<InodeRecord> {
      sequence += 1;
      return store.mkdir(ROOT_INO, `test-${sequence}`, { ...owner, mode });
    }

    async function listNames(dir: number): Promise<string[]> {
      const names: string[] = [];
      for await (const entry of store.entries(dir, { pageSize: 7 })) {
        names.push(entry.name.toString('latin1'));
      }
      return names;
    }

    async function rowCount(table: string, ino: number): Promise<number> {
      const rows = await handle.dataSource.query<{ n: unknown }[]>(`SELECT COUNT(*) AS n FROM ${table} WHERE ino = ?`, [
        ino,
      ]);
      return Number(rows[0].n);
    }

    /**
     * Does what the sync worker will do once Tahoe holds the inode: clears every dirty flag. Without it a new
     * file is dirty from its creation, and a test could not tell whether a change marked it dirty.
     */
    async function markSynced(ino: number): Promise<void> {
      await handle.dataSource.query(
        'UPDATE inode SET data_dirty = 0, attr_dirty = 0, entries_dirty = 0, ' +
          "sync_state = 'synced', dirty_since = NULL WHERE ino = ?",
        [ino],
      );
      expect(await store.getInode(ino)).toMatchObject({ dataDirty: false, syncState: 'synced', dirtySince: null });
    }

    describe('filesystem', () => {
      it('should create the root directory once and keep the filesystem id on a second init', async () => {
        const first = await store.getSettings();
        const again = await store.initFilesystem({ uid: 5, gid: 5, mode: 0o700 });
        const root = await store.getInode(ROOT_INO);

        expect(again).toEqual(first);
        expect(first.filesystemId).toMatch(/^[0-9a-f-]{36}$/);
        expect(first.formatVersion).toBe(1);
        expect(root).toMatchObject({ type: 'dir', mode: 0o755, uid: 0, gid: 0, parent: ROOT_INO });
      });

      it('should record the root cap in the settings and on the root inode', async () => {
        const cap = 'URI:DIR2:aaaaaaaaaaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';

        await store.setRootCap(cap);

        expect((await store.getSettings()).rootCap).toBe(cap);
        expect((await store.getInode(ROOT_INO)).writeCap).toBe(cap);
      });
    });

    describe('create, mkdir, mknod, symlink', () => {
      it('should create a file owned by the caller with permission bits only and every time set to now', async () => {
        const dir = await freshDir();
        const now = clock.tick();

        const file = await store.create(dir.ino, 'a.txt', { uid: 1234, gid: 5678, mode: 0o100644 });

        expect(file).toMatchObject({ type: 'file', mode: 0o644, uid: 1234, gid: 5678, size: 0, nlink: 1 });
        expect([file.atime, file.mtime, file.ctime]).toEqual([now, now, now]);
        expect(file).toMatchObject({ dataDirty: true, syncState: 'dirty', contentVersion: 0, writeCap: null });
        expect(await store.lookup(dir.ino, 'a.txt')).toEqual(file);
        const parent = await store.getInode(dir.ino);
        expect([parent.mtime, parent.ctime, parent.nlink]).toEqual([now, now, 2]);
        expect(parent.entriesDirty).toBe(true);
      });

      it('should count a new directory in its parent nlink and give it nlink 2 and a parent pointer', async () => {
        const dir = await freshDir();

        const sub = await store.mkdir(dir.ino, 'sub', DIR);

        expect(sub).toMatchObject({ type: 'dir', nlink: 2, parent: dir.ino, entriesDirty: true });
        expect((await store.getInode(dir.ino)).nlink).toBe(3);
        expect((await store.lookup(sub.ino, '..')).ino).toBe(dir.ino);
        expect((await store.lookup(sub.ino, '.')).ino).toBe(sub.ino);
      });

      it('should pass the group and the set-group-ID bit of a set-group-ID directory down', async () => {
        const dir = await freshDir(0o2775);
        await store.setattr(dir.ino, { gid: 4242 });

        const file = await store.create(dir.ino, 'f', { uid: 1, gid: 1, mode: 0o644 });
        const sub = await store.mkdir(dir.ino, 'd', { uid: 1, gid: 1, mode: 0o755 });

        expect(file).toMatchObject({ gid: 4242, mode: 0o644 });
        expect(sub).toMatchObject({ gid: 4242, mode: 0o2755 });
      });

      it('should make fifos, sockets and devices, keeping rdev only for devices', async () => {
        const dir = await freshDir();

        const fifo = await store.mknod(dir.ino, 'fifo', { ...FILE, type: 'fifo', rdev: 7 });
        const socket = await store.mknod(dir.ino, 'sock', { ...FILE, type: 'socket' });
        const char = await store.mknod(dir.ino, 'tty', { ...FILE, type: 'char', rdev: 0x0501 });
        const block = await store.mknod(dir.ino, 'sda', { ...FILE, type: 'block', rdev: 0x0800 });

        expect([fifo.type, fifo.rdev, socket.type, char.type, char.rdev, block.type, block.rdev]).toEqual([
          'fifo',
          0,
          'socket',
          'char',
          0x0501,
          'block',
          0x0800,
        ]);
        await expectErrno(store.mknod(dir.ino, 'x', { ...FILE, type: 'dir' as never }), 'EINVAL');
      });

      it('should keep a symlink target as bytes, with the size of the target', async () => {
        const dir = await freshDir();
        const target = Buffer.from([0x2e, 0x2e, 0x2f, 0xff, 0xfe, 0x61]);

        const link = await store.symlink(dir.ino, 'link', target, owner);

        expect(link).toMatchObject({ type: 'symlink', mode: 0o777, size: 6 });
        expect(await store.readlink(link.ino)).toEqual(target);
        const file = await store.create(dir.ino, 'plain', FILE);
        await expectErrno(store.readlink(file.ino), 'EINVAL');
      });

      it('should fail with EEXIST on an existing name and leave the parent untouched', async () => {
        const dir = await freshDir();
        await store.create(dir.ino, 'taken', FILE);
        await store.mkdir(dir.ino, 'taken-dir', DIR);
        const before = await store.getInode(dir.ino);
        clock.tick();

        await expectErrno(store.create(dir.ino, 'taken', FILE), 'EEXIST');
        await expectErrno(store.mkdir(dir.ino, 'taken', DIR), 'EEXIST');
        await expectErrno(store.symlink(dir.ino, 'taken-dir', 'x', owner), 'EEXIST');
        await expectErrno(store.mknod(dir.ino, 'taken', { ...FILE, type: 'fifo' }), 'EEXIST');

        expect(await store.getInode(dir.ino)).toEqual(before);
      });

      it('should fail with ENOENT in a missing directory and ENOTDIR in a file', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'file', FILE);

        await expectErrno(store.create(987_654_321, 'x', FILE), 'ENOENT');
        await expectErrno(store.mkdir(file.ino, 'x', DIR), 'ENOTDIR');
        await expectErrno(store.lookup(file.ino, 'x'), 'ENOTDIR');
        await expectErrno(store.lookup(dir.ino, 'missing'), 'ENOENT');
        await expectErrno(store.getInode(987_654_321), 'ENOENT');
      });
    });

    describe('names', () => {
      it('should compare names byte for byte', async () => {
        const dir = await freshDir();
        const names = ['a', 'A', 'a ', 'caf\u00e9', 'cafe\u0301', Buffer.from([0xff, 0x41, 0xc3]), 'x'.repeat(255)];

        const created = [];
        for (const name of names) {
          created.push((await store.create(dir.ino, name, FILE)).ino);
        }

        const found = [];
        for (const name of names) {
          found.push((await store.lookup(dir.ino, name)).ino);
        }
        expect(found).toEqual(created);
        expect(new Set(created).size).toBe(names.length);
        const listed = (await store.readdir(dir.ino)).entries.map((entry) => entry.name);
        expect(listed).toEqual(names.map((name) => (typeof name === 'string' ? Buffer.from(name) : name)));
      });

      it('should answer ENAMETOOLONG for a name over 255 bytes, counting bytes not characters', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        const long = '\u00e9'.repeat(128);

        await expectErrno(store.create(dir.ino, long, FILE), 'ENAMETOOLONG');
        await expectErrno(store.mkdir(dir.ino, 'y'.repeat(256), DIR), 'ENAMETOOLONG');
        await expectErrno(store.lookup(dir.ino, long), 'ENAMETOOLONG');
        await expectErrno(store.link(file.ino, dir.ino, long), 'ENAMETOOLONG');
        await expectErrno(store.rename(dir.ino, 'f', dir.ino, long), 'ENAMETOOLONG');
        await expectErrno(store.unlink(dir.ino, long), 'ENAMETOOLONG');
      });

      it('should answer EINVAL for a name with a slash or a NUL and ENOENT for an empty one', async () => {
        const dir = await freshDir();

        await expectErrno(store.create(dir.ino, 'a/b', FILE), 'EINVAL');
        await expectErrno(store.mkdir(dir.ino, Buffer.from([0x61, 0x00]), DIR), 'EINVAL');
        await expectErrno(store.lookup(dir.ino, 'a/b'), 'EINVAL');
        await expectErrno(store.create(dir.ino, '', FILE), 'ENOENT');
        expect(await listNames(dir.ino)).toEqual([]);
      });

      it('should answer for . and .. what Linux answers', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);

        await expectErrno(store.mkdir(dir.ino, '.', DIR), 'EEXIST');
        await expectErrno(store.create(dir.ino, '..', FILE), 'EEXIST');
        await expectErrno(store.symlink(dir.ino, '.', 'x', owner), 'EEXIST');
        await expectErrno(store.link(file.ino, dir.ino, '..'), 'EEXIST');
        await expectErrno(store.unlink(dir.ino, '.'), 'EISDIR');
        await expectErrno(store.rmdir(dir.ino, '.'), 'EINVAL');
        await expectErrno(store.rmdir(dir.ino, '..'), 'ENOTEMPTY');
        await expectErrno(store.rename(dir.ino, '.', dir.ino, 'x'), 'EBUSY');
        await expectErrno(store.rename(dir.ino, 'f', dir.ino, '..'), 'EBUSY');
        await expectErrno(store.rename(dir.ino, 'f', dir.ino, '.', { noReplace: true }), 'EEXIST');
      });

      it('should accept a symlink target of 4096 bytes and refuse a longer or an empty one', async () => {
        const dir = await freshDir();

        const longest = await store.symlink(dir.ino, 'ok', 't'.repeat(SYMLINK_MAX), owner);

        expect((await store.readlink(longest.ino)).length).toBe(SYMLINK_MAX);
        await expectErrno(store.symlink(dir.ino, 'long', 't'.repeat(SYMLINK_MAX + 1), owner), 'ENAMETOOLONG');
        await expectErrno(store.symlink(dir.ino, 'empty', '', owner), 'ENOENT');
        expect(await listNames(dir.ino)).toEqual(['ok']);
      });
    });

    describe('link', () => {
      it('should add a name, count it in nlink and change the inode ctime and the new parent times', async () => {
        const dir = await freshDir();
        const other = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        const now = clock.tick();

        const linked = await store.link(file.ino, other.ino, 'g');

        expect(linked).toMatchObject({ ino: file.ino, nlink: 2, ctime: now, mtime: file.mtime });
        expect((await store.lookup(other.ino, 'g')).ino).toBe(file.ino);
        const parent = await store.getInode(other.ino);
        expect([parent.mtime, parent.ctime]).toEqual([now, now]);
        expect((await store.getInode(dir.ino)).mtime).toEqual(file.mtime);
      });

      it('should refuse a directory with EPERM and an existing name with EEXIST', async () => {
        const dir = await freshDir();
        const sub = await store.mkdir(dir.ino, 'sub', DIR);
        const file = await store.create(dir.ino, 'f', FILE);

        await expectErrno(store.link(sub.ino, dir.ino, 'sub2'), 'EPERM');
        await expectErrno(store.link(file.ino, dir.ino, 'sub'), 'EEXIST');
        await expectErrno(store.link(file.ino, file.ino, 'x'), 'ENOTDIR');
        await expectErrno(store.link(987_654_321, dir.ino, 'x'), 'ENOENT');
        expect((await store.getInode(file.ino)).nlink).toBe(1);
      });
    });

    describe('unlink and rmdir', () => {
      it('should keep a hard-linked inode until its last name goes, then delete it with its xattrs', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'one', FILE);
        await store.link(file.ino, dir.ino, 'two');
        await store.setXattr(file.ino, 'user.k', Buffer.from('v'));
        const now = clock.tick();

        const first = await store.unlink(dir.ino, 'one');

        expect(first).toEqual({ ino: file.ino, type: 'file', nlink: 1, freed: false });
        expect(await store.getInode(file.ino)).toMatchObject({ nlink: 1, ctime: now });
        const parent = await store.getInode(dir.ino);
        expect([parent.mtime, parent.ctime]).toEqual([now, now]);

        const last = await store.unlink(dir.ino, 'two');

        expect(last).toEqual({ ino: file.ino, type: 'file', nlink: 0, freed: true });
        await expectErrno(store.getInode(file.ino), 'ENOENT');
        expect(await rowCount('xattr', file.ino)).toBe(0);
      });

      it('should delete a symlink target with its symlink', async () => {
        const dir = await freshDir();
        const link = await store.symlink(dir.ino, 'l', 'target', owner);

        expect((await store.unlink(dir.ino, 'l')).freed).toBe(true);

        expect(await rowCount('symlink', link.ino)).toBe(0);
      });

      it('should refuse to unlink a directory with EISDIR and a missing name with ENOENT', async () => {
        const dir = await freshDir();
        await store.mkdir(dir.ino, 'sub', DIR);

        await expectErrno(store.unlink(dir.ino, 'sub'), 'EISDIR');
        await expectErrno(store.unlink(dir.ino, 'missing'), 'ENOENT');
        expect(await listNames(dir.ino)).toEqual(['sub']);
      });

      it('should remove an empty directory, decrement the parent nlink and set its times', async () => {
        const dir = await freshDir();
        const sub = await store.mkdir(dir.ino, 'sub', DIR);
        const now = clock.tick();

        const removed = await store.rmdir(dir.ino, 'sub');

        expect(removed).toEqual({ ino: sub.ino, type: 'dir', nlink: 0, freed: true });
        const parent = await store.getInode(dir.ino);
        expect([parent.nlink, parent.mtime, parent.ctime]).toEqual([2, now, now]);
        await expectErrno(store.getInode(sub.ino), 'ENOENT');
      });

      it('should refuse to remove a non-empty directory, a file and a missing name', async () => {
        const dir = await freshDir();
        const sub = await store.mkdir(dir.ino, 'sub', DIR);
        await store.create(sub.ino, 'inside', FILE);
        await store.create(dir.ino, 'file', FILE);

        await expectErrno(store.rmdir(dir.ino, 'sub'), 'ENOTEMPTY');
        await expectErrno(store.rmdir(dir.ino, 'file'), 'ENOTDIR');
        await expectErrno(store.rmdir(dir.ino, 'missing'), 'ENOENT');
        expect((await store.getInode(dir.ino)).nlink).toBe(3);
      });
    });

    describe('rename', () => {
      it('should rename within a directory, keeping the inode and its place in readdir', async () => {
        const dir = await freshDir();
        const a = await store.create(dir.ino, 'a', FILE);
        await store.create(dir.ino, 'b', FILE);
        const now = clock.tick();

        const result = await store.rename(dir.ino, 'a', dir.ino, 'z');

        expect(result).toEqual({ ino: a.ino, replaced: null });
        expect(await listNames(dir.ino)).toEqual(['z', 'b']);
        expect(await store.getInode(a.ino)).toMatchObject({ ctime: now, mtime: a.mtime, nlink: 1 });
        const parent = await store.getInode(dir.ino);
        expect([parent.mtime, parent.ctime]).toEqual([now, now]);
        await expectErrno(store.lookup(dir.ino, 'a'), 'ENOENT');
      });

      it('should move a file to another directory and set the times of both', async () => {
        const from = await freshDir();
        const to = await freshDir();
        const file = await store.create(from.ino, 'f', FILE);
        const now = clock.tick();

        await store.rename(from.ino, 'f', to.ino, 'g');

        expect((await store.lookup(to.ino, 'g')).ino).toBe(file.ino);
        expect(await listNames(from.ino)).toEqual([]);
        for (const ino of [from.ino, to.ino]) {
          const parent = await store.getInode(ino);
          expect([parent.mtime, parent.ctime, parent.nlink]).toEqual([now, now, 2]);
        }
      });

      it('should replace an existing file and report what became of it', async () => {
        const dir = await freshDir();
        const source = await store.create(dir.ino, 'src', FILE);
        const victim = await store.create(dir.ino, 'dst', FILE);
        const linked = await store.create(dir.ino, 'dst2', FILE);
        await store.link(linked.ino, dir.ino, 'keep');
        const now = clock.tick();

        const replaced = await store.rename(dir.ino, 'src', dir.ino, 'dst');
        const replacedLinked = await store.rename(dir.ino, 'dst', dir.ino, 'dst2');

        expect(replaced).toEqual({
          ino: source.ino,
          replaced: { ino: victim.ino, type: 'file', nlink: 0, freed: true },
        });
        expect(replacedLinked.replaced).toEqual({ ino: linked.ino, type: 'file', nlink: 1, freed: false });
        expect(await store.getInode(linked.ino)).toMatchObject({ nlink: 1, ctime: now });
        await expectErrno(store.getInode(victim.ino), 'ENOENT');
        expect((await store.lookup(dir.ino, 'dst2')).ino).toBe(source.ino);
        expect(await listNames(dir.ino)).toEqual(['dst2', 'keep']);
      });

      it('should replace an empty directory and keep the parents link counts right', async () => {
        const from = await freshDir();
        const to = await freshDir();
        const moved = await store.mkdir(from.ino, 'm', DIR);
        const empty = await store.mkdir(to.ino, 'e', DIR);

        const result = await store.rename(from.ino, 'm', to.ino, 'e');

        expect(result).toEqual({ ino: moved.ino, replaced: { ino: empty.ino, type: 'dir', nlink: 0, freed: true } });
        expect((await store.getInode(from.ino)).nlink).toBe(2);
        expect((await store.getInode(to.ino)).nlink).toBe(3);
        expect(await store.getInode(moved.ino)).toMatchObject({ parent: to.ino, nlink: 2 });
        expect((await store.lookup(moved.ino, '..')).ino).toBe(to.ino);
      });

      it('should refuse to replace a non-empty directory, a directory by a file and a file by a directory', async () => {
        const dir = await freshDir();
        await store.mkdir(dir.ino, 'full', DIR);
        await store.create((await store.lookup(dir.ino, 'full')).ino, 'x', FILE);
        await store.mkdir(dir.ino, 'empty', DIR);
        await store.mkdir(dir.ino, 'moving', DIR);
        await store.create(dir.ino, 'file', FILE);

        await expectErrno(store.rename(dir.ino, 'moving', dir.ino, 'full'), 'ENOTEMPTY');
        await expectErrno(store.rename(dir.ino, 'file', dir.ino, 'empty'), 'EISDIR');
        await expectErrno(store.rename(dir.ino, 'moving', dir.ino, 'file'), 'ENOTDIR');
        expect(await listNames(dir.ino)).toEqual(['full', 'empty', 'moving', 'file']);
      });

      it('should refuse with EINVAL to move a directory into itself or its own subtree', async () => {
        const dir = await freshDir();
        const a = await store.mkdir(dir.ino, 'a', DIR);
        const child = await store.mkdir(a.ino, 'child', DIR);
        const grandchild = await store.mkdir(child.ino, 'grandchild', DIR);

        await expectErrno(store.rename(dir.ino, 'a', a.ino, 'x'), 'EINVAL');
        await expectErrno(store.rename(dir.ino, 'a', child.ino, 'x'), 'EINVAL');
        await expectErrno(store.rename(dir.ino, 'a', grandchild.ino, 'x'), 'EINVAL');
        expect((await store.lookup(dir.ino, 'a')).ino).toBe(a.ino);
        expect((await store.getInode(a.ino)).parent).toBe(dir.ino);
      });

      it('should refuse with ENOTEMPTY to move a directory onto its own ancestor', async () => {
        const dir = await freshDir();
        const a = await store.mkdir(dir.ino, 'a', DIR);
        await store.mkdir(a.ino, 'b', DIR);

        await expectErrno(store.rename(a.ino, 'b', dir.ino, 'a'), 'ENOTEMPTY');
      });

      it('should move a directory to another parent, moving its link from one parent to the other', async () => {
        const from = await freshDir();
        const to = await freshDir();
        const moved = await store.mkdir(from.ino, 'd', DIR);
        await store.create(moved.ino, 'inside', FILE);
        const now = clock.tick();

        await store.rename(from.ino, 'd', to.ino, 'd2');

        expect((await store.getInode(from.ino)).nlink).toBe(2);
        expect((await store.getInode(to.ino)).nlink).toBe(3);
        expect(await store.getInode(moved.ino)).toMatchObject({ parent: to.ino, ctime: now, mtime: moved.mtime });
        expect(await listNames(moved.ino)).toEqual(['inside']);
      });

      it('should do nothing when a name is renamed onto itself or onto another link of the same file', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'a', FILE);
        await store.link(file.ino, dir.ino, 'b');
        const before = [await store.getInode(dir.ino), await store.getInode(file.ino)];
        clock.tick();

        const self = await store.rename(dir.ino, 'a', dir.ino, 'a');
        const sibling = await store.rename(dir.ino, 'a', dir.ino, 'b');

        expect([self, sibling]).toEqual([
          { ino: file.ino, replaced: null },
          { ino: file.ino, replaced: null },
        ]);
        expect(await listNames(dir.ino)).toEqual(['a', 'b']);
        expect([await store.getInode(dir.ino), await store.getInode(file.ino)]).toEqual(before);
      });

      it('should refuse to replace anything under noReplace', async () => {
        const dir = await freshDir();
        await store.create(dir.ino, 'a', FILE);
        await store.create(dir.ino, 'b', FILE);

        await expectErrno(store.rename(dir.ino, 'a', dir.ino, 'b', { noReplace: true }), 'EEXIST');
        await store.rename(dir.ino, 'a', dir.ino, 'c', { noReplace: true });

        expect(await listNames(dir.ino)).toEqual(['c', 'b']);
      });

      it('should fail with ENOENT for a missing source and ENOTDIR when the new parent is a file', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);

        await expectErrno(store.rename(dir.ino, 'missing', dir.ino, 'x'), 'ENOENT');
        await expectErrno(store.rename(dir.ino, 'f', file.ino, 'x'), 'ENOTDIR');
        await expectErrno(store.rename(987_654_321, 'f', dir.ino, 'x'), 'ENOENT');
        expect(await listNames(dir.ino)).toEqual(['f']);
      });
    });

    describe('setattr', () => {
      it('should change mode, owner and group and set only ctime', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        const now = clock.tick();

        const changed = await store.setattr(file.ino, { mode: 0o104755, uid: 7, gid: 8 });

        expect(changed).toMatchObject({ mode: 0o4755, uid: 7, gid: 8, ctime: now, mtime: file.mtime, attrDirty: true });
        expect(await store.getInode(file.ino)).toEqual(changed);
        expect((await store.getInode(dir.ino)).mtime).toEqual(file.mtime);
      });

      it('should truncate a file, bumping its content version and setting mtime and ctime', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        const now = clock.tick();

        const grown = await store.setattr(file.ino, { size: 5_000_000_000 });
        const later = clock.tick();
        const same = await store.setattr(file.ino, { size: 5_000_000_000 });

        expect(grown).toMatchObject({
          size: 5_000_000_000,
          contentVersion: 1,
          dataDirty: true,
          mtime: now,
          ctime: now,
        });
        expect(same).toMatchObject({ size: 5_000_000_000, contentVersion: 1, mtime: later, ctime: later });
      });

      it('should mark a clean file dirty again when truncate changes its size, keeping the first dirty time', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        await store.setattr(file.ino, { size: 10 });
        await markSynced(file.ino);
        const now = clock.tick();

        const shrunk = await store.setattr(file.ino, { size: 3 });
        const later = clock.tick();
        const emptied = await store.setattr(file.ino, { size: 0 });

        expect(shrunk).toMatchObject({
          size: 3,
          contentVersion: 2,
          dataDirty: true,
          attrDirty: true,
          syncState: 'dirty',
          dirtySince: toMs(now),
          mtime: now,
          ctime: now,
        });
        expect(emptied).toMatchObject({
          size: 0,
          contentVersion: 3,
          dataDirty: true,
          dirtySince: toMs(now),
          mtime: later,
        });
        expect(await store.getInode(file.ino)).toEqual(emptied);
      });

      it('should leave the data of a clean file clean when truncate keeps its size', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        await store.setattr(file.ino, { size: 10 });
        await markSynced(file.ino);
        const now = clock.tick();

        const same = await store.setattr(file.ino, { size: 10 });

        expect(same).toMatchObject({ size: 10, contentVersion: 1, dataDirty: false, attrDirty: true, mtime: now });
        expect(same).toMatchObject({ syncState: 'dirty', dirtySince: toMs(now) });
      });

      it('should refuse to truncate a directory, a symlink or to a negative size', async () => {
        const dir = await freshDir();
        const link = await store.symlink(dir.ino, 'l', 'target', owner);
        const file = await store.create(dir.ino, 'f', FILE);

        await expectErrno(store.setattr(dir.ino, { size: 0 }), 'EISDIR');
        await expectErrno(store.setattr(link.ino, { size: 0 }), 'EINVAL');
        await expectErrno(store.setattr(file.ino, { size: -1 }), 'EINVAL');
        await expectErrno(store.setattr(987_654_321, { mode: 0o600 }), 'ENOENT');
        expect((await store.getInode(link.ino)).size).toBe(6);
      });

      it('should set exact times and "now", with ctime always now', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        const now = clock.tick();

        const changed = await store.setattr(file.ino, { atime: { sec: -5, nsec: 999_999_999 }, mtime: 'now' });

        expect([changed.atime, changed.mtime, changed.ctime]).toEqual([{ sec: -5, nsec: 999_999_999 }, now, now]);
        await expectErrno(store.setattr(file.ino, { mtime: { sec: 1, nsec: 1e9 } }), 'EINVAL');
      });

      it('should change only atime for an access-only update, leaving ctime and the sync state alone', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        await markSynced(file.ino);
        const before = await store.getInode(file.ino);
        const now = clock.tick();

        const accessed = await store.setattr(file.ino, { atime: 'now', accessOnly: true });

        expect(accessed).toEqual({ ...before, atime: now });
        expect(await store.getInode(file.ino)).toEqual(accessed);
        await expectErrno(store.setattr(file.ino, { atime: 'now', mode: 0o600, accessOnly: true }), 'EINVAL');
        await expectErrno(store.setattr(file.ino, { accessOnly: true }), 'EINVAL');
      });

      it('should keep an access-only update in memory, with no write transaction, until the inode is persisted (lazytime)', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        const storedAtime = async (): Promise<number> => {
          const rows = await handle.dataSource.query<{ sec: unknown }[]>(
            'SELECT atime_sec AS sec FROM inode WHERE ino = ?',
            [file.ino],
          );
          return Number(rows[0].sec);
        };
        const commitsBefore = store.stats().transactions;
        clock.tick();
        const now = clock.tick();

        const accessed = await store.setattr(file.ino, { atime: 'now', accessOnly: true });
        const commitsAfterRead = store.stats().transactions;
        const inDatabaseBefore = await storedAtime();
        await store.persistAccessTime(file.ino);

        expect({ commits: commitsAfterRead - commitsBefore, shown: (await store.getInode(file.ino)).atime }).toEqual({
          commits: 0,
          shown: now,
        });
        expect(accessed.atime).toEqual(now);
        expect(inDatabaseBefore).toBe(file.atime.sec);
        expect(await storedAtime()).toBe(now.sec);
      });

      it('should touch the access time of a record it is given without a transaction, as reads show it', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        const commitsBefore = store.stats().transactions;
        const now = clock.tick();

        const accessed = await store.touchAccessTime(file);

        expect(accessed).toEqual({ ...file, atime: now });
        expect(await store.getInode(file.ino)).toEqual({ ...file, atime: now });
        expect(store.stats().transactions - commitsBefore).toBe(0);
        await store.persistAccessTime(file.ino);
        expect((await store.getInode(file.ino)).atime).toEqual(now);
      });
    });

    describe('recordContentChange', () => {
      it('should set the size, an exact mtime and ctime now, mark the data dirty and bump the version', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        await markSynced(file.ino);
        const parentBefore = await store.getInode(dir.ino);
        const now = clock.tick();
        const mtime = { sec: 1_650_000_000, nsec: 987_654_321 };

        const recorded = await store.recordContentChange(file.ino, { size: 5_000_000_123, mtime });

        expect(recorded).toMatchObject({
          size: 5_000_000_123,
          mtime,
          ctime: now,
          atime: file.atime,
          nlink: 1,
          contentVersion: 1,
          dataDirty: true,
          attrDirty: true,
          syncState: 'dirty',
          dirtySince: toMs(now),
        });
        expect(await store.getInode(file.ino)).toEqual(recorded);
        expect(await store.getInode(dir.ino)).toEqual(parentBefore);
      });

      it('should bump the version on every call, even at the same size, and keep the first dirty time', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        await markSynced(file.ino);
        const first = clock.tick();
        await store.recordContentChange(file.ino, { size: 100, mtime: 'now' });
        const second = clock.tick();

        const same = await store.recordContentChange(file.ino, { size: 100, mtime: 'now' });
        const third = clock.tick();
        const shrunk = await store.recordContentChange(file.ino, { size: 7, mtime: 'now' });

        expect(same).toMatchObject({ size: 100, contentVersion: 2, mtime: second, ctime: second });
        expect(shrunk).toMatchObject({ size: 7, contentVersion: 3, mtime: third, ctime: third });
        expect([same.dirtySince, shrunk.dirtySince]).toEqual([toMs(first), toMs(first)]);
      });

      it('should accept the change of an unlinked file that is still open', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        await store.open(file.ino);
        await store.unlink(dir.ino, 'f');
        const now = clock.tick();

        const recorded = await store.recordContentChange(file.ino, { size: 4096, mtime: 'now' });

        expect(recorded).toMatchObject({ nlink: 0, size: 4096, contentVersion: 1, mtime: now, ctime: now });
        expect(await store.getInode(file.ino)).toEqual(recorded);
        expect(await store.release(file.ino)).toEqual({ freed: true });
        await expectErrno(store.getInode(file.ino), 'ENOENT');
      });

      it('should refuse a missing inode, a directory, other types and a bad size or time, changing nothing', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        const link = await store.symlink(dir.ino, 'l', 'f', owner);
        const fifo = await store.mknod(dir.ino, 'p', { ...FILE, type: 'fifo' });
        const before = await Promise.all([dir, file, link, fifo].map((inode) => store.getInode(inode.ino)));
        clock.tick();

        await expectErrno(store.recordContentChange(987_654_321, { size: 1, mtime: 'now' }), 'ENOENT');
        await expectErrno(store.recordContentChange(dir.ino, { size: 1, mtime: 'now' }), 'EISDIR');
        await expectErrno(store.recordContentChange(link.ino, { size: 1, mtime: 'now' }), 'EINVAL');
        await expectErrno(store.recordContentChange(fifo.ino, { size: 1, mtime: 'now' }), 'EINVAL');
        for (const size of [-1, 1.5, Number.NaN, 2 ** 53]) {
          await expectErrno(store.recordContentChange(file.ino, { size, mtime: 'now' }), 'EINVAL');
        }
        await expectErrno(store.recordContentChange(file.ino, { size: 1, mtime: { sec: 1, nsec: 1e9 } }), 'EINVAL');

        expect(await Promise.all([dir, file, link, fifo].map((inode) => store.getInode(inode.ino)))).toEqual(before);
      });
    });

    describe('extended attributes', () => {
      it('should set, get, list and remove binary attributes, setting ctime each time', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        const value = Buffer.from([0, 1, 2, 255]);
        const setAt = clock.tick();

        await store.setXattr(file.ino, 'user.b', value);
        await store.setXattr(file.ino, Buffer.from('user.a'), Buffer.alloc(0));

        expect(await store.getXattr(file.ino, 'user.b')).toEqual(value);
        expect(await store.getXattr(file.ino, 'user.a')).toEqual(Buffer.alloc(0));
        expect((await store.listXattr(file.ino)).map(String)).toEqual(['user.a', 'user.b']);
        expect((await store.getInode(file.ino)).ctime).toEqual(setAt);
        const removedAt = clock.tick();
        await store.removeXattr(file.ino, 'user.b');
        expect((await store.listXattr(file.ino)).map(String)).toEqual(['user.a']);
        expect((await store.getInode(file.ino)).ctime).toEqual(removedAt);
      });

      it('should tell whether any inode has an attribute whose name starts with a prefix', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        // Names just outside the range [prefix, prefix with its last byte raised) do not count.
        await store.setXattr(file.ino, 'user.prefixcheck', Buffer.from('shorter'));
        await store.setXattr(file.ino, 'user.prefixcheck/', Buffer.from('next byte'));
        expect(await store.anyXattrWithPrefix('user.prefixcheck.')).toBe(false);

        await store.setXattr(file.ino, 'user.prefixcheck.label', Buffer.from('in'));
        expect(await store.anyXattrWithPrefix('user.prefixcheck.')).toBe(true);
        // Among given inodes only (more than one statement's group of them).
        const others = Array.from({ length: 70 }, (_, index) => 900_000 + index);
        expect(await store.anyXattrWithPrefix('user.prefixcheck.', others)).toBe(false);
        expect(await store.anyXattrWithPrefix('user.prefixcheck.', [...others, file.ino])).toBe(true);
        expect(await store.anyXattrWithPrefix('user.prefixcheck.', [])).toBe(false);
        await store.removeXattr(file.ino, 'user.prefixcheck.label');
        expect(await store.anyXattrWithPrefix('user.prefixcheck.')).toBe(false);
      });

      it('should follow XATTR_CREATE and XATTR_REPLACE and answer ENODATA for a missing attribute', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        await store.setXattr(file.ino, 'user.x', Buffer.from('1'), XATTR_CREATE);

        await expectErrno(store.setXattr(file.ino, 'user.x', Buffer.from('2'), XATTR_CREATE), 'EEXIST');
        await expectErrno(store.setXattr(file.ino, 'user.y', Buffer.from('2'), XATTR_REPLACE), 'ENODATA');
        await store.setXattr(file.ino, 'user.x', Buffer.from('3'), XATTR_REPLACE);
        await expectErrno(store.getXattr(file.ino, 'user.y'), 'ENODATA');
        await expectErrno(store.removeXattr(file.ino, 'user.y'), 'ENODATA');
        await expectErrno(store.getXattr(987_654_321, 'user.x'), 'ENOENT');
        expect(String(await store.getXattr(file.ino, 'user.x'))).toBe('3');
      });

      it('should answer E2BIG for a value over 64 KiB and ERANGE for a bad name', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);

        await store.setXattr(file.ino, 'user.max', Buffer.alloc(XATTR_SIZE_MAX, 7));

        expect((await store.getXattr(file.ino, 'user.max')).length).toBe(XATTR_SIZE_MAX);
        await expectErrno(store.setXattr(file.ino, 'user.big', Buffer.alloc(XATTR_SIZE_MAX + 1)), 'E2BIG');
        await expectErrno(store.setXattr(file.ino, 'u'.repeat(256), Buffer.from('v')), 'ERANGE');
        await expectErrno(store.getXattr(file.ino, ''), 'ERANGE');
      });
    });

    describe('readdir', () => {
      it('should page a large directory in a stable order, each page within its limit', async () => {
        const dir = await freshDir();
        const names = Array.from({ length: 150 }, (_, index) => `f${String(index).padStart(3, '0')}`).reverse();
        for (const name of names) {
          await store.create(dir.ino, name, FILE);
        }

        const seen: string[] = [];
        let after = 0;
        let pages = 0;
        for (;;) {
          const page = await store.readdir(dir.ino, { after, limit: 32 });
          expect(page.entries.length).toBeLessThanOrEqual(32);
          seen.push(...page.entries.map((entry) => entry.name.toString()));
          pages += 1;
          if (page.next === null) {
            break;
          }
          after = page.next;
        }

        expect(seen).toEqual(names);
        expect(pages).toBe(5);
      });

      it('should return every untouched entry exactly once while entries come and go between pages', async () => {
        const dir = await freshDir();
        for (let index = 0; index < 40; index += 1) {
          await store.create(dir.ino, `keep${index}`, FILE);
          await store.create(dir.ino, `gone${index}`, FILE);
        }

        const seen: string[] = [];
        let after = 0;
        for (let round = 0; ; round += 1) {
          const page = await store.readdir(dir.ino, { after, limit: 10 });
          seen.push(...page.entries.map((entry) => entry.name.toString()));
          await store.unlink(dir.ino, `gone${39 - round}`);
          await store.create(dir.ino, `new${round}`, FILE);
          if (page.next === null) {
            break;
          }
          after = page.next;
        }

        const kept = seen.filter((name) => name.startsWith('keep'));
        expect(kept).toEqual(Array.from({ length: 40 }, (_, index) => `keep${index}`));
        expect(new Set(seen).size).toBe(seen.length);
      });

      it('should give each entry its type, and its attributes when asked', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        await store.mkdir(dir.ino, 'd', DIR);
        await store.symlink(dir.ino, 's', 'f', owner);

        const plain = await store.readdir(dir.ino);
        const plus = await store.readdir(dir.ino, { plus: true });

        expect(plain.entries.map((entry) => [entry.name.toString(), entry.type, entry.inode])).toEqual([
          ['f', 'file', undefined],
          ['d', 'dir', undefined],
          ['s', 'symlink', undefined],
        ]);
        expect(plus.entries[0].inode).toEqual(file);
        expect(plus.next).toBeNull();
      });

      it('should fail with ENOTDIR on a file and ENOENT on a missing inode', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);

        await expectErrno(store.readdir(file.ino), 'ENOTDIR');
        await expectErrno(store.readdir(987_654_321), 'ENOENT');
        expect((await store.readdir(dir.ino)).entries).toHaveLength(1);
      });
    });

    describe('open-unlinked inodes', () => {
      it('should keep an unlinked open file until its last handle is released, then free it', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        await store.setXattr(file.ino, 'user.k', Buffer.from('v'));
        await store.open(file.ino);
        await store.open(file.ino);

        const removed = await store.unlink(dir.ino, 'f');

        expect(removed).toEqual({ ino: file.ino, type: 'file', nlink: 0, freed: false });
        expect(await store.getInode(file.ino)).toMatchObject({ nlink: 0 });
        expect(String(await store.getXattr(file.ino, 'user.k'))).toBe('v');
        await expectErrno(store.lookup(dir.ino, 'f'), 'ENOENT');
        await expectErrno(store.link(file.ino, dir.ino, 'again'), 'ENOENT');
        expect(await store.release(file.ino)).toEqual({ freed: false });
        expect((await store.getInode(file.ino)).nlink).toBe(0);
        expect(await store.release(file.ino)).toEqual({ freed: true });
        await expectErrno(store.getInode(file.ino), 'ENOENT');
        expect(await rowCount('xattr', file.ino)).toBe(0);
      });

      it('should count the handle of a file opened as it was created, keeping it once unlinked until released', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        expect(await store.openCreated(file)).toEqual(file);

        expect(await store.unlink(dir.ino, 'f')).toEqual({ ino: file.ino, type: 'file', nlink: 0, freed: false });
        expect(await store.getInode(file.ino)).toMatchObject({ nlink: 0 });
        expect(await store.release(file.ino)).toEqual({ freed: true });
        await expectErrno(store.getInode(file.ino), 'ENOENT');
      });

      it('should keep a file replaced by rename while it is open', async () => {
        const dir = await freshDir();
        await store.create(dir.ino, 'new', FILE);
        const old = await store.create(dir.ino, 'old', FILE);
        await store.open(old.ino);

        const result = await store.rename(dir.ino, 'new', dir.ino, 'old');

        expect(result.replaced).toEqual({ ino: old.ino, type: 'file', nlink: 0, freed: false });
        expect((await store.getInode(old.ino)).nlink).toBe(0);
        expect(await store.release(old.ino)).toEqual({ freed: true });
        await expectErrno(store.getInode(old.ino), 'ENOENT');
      });

      it('should keep a removed directory that is still open, empty and closed to new entries', async () => {
        const dir = await freshDir();
        const sub = await store.mkdir(dir.ino, 'sub', DIR);
        await store.open(sub.ino);

        expect(await store.rmdir(dir.ino, 'sub')).toEqual({ ino: sub.ino, type: 'dir', nlink: 0, freed: false });

        expect((await store.readdir(sub.ino)).entries).toEqual([]);
        await expectErrno(store.create(sub.ino, 'x', FILE), 'ENOENT');
        expect(await store.release(sub.ino)).toEqual({ freed: true });
      });

      it('should not free a file that still has a name when its last handle is released', async () => {
        const dir = await freshDir();
        const file = await store.create(dir.ino, 'f', FILE);
        await store.open(file.ino);

        expect(await store.release(file.ino)).toEqual({ freed: false });

        expect((await store.getInode(file.ino)).nlink).toBe(1);
        await expectErrno(store.open(987_654_321), 'ENOENT');
      });

      it('should free what a dead gateway kept open once its session expires and another gateway reaps it', async () => {
        const dir = await freshDir();
        const other = await openStore(database.url, clock);
        try {
          await other.store.openSession({ host: 'dying', pid: 1 }, { ttlMs: 10_000 });
          const file = await other.store.create(dir.ino, 'f', FILE);
          await other.store.open(file.ino);
          await other.store.unlink(dir.ino, 'f');
          await store.heartbeat();

          const early = await store.reapExpiredSessions();
          clock.tick(11_000);
          await store.heartbeat();
          const reaped = await store.reapExpiredSessions();

          expect(early).toEqual([]);
          expect(reaped).toEqual([file.ino]);
          await expectErrno(store.getInode(file.ino), 'ENOENT');
        } finally {
          await other.dataSource.destroy();
        }
      });

      it('should come back under the same session id after being reaped while stalled', async () => {
        const other = await openStore(database.url, clock);
        const sessionRows = async (sid: number): Promise<number> => {
          const rows = await handle.dataSource.query<{ n: unknown }[]>(
            'SELECT COUNT(*) AS n FROM gateway_session WHERE sid = ?',
            [sid],
          );
          return Number(rows[0].n);
        };
        try {
          const sid = await other.store.openSession({ host: 'stalled', pid: 3 }, { ttlMs: 10_000 });
          clock.tick(11_000);
          await store.heartbeat();
          await store.reapExpiredSessions();
          const afterReap = await sessionRows(sid);

          await other.store.heartbeat();

          expect([afterReap, await sessionRows(sid)]).toEqual([0, 1]);
        } finally {
          await other.store.close();
        }
      });

      it('should free what a session kept open when it closes', async () => {
        const dir = await freshDir();
        const other = await openStore(database.url, clock);
        await other.store.openSession({ host: 'closing', pid: 2 });
        const file = await other.store.create(dir.ino, 'f', FILE);
        await other.store.open(file.ino);
        await other.store.unlink(dir.ino, 'f');

        await other.store.close();

        await expectErrno(store.getInode(file.ino), 'ENOENT');
      });
    });

    describe('bookkeeping', () => {
      it('should count committed transactions', async () => {
        const before = store.stats().transactions;
        const dir = await freshDir();

        await store.create(dir.ino, 'f', FILE);

        expect(store.stats().transactions).toBe(before + 2);
        expect(store.stats().exhausted).toBe(0);
      });

      it('should leave a database that satisfies every invariant after all of the above', async () => {
        expect(await findInconsistencies(handle.dataSource)).toEqual([]);
      });
    });
  });
}
