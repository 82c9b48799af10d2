import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RiverFsProcess, isMounted, withTempMountpoint } from '../support/fuse-mount.helper';
import { python, randomBytesFrom, seededRandom } from '../support/fs-probe.helper';
import { BACKENDS, type MountBackend, REDIS_DATABASES, backendResources } from '../support/mount-backends.helper';
import { durable, snapshotTree } from '../support/tree-snapshot.helper';

const j = path.join;
const MiB = 1024 * 1024;
/** A tree with every kind of thing a restart must keep: data of many sizes, holes, links, modes, times, xattrs. */
function buildTree(root: string, seed: number): void {
  const random = seededRandom(seed);
  fs.mkdirSync(j(root, 'docs', 'deep', 'deeper'), { recursive: true });
  fs.writeFileSync(j(root, 'empty'), '');
  fs.writeFileSync(j(root, 'tiny'), 'tiny');
  fs.writeFileSync(j(root, 'docs', 'lit'), randomBytesFrom(random, 55));
  fs.writeFileSync(j(root, 'docs', 'deep', 'block-and-a-bit'), randomBytesFrom(random, MiB + 17));
  fs.writeFileSync(j(root, 'docs', 'deep', 'deeper', 'three-mib'), randomBytesFrom(random, 3 * MiB));
  const sparse = fs.openSync(j(root, 'sparse'), 'w');
  fs.writeSync(sparse, 'end', 4 * MiB);
  fs.closeSync(sparse);
  fs.linkSync(j(root, 'tiny'), j(root, 'docs', 'tiny-link'));
  fs.symlinkSync('docs/deep', j(root, 'symlink'));
  fs.symlinkSync('/nowhere/at/all', j(root, 'dangling'));
  fs.chmodSync(j(root, 'docs', 'lit'), 0o4750);
  fs.chownSync(j(root, 'docs', 'lit'), 1234, 4321);
  fs.mkdirSync(j(root, 'sticky'), 0o755);
  fs.chmodSync(j(root, 'sticky'), 0o1777);
  python('import os, sys; os.mkfifo(os.path.join(sys.argv[1], "fifo")); print(1)', [root]);
  python(
    'import os, sys; os.setxattr(os.path.join(sys.argv[1], "tiny"), "user.note", bytes(range(100))); os.setxattr(os.path.join(sys.argv[1], "docs"), "user.dir", b"d"); print(1)',
    [root],
  );
  python(
    'import os, sys; os.utime(os.path.join(sys.argv[1], "empty"), ns=(1_234_567_890_123_456_789, 987_654_321_987_654_321)); print(1)',
    [root],
  );
}

/** A mount of its own (mountpoint, data directory, database) for one test; everything is removed afterwards. */
async function withOwnMount(
  backend: MountBackend,
  work: (mountpoint: string, riverfs: RiverFsProcess) => Promise<void>,
): Promise<void> {
  const resources = await backendResources(backend, `restart${backend.kind}`, REDIS_DATABASES.restart);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-data-'));
  try {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, { ...resources.options, dataDir });
      try {
        await work(mountpoint, riverfs);
      } finally {
        await riverfs.dispose();
      }
    });
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
    await resources.release();
  }
}

describe.each(BACKENDS)('RiverFS restarted on $title', (backend) => {
  it('should keep every closed file after a clean stop and every closed file and fsync’d byte after kill -9', async () => {
    await withOwnMount(backend, async (mountpoint, riverfs) => {
      buildTree(mountpoint, 1);
      const beforeStop = snapshotTree(mountpoint);
      expect(beforeStop.length).toBe(14);

      expect(await riverfs.stop()).toBe(0);
      expect(await isMounted(mountpoint)).toBe(false);
      await riverfs.start();
      expect(durable(snapshotTree(mountpoint))).toEqual(durable(beforeStop));

      // Changes of every kind, then a crash with one file open: fsync'd, then written some more.
      fs.writeFileSync(j(mountpoint, 'docs', 'after-restart'), randomBytesFrom(seededRandom(2), 2 * MiB + 5));
      fs.renameSync(j(mountpoint, 'docs', 'lit'), j(mountpoint, 'lit-moved'));
      fs.unlinkSync(j(mountpoint, 'docs', 'tiny-link'));
      fs.rmdirSync(j(mountpoint, 'sticky'));
      fs.truncateSync(j(mountpoint, 'docs', 'deep', 'deeper', 'three-mib'), MiB + 3);
      const overwritten = fs.openSync(j(mountpoint, 'docs', 'deep', 'block-and-a-bit'), 'r+');
      fs.writeSync(overwritten, Buffer.alloc(1000, 0x5a), 0, 1000, MiB - 500);
      fs.closeSync(overwritten);
      const synced = randomBytesFrom(seededRandom(3), MiB + 100);
      const open = fs.openSync(j(mountpoint, 'open-at-crash'), 'w');
      fs.writeSync(open, synced);
      fs.fsyncSync(open);
      fs.writeSync(open, 'written after the fsync');
      const closedState = snapshotTree(mountpoint, ['open-at-crash']);

      await riverfs.kill9();
      await riverfs.start();

      expect(durable(snapshotTree(mountpoint, ['open-at-crash']))).toEqual(durable(closedState));
      const afterCrash = fs.readFileSync(j(mountpoint, 'open-at-crash'));
      expect(afterCrash.length).toBeGreaterThanOrEqual(synced.length);
      expect(afterCrash.subarray(0, synced.length).equals(synced)).toBe(true);
      expect(() => fs.closeSync(open)).toThrow(/ENOTCONN|EBADF/);
      // And the filesystem works as before.
      fs.writeFileSync(j(mountpoint, 'after-crash'), 'still writable');
      expect(fs.readFileSync(j(mountpoint, 'after-crash'), 'utf8')).toBe('still writable');
    });
  });

  it('should not bring back, after kill -9, a file that was unlinked while open', async () => {
    await withOwnMount(backend, async (mountpoint, riverfs) => {
      fs.mkdirSync(j(mountpoint, 'dir'));
      fs.writeFileSync(j(mountpoint, 'dir', 'doomed'), 'gone soon');
      const fd = fs.openSync(j(mountpoint, 'dir', 'doomed'), 'r');
      fs.unlinkSync(j(mountpoint, 'dir', 'doomed'));

      await riverfs.kill9();
      // A read-only descriptor closes without asking the gateway anything (no flush): it succeeds, as on a local disk.
      expect(() => fs.closeSync(fd)).not.toThrow();
      await riverfs.start();

      expect(fs.readdirSync(j(mountpoint, 'dir'))).toEqual([]);
      fs.rmdirSync(j(mountpoint, 'dir'));
      expect(fs.readdirSync(mountpoint)).toEqual([]);
    });
  });
});
