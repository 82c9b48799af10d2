import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import type { InodeDto } from '../../src/admin/dto/inode.dto';
import type { JobDto } from '../../src/admin/dto/job.dto';
import type { InodeCheck } from '../../src/lifecycle/tahoe-check.service';
import { pollUntil } from '../../src/grid/process.util';
import { runCli } from '../support/cli.helper';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { testGridDir } from '../support/tahoe.helper';
import { testTahoeClient } from '../support/tahoe-fixtures';

interface CheckResult {
  checked: number;
  healthy: number;
  unhealthy: number;
  unrecoverable: number;
  repaired: number;
  items: ({ ino: number } & InodeCheck)[];
}

describe('riverfs check and repair against the local grid', () => {
  it('should find a file whose shares a storage node lost unhealthy, and repair it', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint);
      const tahoe = testTahoeClient();
      try {
        const api = () => request(riverfs.adminUrl);
        const auth = { Authorization: `Bearer ${riverfs.adminToken()}` };
        const at = () => ['--url', riverfs.adminUrl, '--data-dir', riverfs.dataDir];
        const revealToken = fs.readFileSync(path.join(riverfs.dataDir, 'admin-reveal-token'), 'utf8').trim();
        const content = randomBytes(64 * 1024);
        fs.mkdirSync(path.join(mountpoint, 'data'));
        fs.writeFileSync(path.join(mountpoint, 'data', 'a.bin'), content);
        fs.writeFileSync(
          path.join(mountpoint, 'data', 'b.txt'),
          'a second file, long enough to be a CHK file, which keeps all its shares throughout\n',
        );
        expect((await api().post('/admin/cache/flush').set(auth).send({ wait: true })).status).toBe(200);

        const check = async (body: Record<string, unknown>): Promise<CheckResult> => {
          const answer = await api()
            .post('/admin/check')
            .set(auth)
            .send({ ...body, wait: true });
          expect(answer.status).toBe(200);
          const job = answer.body as JobDto;
          expect(job.state).toBe('succeeded');
          return job.result as unknown as CheckResult;
        };
        const healthy = await check({ path: '/data', deep: true });
        expect(healthy).toMatchObject({ checked: 3, healthy: 3, unhealthy: 0 });

        // One storage node loses its share of a.bin (as when a disk dies).
        const inode = (
          await api()
            .get('/admin/inodes')
            .query({ path: '/data/a.bin', reveal: true })
            .set({
              Authorization: `Bearer ${revealToken}`,
            })
        ).body as InodeDto;
        const { storageIndex } = await tahoe.check(inode.caps.readCap!);
        const lost = path.join(testGridDir(), 'storage1', 'storage', 'shares', storageIndex.slice(0, 2), storageIndex);
        expect(fs.existsSync(lost)).toBe(true);
        fs.rmSync(lost, { recursive: true });

        const unhealthy = await check({ path: '/data', deep: true });
        expect(unhealthy).toMatchObject({ checked: 3, healthy: 2, unhealthy: 1, unrecoverable: 0, repaired: 0 });
        expect(unhealthy.items[0]).toMatchObject({
          ino: inode.ino,
          healthy: false,
          recoverable: true,
          sharesGood: 2,
          sharesNeeded: 2,
          sharesExpected: 3,
          servers: 2,
        });
        const inspected = (await api().get(`/admin/inodes/${inode.ino}`).set(auth)).body as InodeDto;
        expect(inspected.check).toMatchObject({ healthy: false, sharesGood: 2 });
        const metrics = (await api().get('/metrics').set(auth)).text;
        expect(metrics).toMatch(/^riverfs_tahoe_checked_caps\{state="unhealthy"\} 1$/m);

        const cliUnhealthy = await runCli(['check', '/data/a.bin', ...at()]);
        expect(cliUnhealthy.code).toBe(1);

        // The results are kept in the database: a restarted gateway still knows, before any new check.
        const beforeRestart = (await api().get(`/admin/inodes/${inode.ino}`).set(auth)).body as InodeDto;
        expect(beforeRestart.check).toMatchObject({ healthy: false, sharesGood: 2 });
        expect(await riverfs.stop()).toBe(0);
        await riverfs.start();
        const reinspected = (await api().get('/admin/inodes').query({ path: '/data/a.bin' }).set(auth))
          .body as InodeDto;
        expect(reinspected.check).toEqual(beforeRestart.check);
        expect((await api().get('/admin/check').set(auth)).body).toEqual({
          unhealthy: 1,
          unrecoverable: 0,
          checked: 3,
        });
        expect((await api().get('/metrics').set(auth)).text).toMatch(
          /^riverfs_tahoe_checked_caps\{state="unhealthy"\} 1$/m,
        );
        const cliInode = await runCli(['inode', '/data/a.bin', ...at()]);
        expect(cliInode.code).toBe(0);
        expect(cliInode.stdout).toMatch(/check: +unhealthy \(recoverable\): 2 shares \(2 needed of 3\) on 2 servers/);

        const repaired = await check({ path: '/data/a.bin', repair: true });
        expect(repaired).toMatchObject({ checked: 1, healthy: 1, repaired: 1 });
        expect(repaired.items[0]).toMatchObject({ healthy: true, sharesGood: 3 });
        expect(fs.existsSync(lost)).toBe(true);
        const repairedInode = (await api().get(`/admin/inodes/${inode.ino}`).set(auth)).body as InodeDto;
        expect(repairedInode.check).toMatchObject({ healthy: true, repaired: true, sharesGood: 3 });

        const cliHealthy = await runCli(['check', '/data', '--deep', ...at()]);
        expect(cliHealthy.code).toBe(0);
        expect(cliHealthy.stdout).toMatch(/3 healthy/);
        expect((await tahoe.readAll(inode.caps.readCap!)).equals(content)).toBe(true);
        const after = (await api().get('/metrics').set(auth)).text;
        expect(after).toMatch(/^riverfs_tahoe_checked_caps\{state="unhealthy"\} 0$/m);
      } finally {
        await tahoe.close();
        await riverfs.dispose();
      }
    });
  });
  it('should repair on its own schedule, as a check job, when told to', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, {
        args: ['--tahoe-check-interval', '2', '--tahoe-check-repair', 'true'],
      });
      const tahoe = testTahoeClient();
      try {
        const api = () => request(riverfs.adminUrl);
        const auth = { Authorization: `Bearer ${riverfs.adminToken()}` };
        const revealToken = fs.readFileSync(path.join(riverfs.dataDir, 'admin-reveal-token'), 'utf8').trim();
        fs.writeFileSync(path.join(mountpoint, 'c.bin'), randomBytes(32 * 1024));
        expect((await api().post('/admin/cache/flush').set(auth).send({ wait: true })).status).toBe(200);
        const inode = (
          await api()
            .get('/admin/inodes')
            .query({ path: '/c.bin', reveal: true })
            .set({ Authorization: `Bearer ${revealToken}` })
        ).body as InodeDto;
        const { storageIndex } = await tahoe.check(inode.caps.readCap!);
        const lost = path.join(testGridDir(), 'storage2', 'storage', 'shares', storageIndex.slice(0, 2), storageIndex);
        fs.rmSync(lost, { recursive: true });

        // Nobody asks: the scheduled deep check (every 2 s) finds the share missing and puts it back.
        await pollUntil(() => (fs.existsSync(lost) ? true : undefined), {
          timeoutMs: 60_000,
          intervalMs: 250,
          describeTimeout: () => `the scheduled check never repaired c.bin:\n${riverfs.log}`,
        });
        // The share is back before the job that put it there has recorded its end: wait for that record.
        const repairing = await pollUntil(
          async () => {
            const jobs = (await api().get('/admin/jobs').query({ kind: 'check' }).set(auth)).body as JobDto[];
            return jobs.find(
              (job) => job.params.scheduled === true && job.state === 'succeeded' && Number(job.result?.repaired) > 0,
            );
          },
          { timeoutMs: 30_000, intervalMs: 100, describeTimeout: () => 'no scheduled check job ended with a repair' },
        );
        expect(repairing.params).toMatchObject({ ino: 1, deep: true, repair: true });
        expect((await tahoe.check(inode.caps.readCap!)).healthy).toBe(true);
      } finally {
        await tahoe.close();
        await riverfs.dispose();
      }
    });
  });
});
