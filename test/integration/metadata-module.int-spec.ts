import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Test } from '@nestjs/testing';
import { MetadataModule } from '../../src/metadata/metadata.module';
import { MetadataStore } from '../../src/metadata/metadata.store';
import { ROOT_INO } from '../../src/metadata/metadata.types';

describe('MetadataModule', () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-metamodule-'));

  afterAll(() => {
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it('should migrate a new database at start-up and export a working MetadataStore', async () => {
    const db = `sqlite:${path.join(directory, 'started', 'metadata.sqlite')}`;
    const app = await Test.createTestingModule({ imports: [MetadataModule.forRoot({ db })] }).compile();
    await app.init();
    const store = app.get(MetadataStore);

    await store.initFilesystem({ uid: 0, gid: 0, mode: 0o755 });
    const dir = await store.mkdir(ROOT_INO, 'hello', { uid: 1, gid: 1, mode: 0o700 });
    await app.close();

    expect(dir).toMatchObject({ type: 'dir', mode: 0o700 });
    await expect(store.getInode(ROOT_INO)).rejects.toThrow();
  });

  it('should leave the schema alone when start-up migrations are turned off', async () => {
    const db = `sqlite:${path.join(directory, 'unmigrated', 'metadata.sqlite')}`;
    const app = await Test.createTestingModule({
      imports: [MetadataModule.forRoot({ db }, { runMigrations: false, session: false })],
    }).compile();
    await app.init();

    try {
      await expect(app.get(MetadataStore).getInode(ROOT_INO)).rejects.toThrow(/no such table/);
    } finally {
      await app.close();
    }
  });
});
