import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import type { JobDto } from '../../src/admin/dto/job.dto';
import type { LeasesStatusDto } from '../../src/admin/dto/leases.dto';
import type { ChildSpec } from '../../src/tahoe/tahoe.types';
import { pollUntil } from '../../src/grid/process.util';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { freshRootDircap, testGridDir } from '../support/tahoe.helper';
import { testTahoeClient } from '../support/tahoe-fixtures';

const FILES = 1000;
/** Tahoe's lease duration: a renewal sets a share's lease to expire this long after it. */
const LEASE_SECONDS = 31 * 24 * 60 * 60;

/**
 * The latest lease expiry (Unix seconds) of every immutable share file on the test grid's storage nodes, by storage
 * index: read from the share files themselves (a share file: version, data length, lease count, then the data,
 * then the leases, 72 bytes each, the last 4 of which are the expiry time).
 */
function immutableLeaseExpiries(storageIndexes: Set<string>): Map<string, number[]> {
  const expiries = new Map<string, number[]>();
  for (const node of fs.readdirSync(testGridDir()).filter((name) => name.startsWith('storage'))) {
    const shares = path.join(testGridDir(), node, 'storage', 'shares');
    for (const si of storageIndexes) {
      const dir = path.join(shares, si.slice(0, 2), si);
      if (!fs.existsSync(dir)) {
        continue;
      }
      for (const shnum of fs.readdirSync(dir)) {
        const data = fs.readFileSync(path.join(dir, shnum));
        // Version 2 (Tahoe ≥ 1.17) stores the lease secrets hashed, in the same layout.
        expect([1, 2]).toContain(data.readUInt32BE(0));
        const leases = data.readUInt32BE(8);
        let latest = 0;
        for (let index = 0; index < leases; index += 1) {
          const end = data.length - index * 72;
          latest = Math.max(latest, data.readUInt32BE(end - 4));
        }
        expiries.set(si, [...(expiries.get(si) ?? []), latest]);
      }
    }
  }
  return expiries;
}

/** Runs `work` on `items` with at most `limit` at once. */
async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const item = items[next];
        next += 1;
        await work(item);
      }
    }),
  );
}

describe('Tahoe lease renewal through RiverFS', () => {
  it(`should renew every lease of a ${FILES}-file tree, resuming after a kill -9 without redoing the done part`, async () => {
    // The tree is made through the web API (much faster than through a mount); RiverFS then pulls it and renews.
    const tahoe = testTahoeClient();
    const root = await freshRootDircap();
    const children: Record<string, ChildSpec> = {};
    await inParallel(
      Array.from({ length: FILES }, (_, index) => index),
      8,
      async (index) => {
        const content = Buffer.from(
          `file ${index} of the lease renewal test, long enough for a CHK cap ${Date.now()}\n`,
        );
        const cap = await tahoe.upload(content, { length: content.length });
        children[`f${String(index).padStart(4, '0')}.txt`] = { type: 'file', roUri: cap };
      },
    );
    const dir = await tahoe.mkdirWithChildren(children);
    await tahoe.link(root, 'many', dir);
    const storageIndexes = new Set<string>();
    for await (const entry of tahoe.streamManifest(root)) {
      if (entry.type === 'file' && entry.storageIndex) {
        storageIndexes.add(entry.storageIndex);
      }
    }
    expect(storageIndexes.size).toBe(FILES);
    await tahoe.close();

    await withTempMountpoint(async (mountpoint) => {
      // No schedule: the runs below are the test's own.
      const args = ['--root-cap', root, '--tahoe-lease-renewal', '0'];
      const riverfs = await RiverFsProcess.start(mountpoint, { args });
      try {
        const auth = { Authorization: `Bearer ${riverfs.adminToken()}` };
        const api = () => request(riverfs.adminUrl);
        const pulled = await api()
          .post('/admin/sync')
          .set(auth)
          .send({ direction: 'pull', wait: true, waitSeconds: 600 });
        expect((pulled.body as JobDto).state).toBe('succeeded');
        expect(fs.readdirSync(path.join(mountpoint, 'many'))).toHaveLength(FILES);

        // Every upload's own lease expires before this second's renewal would: the uploads ended a second before.
        const renewalSecond = Math.ceil(Date.now() / 1000) + 1;
        await pollUntil(() => (Date.now() / 1000 >= renewalSecond ? true : undefined), {
          timeoutMs: 5_000,
          describeTimeout: () => 'the clock did not move',
        });
        const started = await api().post('/admin/leases/renew').set(auth).send({});
        expect(started.status).toBe(202);
        const midway = await pollUntil(
          async () => {
            const status = (await api().get('/admin/leases').set(auth)).body as LeasesStatusDto;
            return status.run !== null && status.run.renewed >= 300 ? status.run : undefined;
          },
          { timeoutMs: 120_000, intervalMs: 50, describeTimeout: () => 'the renewal did not reach 300 caps' },
        );
        await riverfs.kill9();
        expect(midway.renewed).toBeLessThan(FILES);

        await riverfs.start();
        const auth2 = { Authorization: `Bearer ${riverfs.adminToken()}` };
        const before = (await api().get('/admin/leases').set(auth2)).body as LeasesStatusDto;
        expect(before.run).not.toBeNull();
        const doneBeforeKill = before.run!.renewed + before.run!.failed;
        expect(doneBeforeKill).toBeGreaterThanOrEqual(midway.renewed);

        const resumed = await api().post('/admin/leases/renew').set(auth2).send({ wait: true, waitSeconds: 600 });
        expect(resumed.status).toBe(200);
        const job = resumed.body as JobDto;
        expect(job.state).toBe('succeeded');
        const result = job.result as {
          renewed: number;
          failed: number;
          resumed: boolean;
          renewedNow: number;
          doneBefore: number;
        };
        expect(result.resumed).toBe(true);
        expect(result.failed).toBe(0);
        expect(result.doneBefore).toBe(doneBeforeKill);
        // The root, the directory and the files: all renewed once over the two processes, the done part not again.
        expect(result.renewed).toBe(FILES + 2);
        expect(result.renewedNow).toBe(FILES + 2 - doneBeforeKill);

        const after = (await api().get('/admin/leases').set(auth2)).body as LeasesStatusDto;
        expect(after.run).toBeNull();
        expect(after.lastCompleteRenewed).toBe(FILES + 2);
        expect(after.lastCompleteFailed).toBe(0);
        const metrics = (await api().get('/metrics').set(auth2)).text;
        expect(metrics).toMatch(/^riverfs_tahoe_lease_last_complete_renewal_timestamp_seconds [1-9]/m);
        expect(metrics).toMatch(/^riverfs_tahoe_lease_renewals_total\{result="renewed"\} \d+/m);

        // Read back from the storage servers: every share of every file has a lease renewed by these runs.
        const expiries = immutableLeaseExpiries(storageIndexes);
        expect(expiries.size).toBe(FILES);
        for (const [si, latest] of expiries) {
          expect(latest.length).toBeGreaterThanOrEqual(3);
          for (const expiry of latest) {
            if (expiry < renewalSecond + LEASE_SECONDS) {
              throw new Error(
                `a share of ${si} has a lease expiring at ${expiry}, before ${renewalSecond + LEASE_SECONDS}`,
              );
            }
          }
        }
      } finally {
        await riverfs.dispose();
      }
    });
    // A thousand uploads, a pull, two renewal runs and a restart: well past the default on a loaded CI machine.
  }, 300_000);
});
