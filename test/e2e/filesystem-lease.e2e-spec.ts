import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { adminGet } from '../support/admin-get.helper';
import { randomBytesFrom, seededRandom } from '../support/fs-probe.helper';
import { MARIADB_BACKEND, REDIS_DATABASES, backendResources } from '../support/mount-backends.helper';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { freshRootDircap } from '../support/tahoe.helper';
import { eventually, tahoeTree } from '../support/tahoe-tree.helper';
import { pollUntil } from '../../src/grid/process.util';

const j = path.join;
const FILES = 50;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `riverfs mount` that must not mount: its exit code and output (RiverFsProcess.start reports both in its error). */
async function refusedStart(
  mountpoint: string,
  options: Parameters<typeof RiverFsProcess.start>[1],
): Promise<{ code: number; output: string }> {
  let riverfs: RiverFsProcess | undefined;
  try {
    riverfs = await RiverFsProcess.start(mountpoint, options);
  } catch (error) {
    const match = /exited with (\d+) before mounting:\n([\s\S]*)$/.exec((error as Error).message);
    if (match === null) {
      throw error;
    }
    return { code: Number(match[1]), output: match[2] };
  }
  await riverfs.dispose();
  throw new Error('riverfs mount mounted although another gateway holds the lease');
}

describe('one gateway per database (filesystem lease), on MariaDB + Redis', () => {
  it('should refuse a second gateway naming the holder, let a restart from the same data directory in at once and another only after expiry, and never upload another cache’s dirty data', async () => {
    const client = testTahoeClient();
    const resources = await backendResources(MARIADB_BACKEND, 'lease', REDIS_DATABASES.lease);
    const dataDirA = fs.mkdtempSync(j(os.tmpdir(), 'riverfs-lease-a-'));
    const dataDirB = fs.mkdtempSync(j(os.tmpdir(), 'riverfs-lease-b-'));
    const running: RiverFsProcess[] = [];
    try {
      const rootCap = await freshRootDircap();
      await withTempMountpoint(async (mountA) => {
        await withTempMountpoint(async (mountB) => {
          const gateway = async (mountpoint: string, dataDir: string, args: string[]): Promise<RiverFsProcess> => {
            const riverfs = await RiverFsProcess.start(mountpoint, {
              ...resources.options,
              dataDir,
              args: ['--root-cap', rootCap, ...args],
            });
            running.push(riverfs);
            return riverfs;
          };
          const optionsB = { ...resources.options, dataDir: dataDirB, args: ['--root-cap', rootCap] };

          // A writes 50 files and holds them back (a long sync delay): their only copy is A's cache.
          const a1 = await gateway(mountA, dataDirA, ['--sync-delay', '600', '--lease-ttl', '30']);
          const random = seededRandom(12);
          const written = new Map<string, string>();
          for (let index = 0; index < FILES; index += 1) {
            const size = index % 25 === 0 ? 1024 * 1024 + index : Math.floor(random() * 100_000);
            const data = randomBytesFrom(random, size);
            fs.writeFileSync(j(mountA, `file-${index}`), data);
            written.set(`file-${index}`, sha256(data));
          }

          const holderNamed = (output: string, pid: number | undefined): void => {
            expect(output).toContain('mounted by another gateway');
            expect(output).toContain(`host ${os.hostname()}`);
            expect(output).toContain(`pid ${pid}`);
            expect(output).toContain(`data directory ${dataDirA}`);
            expect(output).toMatch(/since \d{4}-\d\d-\d\dT/);
          };
          const whileLive = await refusedStart(mountB, optionsB);
          expect(whileLive.code).toBe(2);
          holderNamed(whileLive.output, a1.pid);

          // Nor does a second live process started from A's own data directory (the takeover is for restarts).
          const sameDirectory = await refusedStart(mountB, { ...optionsB, dataDir: dataDirA });
          expect(sameDirectory.code).toBe(2);
          holderNamed(sameDirectory.output, a1.pid);

          // A crashes: its lease outlives it for other data directories...
          const pidA1 = a1.pid;
          await a1.kill9();
          const afterCrash = await refusedStart(mountB, optionsB);
          expect(afterCrash.code).toBe(2);
          holderNamed(afterCrash.output, pidA1);

          // ...but not for a restart from A's data directory, which holds the files back again and dies with a 10 s lease.
          const killedAt = Date.now();
          const a2 = await gateway(mountA, dataDirA, ['--sync-delay', '600', '--lease-ttl', '10']);
          expect(Date.now() - killedAt).toBeLessThan(30_000);
          expect(fs.readFileSync(j(mountA, 'file-1')).length).toBeGreaterThan(0);
          await a2.kill9();
          const a2KilledAt = Date.now();

          // B gets in only once A's lease expired (10 s after A's last heartbeat, at most 2.5 s before the kill).
          let attempts = 0;
          const b = await pollUntil(
            async () => {
              attempts += 1;
              try {
                return await gateway(mountB, dataDirB, []);
              } catch (error) {
                expect((error as Error).message).toContain('exited with 2 before mounting');
                return undefined;
              }
            },
            { timeoutMs: 60_000, intervalMs: 500, describeTimeout: () => 'B never mounted after A’s lease expired' },
          );
          expect(attempts).toBeGreaterThan(1);
          expect(Date.now() - a2KilledAt).toBeGreaterThanOrEqual(10_000 - 2_500);

          // B sees A's unsynced files but refuses to upload them from its own (empty) cache: none reaches Tahoe.
          type QueueItem = { ino: number; kind: string; lastError: string | null };
          const refused = await eventually('B’s refusals of A’s dirty files in its sync queue', async () => {
            const { items } = await adminGet<{ items: QueueItem[] }>(b, '/admin/sync/queue?limit=1000');
            const failed = items.filter((item) => item.kind === 'upload' && item.lastError !== null);
            return failed.length >= 10 ? failed : undefined;
          });
          for (const item of refused) {
            expect(item.lastError).toContain('not in this one');
          }
          const treeWithB = await tahoeTree(client, rootCap);
          expect([...written.keys()].filter((name) => treeWithB.has(name))).toEqual([]);
          // B's stop does not wait out its 60 s drain for uploads only A can make; it says they are left (exit 1).
          const stoppingAt = Date.now();
          expect(await b.stop()).toBe(1);
          expect(Date.now() - stoppingAt).toBeLessThan(45_000);

          // A, back (which B's clean stop allowed at once: B's own lease had 60 s to run), uploads every file from
          // the cache that holds it.
          await gateway(mountA, dataDirA, ['--lease-ttl', '30']);
          await eventually(
            `${FILES} files in Tahoe with the bytes written`,
            async () => {
              const tree = await tahoeTree(client, rootCap);
              for (const [name, hash] of written) {
                const node = tree.get(name);
                if (node?.node.type !== 'file' || sha256(await client.readAll(node.cap)) !== hash) {
                  return undefined;
                }
              }
              return true;
            },
            180_000,
          );
        });
      });
    } finally {
      for (const riverfs of running.reverse()) {
        await riverfs.dispose();
      }
      fs.rmSync(dataDirA, { recursive: true, force: true });
      fs.rmSync(dataDirB, { recursive: true, force: true });
      await resources.release();
    }
  }, 300_000);
});
