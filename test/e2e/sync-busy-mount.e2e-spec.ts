import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { SyncQueueDto } from '../../src/admin/dto/sync.dto';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { adminGet } from '../support/admin-get.helper';
import { freshRootDircap } from '../support/tahoe.helper';
import { eventually } from '../support/tahoe-tree.helper';

const j = path.join;

/** Creates and removes files in the mount as fast as it can, printing a line every 200 rounds, until stdin closes. */
const BURST = `
import os, sys, threading
root = sys.argv[1]
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
rounds = 0
while not done.is_set():
    name = os.path.join(root, 'burst-%d' % (rounds % 50))
    os.close(os.open(name, os.O_CREAT | os.O_WRONLY, 0o644))
    os.unlink(name)
    rounds += 1
    if rounds % 200 == 0:
        print(rounds, flush=True)
`;

describe('background pushes on a busy mount', () => {
  it('should hold a closed file while applications keep the mount busy, and push it once they stop', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, {
        args: ['--root-cap', await freshRootDircap(), '--sync-delay', '0.2'],
      });
      try {
        const burst = spawn('python3', ['-c', BURST, mountpoint], { stdio: ['pipe', 'pipe', 'inherit'] });
        const exited = new Promise<number | null>((resolve) => burst.on('exit', resolve));
        const progress = readline.createInterface({ input: burst.stdout });
        try {
          let ino: number | undefined;
          let closedAt = 0;
          let looks = 0;
          for await (const line of progress) {
            const rounds = Number(line);
            if (ino === undefined) {
              // The burst runs: a file is closed in the middle of it.
              fs.writeFileSync(j(mountpoint, 'during.txt'), 'closed during the burst\n');
              fs.mkdirSync(j(mountpoint, 'made-during'));
              ino = (await adminGet<{ ino: number }>(riverfs, '/admin/inodes?path=/during.txt')).ino;
              closedAt = rounds;
              continue;
            }
            // 1,000 rounds (5,000 requests) take far longer than the 0.2 s after which the upload falls due.
            if (rounds < closedAt + 1000) {
              continue;
            }
            const queue = await adminGet<SyncQueueDto>(riverfs, '/admin/sync/queue?limit=1000');
            expect(queue.items.find((item) => item.ino === ino && item.kind === 'upload')?.state).toBe('pending');
            if (++looks === 3) {
              break;
            }
          }
          expect(looks).toBe(3);
        } finally {
          burst.stdin.end();
          progress.close();
        }
        expect(await exited).toBe(0);
        const quietSince = Date.now();

        // What the queue promises (the bench's drain relies on it): empty, with a scan of the journal begun since a
        // change, means the change is in Tahoe, namespace changes included.
        await eventually('an empty queue scanned since the burst', async () => {
          const queue = await adminGet<SyncQueueDto>(riverfs, '/admin/sync/queue?limit=10');
          return queue.total === 0 && queue.scannedAt !== null && Date.parse(queue.scannedAt) >= quietSince
            ? true
            : undefined;
        });
        for (const name of ['during.txt', 'made-during']) {
          const inode = await adminGet<{ sync: { state: string } }>(riverfs, `/admin/inodes?path=/${name}`);
          expect({ name, state: inode.sync.state }).toEqual({ name, state: 'synced' });
        }
      } finally {
        await riverfs.dispose();
      }
    });
  });
});
