import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runMigrations } from '../../src/metadata/data-source';
import { findInconsistencies } from './metadata-consistency';
import { FakeClock, openStore, type StoreHandle } from './metadata-store.contract';
import { runRandomWorkload, workloadSeed } from './metadata-workload';

describe('MetadataStore under concurrency (SQLite)', () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-metaconc-'));
  let gateway: StoreHandle;

  beforeAll(async () => {
    const url = `sqlite:${path.join(directory, 'metadata.sqlite')}`;
    await runMigrations(url);
    gateway = await openStore(url, new FakeClock());
    await gateway.store.initFilesystem({ uid: 0, gid: 0, mode: 0o755 });
    await gateway.store.openSession({ host: 'concurrency', pid: process.pid });
  });

  afterAll(async () => {
    await gateway?.store.close();
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it('should leave a consistent tree after many concurrent renames, creates, links and removals', async () => {
    const seed = workloadSeed();

    const result = await runRandomWorkload([gateway.store], { workers: 12, opsPerWorker: 40, seed });

    expect({ seed, unexpected: result.unexpected }).toEqual({ seed, unexpected: [] });
    expect(result.succeeded).toBeGreaterThan(80);
    expect({ seed, problems: await findInconsistencies(gateway.dataSource) }).toEqual({ seed, problems: [] });
  });
});
