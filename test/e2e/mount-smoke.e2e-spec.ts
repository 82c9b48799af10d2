import fs from 'node:fs';
import path from 'node:path';
import { RiverFsProcess, isMounted, withTempMountpoint } from '../support/fuse-mount.helper';

describe('riverfs mount (smoke)', () => {
  it('should serve files written through the mount after a clean restart and after kill -9', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint);
      try {
        fs.mkdirSync(path.join(mountpoint, 'dir'));
        fs.writeFileSync(path.join(mountpoint, 'dir', 'hello.txt'), 'hello, grid\n');
        expect(fs.readFileSync(path.join(mountpoint, 'dir', 'hello.txt'), 'utf8')).toBe('hello, grid\n');
        expect(fs.statSync(path.join(mountpoint, 'dir', 'hello.txt')).size).toBe(12);

        expect(await riverfs.stop()).toBe(0);
        expect(await isMounted(mountpoint)).toBe(false);

        await riverfs.start();
        expect(fs.readFileSync(path.join(mountpoint, 'dir', 'hello.txt'), 'utf8')).toBe('hello, grid\n');
        const fd = fs.openSync(path.join(mountpoint, 'dir', 'synced'), 'w');
        fs.writeSync(fd, 'fsync makes me durable');
        fs.fsyncSync(fd);

        await riverfs.kill9();
        expect(() => fs.statSync(mountpoint)).toThrow(/ENOTCONN/);
        await riverfs.start();
        expect(fs.readFileSync(path.join(mountpoint, 'dir', 'synced'), 'utf8')).toBe('fsync makes me durable');
        // The descriptor belonged to the dead mount.
        expect(() => fs.closeSync(fd)).toThrow(/ENOTCONN/);
      } finally {
        await riverfs.dispose();
      }
    });
  });
});
