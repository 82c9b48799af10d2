import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { InodeDto } from '../../src/admin/dto/inode.dto';
import { pollUntil } from '../../src/grid/process.util';
import {
  type CrashWriter,
  type WriterStep,
  promisedFiles,
  readJournal,
  startCrashWriter,
} from '../support/crash-writer.helper';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { glanceAtQueue } from '../support/sync-queue.helper';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { freshRootDircap, testGrid } from '../support/tahoe.helper';
import { eventually, tahoeTree, waitUntilTahoeMatchesMount } from '../support/tahoe-tree.helper';

const j = path.join;
const MiB = 1024 * 1024;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A writer's plan: a large file first (its upload is what the outage cuts), then small files and renames. */
function outagePlan(prefix: string, large: boolean): WriterStep[] {
  const steps: WriterStep[] = [
    { op: 'mkdir', path: `${prefix}/x` },
    { op: 'mkdir', path: `${prefix}/y` },
  ];
  if (large) {
    steps.push({ op: 'write', path: `${prefix}/x/large.bin`, size: 17 * MiB + 4321 });
  }
  for (let index = 0; index < 24; index += 1) {
    steps.push({ op: 'write', path: `${prefix}/${index % 2 === 0 ? 'x' : 'y'}/small-${index}`, size: index * 9_001 });
    if (index % 6 === 5) {
      steps.push({ op: 'rename', from: `${prefix}/x/small-${index - 1}`, to: `${prefix}/y/moved-${index - 1}` });
    }
  }
  return steps;
}

/** The sync state the admin API shows for the inode at a path. */
async function syncStateOf(riverfs: RiverFsProcess, relative: string): Promise<string | undefined> {
  const response = await fetch(`${riverfs.adminUrl}/admin/inodes?path=${encodeURIComponent(`/${relative}`)}`, {
    headers: { authorization: `Bearer ${riverfs.adminToken()}` },
  });
  return response.status === 200 ? ((await response.json()) as InodeDto).sync.state : undefined;
}

async function expectWriterDone(writer: CrashWriter): Promise<void> {
  const result = await writer.exited;
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
}

describe('upstream sync while the Tahoe client node is down', () => {
  it('should keep accepting writes and serving cached reads, then push everything once the node is back', async () => {
    const client = testTahoeClient();
    const grid = testGrid();
    try {
      await withTempMountpoint(async (mountpoint) => {
        const rootCap = await freshRootDircap();
        const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--root-cap', rootCap] });
        try {
          const before = randomBytes(200_000);
          fs.writeFileSync(j(mountpoint, 'before.bin'), before);
          await waitUntilTahoeMatchesMount(client, rootCap, mountpoint);

          const written = new Map<string, Buffer>();
          try {
            await grid.stopNode('client');
            fs.mkdirSync(j(mountpoint, 'during', 'deep'), { recursive: true });
            for (let index = 0; index < 6; index += 1) {
              const data = randomBytes(1000 + index * 50_000);
              fs.writeFileSync(j(mountpoint, 'during', 'deep', `file-${index}`), data);
              written.set(`during/deep/file-${index}`, data);
            }
            fs.renameSync(j(mountpoint, 'before.bin'), j(mountpoint, 'during', 'before-moved.bin'));
            fs.chmodSync(j(mountpoint, 'during'), 0o700);

            // The failing pushes show (in the log here; the sync state and the admin queue carry them too)...
            await eventually('a failed push reported', () =>
              Promise.resolve(/failed \(attempt \d+\), retrying/.test(riverfs.log) ? true : undefined),
            );
            // ...counted for Prometheus, and the waiting uploads say how much they have to send...
            const metrics = await (await fetch(`${riverfs.adminUrl}/metrics`)).text();
            const failures = [...metrics.matchAll(/^riverfs_sync_failures_total\{kind="\w+"\} (\d+)$/gm)];
            expect(failures.reduce((sum, match) => sum + Number(match[1]), 0)).toBeGreaterThan(0);
            const queue = (await (
              await fetch(`${riverfs.adminUrl}/admin/sync/queue?limit=100`, {
                headers: { authorization: `Bearer ${riverfs.adminToken()}` },
              })
            ).json()) as { items: { kind: string; bytes: number | null }[] };
            expect(queue.items.filter((item) => item.kind === 'upload').map((item) => item.bytes)).toContainEqual(
              expect.any(Number),
            );
            // ...while the mount goes on: cached reads, and more writes.
            expect(fs.readFileSync(j(mountpoint, 'during', 'before-moved.bin')).equals(before)).toBe(true);
            for (const [relative, data] of written) {
              expect(fs.readFileSync(j(mountpoint, relative)).equals(data)).toBe(true);
            }
            const late = randomBytes(77_777);
            fs.writeFileSync(j(mountpoint, 'during', 'late'), late);
            expect(fs.readFileSync(j(mountpoint, 'during', 'late')).equals(late)).toBe(true);
          } finally {
            // Whatever happened, the grid is whole again for the suites that follow.
            await grid.startNode('client');
            await grid.waitUntilHappy();
          }

          // Nobody touches RiverFS: its retries bring Tahoe up to date.
          await waitUntilTahoeMatchesMount(client, rootCap, mountpoint, 180_000);
        } finally {
          await riverfs.dispose();
        }
      });
    } finally {
      await client.close();
    }
  });

  it('should go on closing files across the moment the node stops, cutting an upload, and push them all once it is back', async () => {
    const client = testTahoeClient();
    const grid = testGrid();
    const scratch = fs.mkdtempSync(j(os.tmpdir(), 'riverfs-outage-'));
    const journalFile = j(scratch, 'journal.ndjson');
    const writers: CrashWriter[] = [];
    try {
      await withTempMountpoint(async (mountpoint) => {
        const rootCap = await freshRootDircap();
        const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--root-cap', rootCap] });
        try {
          // Writer 1, in a child process, writes and closes files while the node goes down under it.
          writers.push(startCrashWriter(mountpoint, journalFile, j(scratch, 'plan-1.json'), outagePlan('w1', true)));
          let uploadCut = false;
          try {
            // The large file is closed and its upload runs: stop the node now, in the middle of it (if the upload
            // already ended, the node stops while writer 1 goes on with the small files all the same).
            await pollUntil(
              async () => {
                if (
                  !readJournal(journalFile).some((entry) => entry.op === 'closed' && entry.path === 'w1/x/large.bin')
                ) {
                  return undefined;
                }
                uploadCut = (await glanceAtQueue(riverfs, 'w1/x/large.bin')).uploadRunning;
                return uploadCut || (await syncStateOf(riverfs, 'w1/x/large.bin')) === 'synced' ? true : undefined;
              },
              {
                timeoutMs: 120_000,
                intervalMs: 20,
                describeTimeout: () => 'the large file was not closed, or its upload never ran',
              },
            );
            await grid.stopNode('client');
            // Writer 2 starts with the node down: every one of its files is written and closed during the outage.
            writers.push(startCrashWriter(mountpoint, journalFile, j(scratch, 'plan-2.json'), outagePlan('w2', false)));
            for (const writer of writers) {
              await expectWriterDone(writer);
            }
            await eventually('a failed push waiting for its retry', async () =>
              (await glanceAtQueue(riverfs)).retrying ? true : undefined,
            );
            // Every closed file reads back from the cache with its bytes while the node is still down.
            const promised = promisedFiles(readJournal(journalFile));
            expect(promised.length).toBe(2 * 24 + 1);
            for (const file of promised) {
              expect(sha256(fs.readFileSync(j(mountpoint, file.paths[0])))).toBe(file.sha256);
            }
          } finally {
            await grid.startNode('client');
            await grid.waitUntilHappy();
          }

          // Nobody touches RiverFS: its retries bring Tahoe up to date.
          await waitUntilTahoeMatchesMount(client, rootCap, mountpoint, 180_000);
          const tree = await tahoeTree(client, rootCap);
          for (const file of promisedFiles(readJournal(journalFile))) {
            const node = tree.get(file.paths[0]);
            expect(node?.node.type).toBe('file');
            expect(sha256(await client.readAll(node!.cap))).toBe(file.sha256);
          }

          console.log(`node stopped ${uploadCut ? 'during' : 'after'} the large file's upload`);
        } finally {
          for (const writer of writers) {
            writer.child.kill('SIGKILL');
            await writer.exited;
          }
          await riverfs.dispose();
        }
      });
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
      await client.close();
    }
  }, 300_000);

  it('should mount without a reachable grid and create the root directory once the node is back', async () => {
    const client = testTahoeClient();
    const grid = testGrid();
    try {
      await withTempMountpoint(async (mountpoint) => {
        let riverfs: RiverFsProcess | undefined;
        try {
          const data = randomBytes(123_456);
          try {
            await grid.stopNode('client');
            // No root cap configured and none can be created now: the mount starts anyway.
            riverfs = await RiverFsProcess.start(mountpoint);
            fs.mkdirSync(j(mountpoint, 'offline'));
            fs.writeFileSync(j(mountpoint, 'offline', 'data.bin'), data);
            expect(fs.readFileSync(j(mountpoint, 'offline', 'data.bin')).equals(data)).toBe(true);
            expect(fs.existsSync(j(riverfs.dataDir, 'root-cap'))).toBe(false);
            expect(riverfs.log).toContain('No root directory yet and the grid could not create one');
          } finally {
            await grid.startNode('client');
            await grid.waitUntilHappy();
          }
          const capFile = j(riverfs.dataDir, 'root-cap');
          const rootCap = await eventually(
            'the root directory created',
            () => Promise.resolve(fs.existsSync(capFile) ? fs.readFileSync(capFile, 'utf8').trim() : undefined),
            120_000,
          );
          await waitUntilTahoeMatchesMount(client, rootCap, mountpoint, 180_000);
        } finally {
          await riverfs?.dispose();
        }
      });
    } finally {
      await client.close();
    }
  });
});
