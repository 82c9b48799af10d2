import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { freshRootDircap, testGrid } from '../support/tahoe.helper';
import { eventually, waitUntilTahoeMatchesMount } from '../support/tahoe-tree.helper';

const j = path.join;

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
