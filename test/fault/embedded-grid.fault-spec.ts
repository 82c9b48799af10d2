import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Test } from '@nestjs/testing';
import { ConfigModule } from '../../src/config/config.module';
import { loadConfig } from '../../src/config/config.loader';
import { GridModule } from '../../src/grid/grid.module';
import { LocalGridService } from '../../src/grid/local-grid.service';
import { TahoeClient } from '../../src/tahoe/tahoe.client';
import { TahoeModule } from '../../src/tahoe/tahoe.module';
import { tahoeProcessesUnder } from '../support/process.helper';
import { testVenvDir } from '../support/test-grid';

async function bootEmbedded(dataDir: string) {
  const config = loadConfig({ env: {}, flags: { dataDir, tahoeVenv: testVenvDir() } });
  const moduleRef = await Test.createTestingModule({
    imports: [ConfigModule.forRoot(config), GridModule, TahoeModule],
  }).compile();
  await moduleRef.init();
  return moduleRef;
}

describe('the embedded default: a local grid inside the data directory', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-embedded-'));
  });
  afterAll(() => {
    for (const pid of tahoeProcessesUnder(dataDir)) {
      process.kill(pid, 'SIGKILL');
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('should start the grid before Tahoe is used, stop it at shutdown, and find its data on the next start', async () => {
    const payload = Buffer.from('kept across restarts of the embedded grid '.repeat(10));
    const first = await bootEmbedded(dataDir);
    let cap: string;
    try {
      expect(fs.existsSync(path.join(dataDir, 'grid', 'client', 'tahoe.cfg'))).toBe(true);
      expect(first.get(LocalGridService).embeddedGrid).toBeDefined();
      cap = await first.get(TahoeClient).upload(payload);
      expect(cap).toMatch(/^URI:CHK:/);
      expect(tahoeProcessesUnder(path.join(dataDir, 'grid'))).toHaveLength(5);
    } finally {
      await first.close();
    }
    expect(tahoeProcessesUnder(path.join(dataDir, 'grid'))).toEqual([]);

    const second = await bootEmbedded(dataDir);
    try {
      await expect(second.get(TahoeClient).readAll(cap)).resolves.toEqual(payload);
    } finally {
      await second.close();
    }
    expect(tahoeProcessesUnder(path.join(dataDir, 'grid'))).toEqual([]);
  });
});
