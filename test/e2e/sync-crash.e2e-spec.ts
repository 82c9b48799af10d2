import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RiverFsProcess, isMounted, withTempMountpoint } from '../support/fuse-mount.helper';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { freshRootDircap } from '../support/tahoe.helper';
import { tahoeTree, waitUntilTahoeMatchesMount } from '../support/tahoe-tree.helper';

const j = path.join;

/** A small tree of closed files, the last one closed just before the function returns. */
function writeTree(root: string, files: Map<string, Buffer>): void {
  fs.mkdirSync(j(root, 'a', 'b'), { recursive: true });
  fs.mkdirSync(j(root, 'c'));
  const put = (relative: string, data: Buffer): void => {
    fs.writeFileSync(j(root, relative), data);
    files.set(relative, data);
  };
  for (let index = 0; index < 8; index += 1) {
    put(`a/small-${index}`, randomBytes(10 + index * 1000));
  }
  put('a/b/three-mib', randomBytes(3 * 1024 * 1024));
  put('c/renamed-later', randomBytes(5000));
  fs.renameSync(j(root, 'c', 'renamed-later'), j(root, 'c', 'renamed'));
  files.set('c/renamed', files.get('c/renamed-later')!);
  files.delete('c/renamed-later');
  put('last-closed', randomBytes(20_000));
}

describe('upstream sync after a crash and at shutdown', () => {
  it('should push every closed file after kill -9 and a restart, leaving the Tahoe tree equal to the mount', async () => {
    const client = testTahoeClient();
    try {
      await withTempMountpoint(async (mountpoint) => {
        const rootCap = await freshRootDircap();
        const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--root-cap', rootCap] });
        try {
          const files = new Map<string, Buffer>();
          writeTree(mountpoint, files);
          await riverfs.kill9();

          // The crash came before the uploads finished: Tahoe lacks at least the file closed last.
          expect((await tahoeTree(client, rootCap)).has('last-closed')).toBe(false);

          await riverfs.start();
          await waitUntilTahoeMatchesMount(client, rootCap, mountpoint);
          const tree = await tahoeTree(client, rootCap);
          for (const [relative, data] of files) {
            const node = tree.get(relative);
            expect(node?.node.type).toBe('file');
            expect((await client.readAll(node!.cap)).equals(data)).toBe(true);
          }
        } finally {
          await riverfs.dispose();
        }
      });
    } finally {
      await client.close();
    }
  });

  it('should wait at SIGTERM until every closed file is in Tahoe', async () => {
    const client = testTahoeClient();
    try {
      await withTempMountpoint(async (mountpoint) => {
        const rootCap = await freshRootDircap();
        const riverfs = await RiverFsProcess.start(mountpoint, {
          args: ['--root-cap', rootCap, '--sync-drain-timeout', '50'],
        });
        try {
          const files = new Map<string, Buffer>();
          writeTree(mountpoint, files);
          expect(await riverfs.stop()).toBe(0);
          expect(await isMounted(mountpoint)).toBe(false);

          // The mount is gone and nothing restarts it: what is in Tahoe now is what the drain pushed.
          const tree = await tahoeTree(client, rootCap);
          for (const [relative, data] of files) {
            const node = tree.get(relative);
            expect(node?.node.type).toBe('file');
            expect((await client.readAll(node!.cap)).equals(data)).toBe(true);
          }
          expect([...tree.keys()].sort()).toEqual(
            [...new Set([...files.keys()].flatMap((relative) => ancestorsAndSelf(relative)))].sort(),
          );
        } finally {
          await riverfs.dispose();
        }
      });
    } finally {
      await client.close();
    }
  });
});

function ancestorsAndSelf(relative: string): string[] {
  const parts = relative.split('/');
  return parts.map((_, index) => parts.slice(0, index + 1).join('/'));
}
