import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { request as undiciRequest } from 'undici';
import type { ShareDto } from '../../src/admin/dto/share.dto';
import { runCli } from '../support/cli.helper';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { testTahoeUrl } from '../support/tahoe.helper';

async function tahoeGet(route: string): Promise<{ status: number; body: Buffer }> {
  const response = await undiciRequest(`${testTahoeUrl()}${route}`);
  return { status: response.statusCode, body: Buffer.from(await response.body.arrayBuffer()) };
}

/** Sharing by cap on a real mount: only the reveal token may, and the cap reads the same bytes from Tahoe. */
describe('POST /admin/share and riverfs share', () => {
  it('should refuse the admin token, refuse what has not reached Tahoe, and hand out caps that read the same data', async () => {
    await withTempMountpoint(async (mountpoint) => {
      // A long sync delay keeps the new file local until the explicit flush below; the share events are at level log.
      const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--sync-delay', '600', '--log-level', 'log'] });
      try {
        const api = request(riverfs.adminUrl);
        const admin = { Authorization: `Bearer ${riverfs.adminToken()}` };
        const revealToken = fs.readFileSync(path.join(riverfs.dataDir, 'admin-reveal-token'), 'utf8').trim();
        const revealer = { Authorization: `Bearer ${revealToken}` };
        const content = Buffer.from('quarterly numbers, long enough to be a CHK file rather than a literal cap\n');
        fs.mkdirSync(path.join(mountpoint, 'docs'));
        fs.writeFileSync(path.join(mountpoint, 'docs', 'report.txt'), content);

        const forbidden = await api.post('/admin/share').set(admin).send({ path: '/docs/report.txt' });
        expect(forbidden.status).toBe(403);
        expect(forbidden.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(forbidden.body).toMatchObject({ code: 'SHARE_FORBIDDEN' });
        expect(JSON.stringify(forbidden.body)).not.toContain('URI:');

        const notYet = await api.post('/admin/share').set(revealer).send({ path: '/docs/report.txt' });
        expect(notYet.status).toBe(409);
        expect(notYet.body).toMatchObject({ code: 'CAP_UNAVAILABLE' });

        const flushed = await api.post('/admin/cache/flush').set(admin).send({ wait: true });
        expect(flushed.status).toBe(200);
        expect(flushed.body).toMatchObject({ state: 'succeeded' });

        const file = await api.post('/admin/share').set(revealer).send({ path: '/docs/report.txt' });
        expect(file.status).toBe(200);
        const fileShare = file.body as ShareDto;
        expect(fileShare).toMatchObject({ type: 'file', capKind: 'read', current: true });
        expect(fileShare.cap).toMatch(/^URI:CHK:/);
        const read = await tahoeGet(`/uri/${encodeURIComponent(fileShare.cap)}`);
        expect(read.status).toBe(200);
        expect(read.body.equals(content)).toBe(true);

        const fileWrite = await api.post('/admin/share').set(revealer).send({ path: '/docs/report.txt', write: true });
        expect(fileWrite.status).toBe(409);

        // A directory's read cap: read-only, and it lists the file under its name with the same cap.
        const dir = await api.post('/admin/share').set(revealer).send({ path: '/docs' });
        expect(dir.status).toBe(200);
        const dirShare = dir.body as ShareDto;
        expect(dirShare.cap).toMatch(/^URI:DIR2(-MDMF)?-RO:/);
        const listing = await tahoeGet(`/uri/${encodeURIComponent(dirShare.cap)}?t=json`);
        const [, node] = JSON.parse(listing.body.toString('utf8')) as [
          string,
          { mutable: boolean; children: Record<string, [string, { ro_uri: string }]> },
        ];
        expect(node.mutable).toBe(true);
        expect(node.children['report.txt'][1].ro_uri).toBe(fileShare.cap);
        const viaDir = await tahoeGet(`/uri/${encodeURIComponent(dirShare.cap)}/report.txt`);
        expect(viaDir.body.equals(content)).toBe(true);

        const dirWrite = await api.post('/admin/share').set(revealer).send({ path: '/docs', write: true });
        expect((dirWrite.body as ShareDto).cap).toMatch(/^URI:DIR2(-MDMF)?:/);

        // The CLI finds the reveal token in the data directory; with the plain token it exits 5 (403).
        const at = ['--url', riverfs.adminUrl, '--data-dir', riverfs.dataDir];
        const cli = await runCli(['share', '/docs/report.txt', ...at]);
        expect(cli.code).toBe(0);
        expect(cli.stdout.trim()).toBe(fileShare.cap);
        const cliRefused = await runCli(['share', '/docs/report.txt', ...at, '--token', riverfs.adminToken()]);
        expect(cliRefused.code).toBe(5);
        expect(cliRefused.stdout).not.toContain('URI:');

        // Each share is an event in the log, without the cap.
        expect(riverfs.log).toMatch(/shared the read cap of inode \d+ \(\/docs\/report\.txt\)/);
        expect(riverfs.log).not.toContain(fileShare.cap);
        expect(riverfs.log).not.toContain(dirShare.cap);
      } finally {
        await riverfs.dispose();
      }
    });
  });
});
