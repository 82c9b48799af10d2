import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { findFreePort } from '../../src/grid/process.util';
import { openDataSource } from '../../src/metadata/data-source';
import { readLeaseHolder, tryAcquireLease } from '../../src/metadata/filesystem-lease';
import { isMounted, RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { createTestDatabase } from '../support/mariadb.helper';
import { freshRootDircap, testTahoeUrl } from '../support/tahoe.helper';
import { eventually } from '../support/tahoe-tree.helper';

const run = promisify(execFile);
/** The drain timeout these gateways get, and what the steps after it (closing connections) may add at most. */
const DRAIN_S = 3;
const CLOSING_SLACK_MS = 12_000;
/** Long enough that nothing written in a test is uploaded before its shutdown: it stays dirty until then. */
const NEVER = ['--sync-delay', '3600'];

/** The bytes Tahoe holds at `name` under the root directory `rootCap`, or undefined while it has none. */
async function tahoeFile(rootCap: string, name: string): Promise<Buffer | undefined> {
  const response = await request(`${testTahoeUrl()}/uri/${encodeURIComponent(rootCap)}/${name}`);
  const body = Buffer.from(await response.body.arrayBuffer());
  return response.statusCode === 200 ? body : undefined;
}

/** A Tahoe web-API URL nobody answers on: uploads fail (connection refused), so the drain cannot finish. */
async function deadTahoeUrl(): Promise<string> {
  return `http://127.0.0.1:${await findFreePort()}`;
}

async function withDataDir<T>(work: (dataDir: string) => Promise<T>): Promise<T> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-data-'));
  try {
    return await work(dataDir);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Sends SIGTERM and returns the exit code and how long the process took to exit, failing after `boundMs`. */
async function terminate(riverfs: RiverFsProcess, boundMs: number): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  riverfs.signal('SIGTERM');
  const code = await riverfs.waitExit(boundMs);
  return { code, ms: Date.now() - started };
}

describe('riverfs mount always exits (e2e)', () => {
  it('exits on SIGTERM within the drain timeout after its mount was removed with fusermount3 -u, and pushes the data left dirty at the next start', async () => {
    const rootCap = await freshRootDircap();
    const content = randomBytes(200_000);
    await withDataDir((dataDir) =>
      withTempMountpoint(async (mountpoint) => {
        // Tahoe unreachable for the first gateway: the file cannot leave before it exits.
        const first = await RiverFsProcess.start(mountpoint, {
          dataDir,
          args: [
            '--root-cap',
            rootCap,
            ...NEVER,
            '--sync-drain-timeout',
            String(DRAIN_S),
            '--tahoe-url',
            await deadTahoeUrl(),
          ],
        });
        try {
          fs.writeFileSync(path.join(mountpoint, 'kept.bin'), content);
          await run('fusermount3', ['-u', mountpoint]);
          const { code, ms } = await terminate(first, DRAIN_S * 1000 + CLOSING_SLACK_MS);
          expect(code).toBe(1);
          expect(ms).toBeLessThan(DRAIN_S * 1000 + CLOSING_SLACK_MS);
          expect(first.log).not.toContain('shutdown failed');
          expect(first.log).toMatch(/not in Tahoe/);
          expect(await isMounted(mountpoint)).toBe(false);
        } finally {
          await first.dispose();
        }
        expect(await tahoeFile(rootCap, 'kept.bin')).toBeUndefined();

        // The default sync delay: what a crash or a cut shutdown left dirty waits no longer than new writes would.
        const second = await RiverFsProcess.start(mountpoint, { dataDir, args: ['--root-cap', rootCap] });
        try {
          const pushed = await eventually('kept.bin pushed to Tahoe by the next start', () =>
            tahoeFile(rootCap, 'kept.bin'),
          );
          expect(pushed.equals(content)).toBe(true);
        } finally {
          await second.dispose();
        }
      }),
    );
  });

  it('shuts down by itself, pushing what is dirty (exit 0), when its mount is removed from outside with no signal', async () => {
    const content = randomBytes(100_000);
    await withDataDir((dataDir) =>
      withTempMountpoint(async (mountpoint) => {
        const riverfs = await RiverFsProcess.start(mountpoint, { dataDir, args: NEVER });
        try {
          fs.writeFileSync(path.join(mountpoint, 'left.bin'), content);
          await run('fusermount3', ['-u', mountpoint]);
          expect(await riverfs.waitExit(30_000)).toBe(0);
          expect(riverfs.log).toContain('removed from outside');
        } finally {
          await riverfs.dispose();
        }
        const rootCap = fs.readFileSync(path.join(dataDir, 'root-cap'), 'utf8').trim();
        expect((await tahoeFile(rootCap, 'left.bin'))?.equals(content)).toBe(true);
      }),
    );
  });

  it('stops by itself with exit code 1, pushing its own dirty files, when another gateway took its filesystem lease over', async () => {
    const database = await createTestDatabase('leaselost');
    const content = randomBytes(150_000);
    try {
      await withDataDir((dataDir) =>
        withTempMountpoint(async (mountpoint) => {
          const riverfs = await RiverFsProcess.start(mountpoint, {
            dataDir,
            db: database.url,
            args: [...NEVER, '--lease-ttl', '2'],
          });
          const other = await openDataSource(database.url);
          try {
            fs.writeFileSync(path.join(mountpoint, 'mine.bin'), content);
            // What a restart from the same data directory does while this gateway, hung for longer than its
            // lease, comes back: the lease is taken over at once.
            const dataDirId = fs.readFileSync(path.join(dataDir, 'gateway-id'), 'utf8').trim();
            const takeover = await tryAcquireLease(
              other,
              { dataDirId, host: os.hostname(), pid: 999_999, dataDir },
              { nowMs: Date.now(), ttlMs: 60_000 },
            );
            expect(takeover.acquired).toBe(true);
            expect(await riverfs.waitExit(30_000)).toBe(1);
            expect(riverfs.log).toContain('lost the filesystem lease');
            expect(await isMounted(mountpoint)).toBe(false);
            // Its stop left the new holder's lease alone.
            expect(await readLeaseHolder(other, Date.now())).toMatchObject({ pid: 999_999 });
          } finally {
            await other.destroy();
            await riverfs.dispose();
          }
          const rootCap = fs.readFileSync(path.join(dataDir, 'root-cap'), 'utf8').trim();
          expect((await tahoeFile(rootCap, 'mine.bin'))?.equals(content)).toBe(true);
        }),
      );
    } finally {
      await database.drop();
    }
  });

  it('exits on SIGTERM within the bound when its MariaDB database was dropped under it, unmounting', async () => {
    const database = await createTestDatabase('exits');
    try {
      await withDataDir((dataDir) =>
        withTempMountpoint(async (mountpoint) => {
          const riverfs = await RiverFsProcess.start(mountpoint, {
            dataDir,
            db: database.url,
            args: [...NEVER, '--sync-drain-timeout', String(DRAIN_S)],
          });
          try {
            fs.writeFileSync(path.join(mountpoint, 'lost-db.bin'), randomBytes(10_000));
            await database.drop();
            // As reported: the gateway already failing on every scan of the journal when the signal comes.
            await eventually('the gateway failing to scan its dropped database', () =>
              Promise.resolve(/Scanning the journal for dirty inodes failed/.test(riverfs.log) ? true : undefined),
            );
            const { code, ms } = await terminate(riverfs, DRAIN_S * 1000 + CLOSING_SLACK_MS);
            expect(code).toBe(1);
            expect(ms).toBeLessThan(DRAIN_S * 1000 + CLOSING_SLACK_MS);
            expect(await isMounted(mountpoint)).toBe(false);
          } finally {
            await riverfs.dispose();
          }
        }),
      );
    } finally {
      await database.drop();
    }
  });

  it('exits at once on a second SIGTERM while the drain waits, saying what is left and leaving no mount behind', async () => {
    const rootCap = await freshRootDircap();
    await withDataDir((dataDir) =>
      withTempMountpoint(async (mountpoint) => {
        const riverfs = await RiverFsProcess.start(mountpoint, {
          dataDir,
          args: [
            ...['--root-cap', rootCap, ...NEVER, '--sync-drain-timeout', '600', '--tahoe-url', await deadTahoeUrl()],
            // The drain's progress is logged at this level.
            ...['--log-level', 'log'],
          ],
        });
        try {
          fs.writeFileSync(path.join(mountpoint, 'waiting.bin'), randomBytes(10_000));
          riverfs.signal('SIGTERM');
          await eventually('the drain waiting for Tahoe', () =>
            Promise.resolve(/Waiting for .* to reach Tahoe/.test(riverfs.log) ? true : undefined),
          );
          const { code, ms } = await terminate(riverfs, 10_000);
          expect(code).toBe(1);
          expect(ms).toBeLessThan(5_000);
          expect(riverfs.log).toMatch(/SIGTERM again: exiting now, without waiting: \d+ item\(s\) not in Tahoe yet/);
          expect(await isMounted(mountpoint)).toBe(false);
        } finally {
          await riverfs.dispose();
        }
      }),
    );
  });
});
