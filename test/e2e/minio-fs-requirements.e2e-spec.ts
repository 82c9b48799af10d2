import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';

const run = promisify(execFile);
const CHECK = path.join(__dirname, '..', 'support', 'minio-fs-check.py');

/**
 * MinIO's server cannot be installed here; what it asks of the filesystem under its drive (O_DIRECT opens and
 * aligned writes, fallocate, fdatasync, O_EXCL, renames of files and directories into place, directory fsync,
 * small user.* xattrs, deletes walking up empty parents) is checked on the mount by test/support/minio-fs-check.py,
 * so that the day MinIO runs on RiverFS it finds what it needs. The same checks pass on a local directory.
 */
describe('MinIO filesystem requirements on the mount', () => {
  it('should meet every one, and keep the result across a restart', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint);
      try {
        const { stdout } = await run('python3', [CHECK, mountpoint], { timeout: 60_000 });
        expect(stdout).toContain('all MinIO filesystem requirements met');
        expect(stdout).not.toContain('FAIL');
        // What the checks left (the bucket directory, emptied) is in the database and in Tahoe after a restart.
        expect(await riverfs.stop()).toBe(0);
        await riverfs.start();
        const { stdout: listing } = await run('ls', ['-A', path.join(mountpoint, 'minio-check')]);
        expect(listing.split('\n').filter(Boolean).sort()).toEqual(['.minio.sys', 'bucket']);
      } finally {
        await riverfs.dispose();
      }
    });
  });
});
