import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { InodeDto } from '../../src/admin/dto/inode.dto';
import { pollUntil } from '../../src/grid/process.util';
import { runCli } from '../support/cli.helper';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { freshRootDircap } from '../support/tahoe.helper';

/** A local port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function inodeAt(riverfs: RiverFsProcess, fsPath: string): Promise<InodeDto> {
  const response = await fetch(`${riverfs.adminUrl}/admin/inodes?path=${encodeURIComponent(fsPath)}`, {
    headers: { authorization: `Bearer ${riverfs.adminToken()}` },
  });
  if (response.status !== 200) {
    throw new Error(`GET /admin/inodes?path=${fsPath}: ${response.status} ${await response.text()}`);
  }
  return (await response.json()) as InodeDto;
}

/** Polls the inode view until `done` holds; the last view seen is in the timeout's message. */
async function inodeWhen(
  riverfs: RiverFsProcess,
  fsPath: string,
  done: (inode: InodeDto) => boolean,
  what: string,
): Promise<InodeDto> {
  let last: InodeDto | undefined;
  return pollUntil(
    async () => {
      last = await inodeAt(riverfs, fsPath);
      return done(last) ? last : undefined;
    },
    {
      timeoutMs: 90_000,
      intervalMs: 100,
      describeTimeout: () =>
        `${fsPath} never showed ${what}; last view: ${JSON.stringify(last?.sync)}\n${riverfs.log.slice(-3000)}`,
    },
  );
}

/**
 * `GET /admin/inodes` and `riverfs inode` on a real `riverfs mount` (SQLite, in-process state): the worker part comes
 * from the sync worker's queue, the failure count and last error from the inode's row, on a grid that refuses every
 * connection and then on the real one (the same data directory, restarted).
 */
describe('inode inspection of a mounted RiverFS shows the real sync state and last error', () => {
  it('should show a failing upload with its cause and tries, then idle with no error once pushed', async () => {
    const rootCap = await freshRootDircap();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-data-'));
    try {
      await withTempMountpoint(async (mountpoint) => {
        const deadAddress = `127.0.0.1:${await closedPort()}`;
        // The cause as the node's refusal names it.
        const refused = new RegExp(`ECONNREFUSED.*${deadAddress.replace(/\./g, '\\.')}`);
        const dead = await RiverFsProcess.start(mountpoint, {
          dataDir,
          tahoeUrl: `http://${deadAddress}`,
          // Nothing can reach Tahoe: the shutdown leaves the dirty file in the cache at once for the next start.
          args: ['--root-cap', rootCap, '--sync-drain-timeout', '0'],
        });
        const data = randomBytes(100_000);
        try {
          // More than a LIT cap holds: the upload needs the grid.
          fs.writeFileSync(path.join(mountpoint, 'doomed.bin'), data);

          const failing = await inodeWhen(
            dead,
            '/doomed.bin',
            (inode) => inode.sync.worker.state === 'failed' && inode.sync.tries >= 1,
            'a failed upload',
          );
          expect(failing.sync).toMatchObject({ state: 'failed', dataDirty: true });
          const upload = failing.sync.worker.tasks.find((task) => task.kind === 'upload');
          expect(upload).toMatchObject({ ino: failing.ino, state: 'failed', bytes: data.length });
          expect(upload!.tries).toBeGreaterThanOrEqual(1);
          // The cause: the refused connection to the node, named in the queue and on the inode alike.
          expect(upload!.lastError).toMatch(refused);
          expect(failing.sync.lastError).toMatch(refused);
          // A failed task waits out its backoff: it says when it tries again.
          expect(Date.parse(upload!.nextAttemptAt!)).toBeGreaterThanOrEqual(Date.parse(upload!.since));
          expect(JSON.stringify(failing)).not.toContain(rootCap);

          const table = await runCli(['inode', '/doomed.bin', '--url', dead.adminUrl, '--data-dir', dataDir]);
          expect({ code: table.code, stderr: table.stderr }).toEqual({ code: 0, stderr: '' });
          expect(table.stdout).toMatch(/^sync: +failed; dirty: data\b.* since \S+; \d+ failed attempts?$/m);
          expect(table.stdout).toMatch(/^worker: +upload failed \d+ times?, retry at \d{4}-\d\d-\d\dT/m);
          expect(table.stdout).toMatch(new RegExp(`^last error: +.*${refused.source}`, 'm'));
        } finally {
          await dead.dispose();
        }

        // The same data directory on the real grid: the dirty file is pushed, and the error goes with the failure.
        const healthy = await RiverFsProcess.start(mountpoint, { dataDir, args: ['--root-cap', rootCap] });
        try {
          const pushed = await inodeWhen(
            healthy,
            '/doomed.bin',
            (inode) => inode.sync.state === 'synced' && inode.sync.worker.state === 'idle',
            'synced and idle',
          );
          expect(pushed.sync).toMatchObject({
            dataDirty: false,
            tries: 0,
            lastError: null,
            worker: { state: 'idle', tasks: [] },
          });
          expect(pushed.caps.readCap).toMatch(/^URI:CHK:<redacted:/);
          expect(fs.readFileSync(path.join(mountpoint, 'doomed.bin')).equals(data)).toBe(true);

          const table = await runCli(['inode', '/doomed.bin', '--url', healthy.adminUrl, '--data-dir', dataDir]);
          expect(table.code).toBe(0);
          expect(table.stdout).toMatch(/^sync: +synced; nothing dirty$/m);
          expect(table.stdout).toMatch(/^worker: +idle \(nothing queued\)$/m);
          expect(table.stdout).not.toMatch(/^last error:/m);
        } finally {
          await healthy.dispose();
        }
      });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
