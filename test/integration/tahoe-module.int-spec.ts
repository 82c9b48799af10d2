import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ConfigModule } from '../../src/config/config.module';
import { loadConfig } from '../../src/config/config.loader';
import { TahoeClient } from '../../src/tahoe/tahoe.client';
import { TAHOE_NODE_URL, TahoeModule } from '../../src/tahoe/tahoe.module';
import { testTahoeUrl } from '../support/tahoe.helper';

describe('TahoeModule', () => {
  it('should provide a TahoeClient for the configured URL and close it at application shutdown', async () => {
    const config = loadConfig({ env: { RIVERFS_TAHOE_URL: testTahoeUrl(), RIVERFS_TAHOE_CONCURRENCY: '2' }, cwd: '/' });
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(config), TahoeModule],
    }).compile();
    const client = moduleRef.get(TahoeClient);
    expect((await client.gridStatus()).servers.length).toBeGreaterThan(0);
    await moduleRef.close();
    await expect(client.gridStatus()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('should take the URL from TAHOE_NODE_URL when none is configured', async () => {
    @Module({ providers: [{ provide: TAHOE_NODE_URL, useValue: testTahoeUrl() }], exports: [TAHOE_NODE_URL] })
    class LocalGridUrlModule {}
    const config = loadConfig({ env: {}, cwd: '/' });
    expect(config.tahoeUrl).toBeUndefined();
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(config), { module: TahoeModule, imports: [LocalGridUrlModule] }],
    }).compile();
    try {
      const statistics = await moduleRef.get(TahoeClient).statistics();
      expect(statistics.stats['node.uptime']).toBeGreaterThan(0);
    } finally {
      await moduleRef.close();
    }
  });

  it('should refuse to start without any Tahoe URL', async () => {
    const config = loadConfig({ env: {}, cwd: '/' });
    await expect(
      Test.createTestingModule({ imports: [ConfigModule.forRoot(config), TahoeModule] }).compile(),
    ).rejects.toThrow(/no Tahoe web-API URL/);
  });
});
