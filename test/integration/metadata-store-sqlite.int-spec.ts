import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDataSource, runMigrations } from '../../src/metadata/data-source';
import { ROOT_INO } from '../../src/metadata/metadata.types';
import { SqlMetadataStore } from '../../src/metadata/sql-metadata.store';
import { describeRemoteApplyContract } from './metadata-remote.contract';
import { describeMetadataStoreContract } from './metadata-store.contract';

describeMetadataStoreContract('SQLite', () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-metastore-'));
  return Promise.resolve({
    url: `sqlite:${path.join(directory, 'metadata.sqlite')}`,
    destroy: () => Promise.resolve(fs.rmSync(directory, { recursive: true, force: true })),
  });
});

describeRemoteApplyContract('SQLite', () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-metaremote-'));
  return Promise.resolve({
    url: `sqlite:${path.join(directory, 'metadata.sqlite')}`,
    destroy: () => Promise.resolve(fs.rmSync(directory, { recursive: true, force: true })),
  });
});

describe('SqlMetadataStore on SQLite writes back only what changed', () => {
  it("should put a close's size change in one WAL page: the row, not the indexes of columns that did not move", async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-walpages-'));
    const file = path.join(directory, 'metadata.sqlite');
    await runMigrations(`sqlite:${file}`);
    const dataSource = await openDataSource(`sqlite:${file}`);
    const store = new SqlMetadataStore(dataSource);
    try {
      await store.initFilesystem({ uid: 0, gid: 0, mode: 0o755 });
      await store.openSession({ host: 'test', pid: process.pid, version: 'test' });
      const created = await store.create(ROOT_INO, 'f', { uid: 0, gid: 0, mode: 0o644 });
      await store.recordContentChange(created.ino, { size: 1, mtime: 'now' }); // Dirty from here on.
      await dataSource.query('PRAGMA wal_checkpoint(TRUNCATE)');
      const walPages = (): number => Math.round((fs.statSync(`${file}-wal`).size - 32) / (4096 + 24));
      expect(fs.statSync(`${file}-wal`).size).toBe(0);

      await store.recordContentChange(created.ino, { size: 4096, mtime: 'now' });

      // All 29 columns written back rewrote the row and its three indexes: 4 pages.
      expect(walPages()).toBe(1);
      expect(await store.getInode(created.ino)).toMatchObject({ size: 4096, syncState: 'dirty' });
    } finally {
      await store.close();
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });
});
