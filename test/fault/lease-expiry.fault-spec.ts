import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import type { InodeDto } from '../../src/admin/dto/inode.dto';
import type { JobDto } from '../../src/admin/dto/job.dto';
import type { LeasesStatusDto } from '../../src/admin/dto/leases.dto';
import { LocalGrid } from '../../src/grid/local-grid';
import { pollUntil } from '../../src/grid/process.util';
import { FAST_LEASE_EXPIRY_ENV } from '../../src/grid/tahoe-venv';
import type { TahoeClient } from '../../src/tahoe/tahoe.client';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { tahoeProcessesUnder } from '../support/process.helper';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { testVenvDir } from '../support/test-grid';

/** What the storage node's lease crawler allows a lease to live (`expire.override_lease_duration`). */
const LEASE_SECONDS = 30;
/**
 * RiverFS's renewal interval: with the schedule's 10 s tick a cap's lease is renewed every ~10 s, well inside the
 * 30 s the crawler allows.
 */
const RENEWAL_SECONDS = 5;

/**
 * A grid of its own (one storage node, 1-of-1 shares) whose storage node collects garbage: leases older than
 * LEASE_SECONDS expire, and a share without a live lease is deleted. Tahoe's crawler waits 6 minutes before a first
 * pass and comes round twice a day; FAST_LEASE_EXPIRY_ENV turns on the test-only patches of the venv that make it
 * start after 1 s and come round every 2 s and that let the duration be given in seconds (src/grid/tahoe-venv.ts).
 */
function expiringGrid(gridDir: string): LocalGrid {
  return new LocalGrid({
    gridDir,
    venvDir: testVenvDir(),
    storageNodes: 1,
    sharesNeeded: 1,
    sharesHappy: 1,
    sharesTotal: 1,
    storageSettings: {
      'expire.enabled': 'true',
      'expire.mode': 'age',
      'expire.override_lease_duration': `${LEASE_SECONDS} seconds`,
    },
    nodeEnv: { [FAST_LEASE_EXPIRY_ENV]: '1' },
  });
}

/** Share files (named by their number) the storage node holds for a storage index. */
function sharesOnDisk(gridDir: string, storageIndex: string): string[] {
  const bucket = path.join(gridDir, 'storage1', 'storage', 'shares', storageIndex.slice(0, 2), storageIndex);
  return fs.existsSync(bucket) ? fs.readdirSync(bucket).filter((name) => /^\d+$/.test(name)) : [];
}

/** Start times (s since the epoch) of the lease crawler's finished cycles, from its history file. */
function finishedCrawlerCycles(gridDir: string): number[] {
  const file = path.join(gridDir, 'storage1', 'storage', 'lease_checker.history.json');
  if (!fs.existsSync(file)) {
    return [];
  }
  const history = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<
    string,
    { 'cycle-start-finish-times'?: [number, number] }
  >;
  return Object.values(history).flatMap((cycle) => cycle['cycle-start-finish-times']?.[0] ?? []);
}

describe('a grid whose storage node expires leases', () => {
  let gridDir: string;
  let grid: LocalGrid;

  beforeAll(async () => {
    gridDir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-lease-expiry-grid-'));
    grid = expiringGrid(gridDir);
    await grid.start();
  }, 150_000);

  afterAll(async () => {
    try {
      await grid.stop();
    } finally {
      // Whatever happened, no node of this grid outlives the suite.
      for (const pid of tahoeProcessesUnder(gridDir)) {
        process.kill(pid, 'SIGKILL');
      }
      fs.rmSync(gridDir, { recursive: true, force: true });
    }
  });

  it('should keep the files RiverFS renews and lose the one it no longer references', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, {
        tahoeUrl: grid.webUrl(),
        args: ['--tahoe-lease-renewal', String(RENEWAL_SECONDS), '--sync-delay', '0'],
      });
      let tahoe: TahoeClient | undefined;
      try {
        tahoe = testTahoeClient({ url: grid.webUrl() });
        const api = () => request(riverfs.adminUrl);
        const auth = { Authorization: `Bearer ${riverfs.adminToken()}` };
        const reveal = {
          Authorization: `Bearer ${fs.readFileSync(path.join(riverfs.dataDir, 'admin-reveal-token'), 'utf8').trim()}`,
        };
        const flush = async (): Promise<void> => {
          expect((await api().post('/admin/cache/flush').set(auth).send({ wait: true })).status).toBe(200);
        };
        const readCapOf = async (name: string): Promise<string> => {
          const inode = (await api().get('/admin/inodes').query({ path: name, reveal: true }).set(reveal))
            .body as InodeDto;
          expect(inode.caps.readCap).toMatch(/^URI:CHK:/);
          return inode.caps.readCap!;
        };

        // The kept files reach the grid first, so their upload leases are older than the dropped file's.
        const kept = new Map([
          ['/data/kept-1.bin', randomBytes(64 * 1024)],
          ['/data/kept-2.bin', randomBytes(4 * 1024)],
        ]);
        fs.mkdirSync(path.join(mountpoint, 'data'));
        for (const [name, content] of kept) {
          fs.writeFileSync(path.join(mountpoint, name), content);
        }
        await flush();
        fs.writeFileSync(path.join(mountpoint, 'data', 'dropped.bin'), randomBytes(16 * 1024));
        await flush();
        const keptCaps = new Map<string, string>();
        for (const name of kept.keys()) {
          keptCaps.set(name, await readCapOf(name));
        }
        const droppedCap = await readCapOf('/data/dropped.bin');
        const droppedIndex = (await tahoe.check(droppedCap)).storageIndex;
        expect(sharesOnDisk(gridDir, droppedIndex)).toHaveLength(1);

        // Deleted here, the file leaves the directory in Tahoe; its shares stay until their lease lapses.
        fs.rmSync(path.join(mountpoint, 'data', 'dropped.bin'));
        await flush();

        // A first renewal by hand (a new data directory's first scheduled run waits 10 minutes); the schedule
        // renews from then on.
        const renewal = await api().post('/admin/leases/renew').set(auth).send({ wait: true });
        expect(renewal.status).toBe(200);
        expect((renewal.body as JobDto).result).toMatchObject({ failed: 0 });
        const firstRenewalAt = Date.now();

        await pollUntil(() => (sharesOnDisk(gridDir, droppedIndex).length === 0 ? true : undefined), {
          timeoutMs: (LEASE_SECONDS + 60) * 1000,
          intervalMs: 500,
          describeTimeout: () => `the crawler never collected the dropped file's share (${droppedIndex})`,
        });
        const collectedAt = Date.now() / 1000;
        // A whole crawler cycle started after that: it looked at every kept share, older than the one collected.
        await pollUntil(
          () => (finishedCrawlerCycles(gridDir).some((start) => start > collectedAt) ? true : undefined),
          {
            timeoutMs: 30_000,
            intervalMs: 500,
            describeTimeout: () => `no lease crawler cycle finished after ${collectedAt}`,
          },
        );

        expect((await tahoe.check(droppedCap)).recoverable).toBe(false);
        for (const [name, content] of kept) {
          const cap = keptCaps.get(name)!;
          expect(sharesOnDisk(gridDir, (await tahoe.check(cap)).storageIndex)).toHaveLength(1);
          expect((await tahoe.readAll(cap)).equals(content)).toBe(true);
        }
        // The directories too (mutable: the root and /data), every cap under the root.
        const check = await api().post('/admin/check').set(auth).send({ deep: true, wait: true });
        expect(check.status).toBe(200);
        expect((check.body as JobDto).result).toMatchObject({ checked: 4, healthy: 4, unhealthy: 0 });
        // And it was the schedule that kept them alive after the first run.
        const leases = (await api().get('/admin/leases').set(auth)).body as LeasesStatusDto;
        expect(Date.parse(leases.lastCompleteAt!)).toBeGreaterThan(firstRenewalAt);
        expect(leases).toMatchObject({ lastCompleteRenewed: 4, lastCompleteFailed: 0 });
      } finally {
        await tahoe?.close();
        await riverfs.dispose();
      }
    });
  }, 150_000);
});
