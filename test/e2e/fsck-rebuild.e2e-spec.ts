import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli.helper';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { freshRootDircap, testTahoeUrl } from '../support/tahoe.helper';
import { waitUntilTahoeMatchesMount } from '../support/tahoe-tree.helper';
import { durable, snapshotTree } from '../support/tree-snapshot.helper';

const j = path.join;

/** A tree with every kind of thing the edge metadata carries. */
function writeTree(root: string): void {
  fs.mkdirSync(j(root, 'docs', 'deep', 'deeper'), { recursive: true });
  fs.writeFileSync(j(root, 'docs', 'a.txt'), 'alpha\n');
  fs.writeFileSync(j(root, 'docs', 'deep', 'big.bin'), randomBytes(2 * 1024 * 1024 + 5));
  fs.writeFileSync(j(root, 'docs', 'deep', 'deeper', 'empty'), '');
  fs.writeFileSync(j(root, 'private'), 'secret');
  fs.chmodSync(j(root, 'private'), 0o600);
  fs.chmodSync(j(root, 'docs', 'deep'), 0o750);
  fs.chownSync(j(root, 'docs', 'a.txt'), 1234, 5678);
  fs.symlinkSync('docs/a.txt', j(root, 'link-to-a'));
  fs.linkSync(j(root, 'docs', 'a.txt'), j(root, 'hard-a'));
  execFileSync('mkfifo', [j(root, 'pipe')]);
  execFileSync('python3', [
    '-c',
    'import os, sys; os.setxattr(sys.argv[1], "user.colour", b"blue")',
    j(root, 'docs', 'a.txt'),
  ]);
  // Times to the nanosecond, set last (after every change of the file).
  execFileSync('touch', ['-h', '-d', '2001-02-03 04:05:06.123456789', j(root, 'private')]);
}

describe('riverfs fsck', () => {
  const client = testTahoeClient();

  afterAll(async () => {
    await client.close();
  });

  it('should find no difference after a sync, name remote changes, and rebuild a lost database from Tahoe', async () => {
    const rootCap = await freshRootDircap();
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--root-cap', rootCap] });
      const common = ['--data-dir', riverfs.dataDir, '--tahoe-url', testTahoeUrl(), '--root-cap', rootCap];
      try {
        writeTree(mountpoint);
        await waitUntilTahoeMatchesMount(client, rootCap, mountpoint);
        const before = snapshotTree(mountpoint);
        expect(await riverfs.stop()).toBe(0);

        const clean = await runCli(['fsck', ...common]);
        expect(clean.stderr).toBe('');
        expect(clean.stdout).toMatch(/ 0 difference\(s\), 0 entries with changes not pushed yet/);
        expect(clean.code).toBe(0);

        // Another client adds a file: fsck names it and fails (exit 1) until a pull takes it in.
        await client.link(rootCap, 'from-elsewhere', await client.upload(Buffer.from('hi')));
        const changed = await runCli(['fsck', ...common, '--json']);
        expect(changed.code).toBe(1);
        const report = JSON.parse(changed.stdout) as { differences: { path: string; kind: string }[] };
        expect(report.differences).toEqual([
          expect.objectContaining({ path: '/from-elsewhere', kind: 'only-in-tahoe' }),
        ]);
        await client.unlink(rootCap, 'from-elsewhere');

        // The database is lost.
        for (const name of fs.readdirSync(riverfs.dataDir).filter((file) => file.startsWith('riverfs.sqlite'))) {
          fs.rmSync(j(riverfs.dataDir, name));
        }
        const rebuiltRun = await runCli(['fsck', '--rebuild', ...common]);
        expect(rebuiltRun.stderr).not.toMatch(/error/i);
        expect(rebuiltRun.stdout).toMatch(/^Rebuilt the metadata database from Tahoe: 4 directories, 10 entries/);
        expect(rebuiltRun.code).toBe(0);
        // A second rebuild does not replace a database that holds a filesystem unless told to.
        const refused = await runCli(['fsck', '--rebuild', ...common]);
        expect(refused.code).toBe(2);
        expect(refused.stderr).toMatch(/--rebuild --force moves it aside/);

        await riverfs.start();
        // Nor, even with --force, one that a live mount holds (its filesystem lease), which it names.
        const whileMounted = await runCli(['fsck', '--rebuild', '--force', ...common]);
        expect(whileMounted.code).toBe(2);
        expect(whileMounted.stderr).toContain(
          `holds this database's filesystem lease (host ${os.hostname()}, pid ${riverfs.pid}, data directory ${riverfs.dataDir}`,
        );
        expect(durable(snapshotTree(mountpoint))).toEqual(durable(before));
        expect(fs.readFileSync(j(mountpoint, 'hard-a'), 'utf8')).toBe('alpha\n');
      } finally {
        await riverfs.dispose();
      }
    });
  }, 300_000);
});
