import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { RUNTIME_FILE } from '../../src/cli/mount-runtime';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';

const run = promisify(execFile);
const BIN = path.join(__dirname, '..', '..', 'bin', 'riverfs.js');

/** The CLI as a new user runs it: no --url, no --data-dir, no RIVERFS_* variables; the exit code and output. */
async function riverfs(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('RIVERFS_')));
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { cwd, env, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('the CLI finds a running mount from the mount itself (the first hour)', () => {
  it('should reach the mount from a path inside it, and speak in words and the right cap names', async () => {
    await withTempMountpoint(async (mountpoint) => {
      // Port 0: the listen setting cannot tell the CLI where the admin API is; only the runtime file can.
      const gateway = await RiverFsProcess.start(mountpoint);
      try {
        const runtimeFile = path.join(gateway.dataDir, RUNTIME_FILE);
        expect(fs.statSync(runtimeFile).mode & 0o777).toBe(0o600);
        fs.mkdirSync(path.join(mountpoint, 'docs'));
        fs.writeFileSync(path.join(mountpoint, 'docs', 'a.txt'), 'x'.repeat(100));

        const flushed = await riverfs(['flush', path.join(mountpoint, 'docs', 'a.txt')], '/');
        expect(flushed).toMatchObject({ code: 0 });
        expect(flushed.stdout).toMatch(/^flush succeeded/m);

        // From inside the mount, with a relative path.
        const inode = await riverfs(['inode', 'docs/a.txt'], mountpoint);
        expect(inode).toMatchObject({ code: 0 });
        expect(inode.stdout).toMatch(/^read cap: +URI:CHK:<redacted:/m);
        expect(inode.stdout).not.toMatch(/write cap/);

        const root = await riverfs(['inode', mountpoint], '/');
        expect(root.stdout).toMatch(/^write cap: +URI:DIR2(-MDMF)?:<redacted:/m);
        expect(root.stdout).toMatch(/^read cap: +URI:DIR2(-MDMF)?-RO:<redacted:/m);

        const synced = await riverfs(['sync', '--wait'], path.join(mountpoint, 'docs'));
        expect(synced).toMatchObject({ code: 0 });
        expect(synced.stdout).toMatch(/^sync succeeded/m);
        expect(synced.stdout + synced.stderr).not.toMatch(/[{}]|\/\?|\b1 [a-z]+s\b/);

        const status = await riverfs(['status'], mountpoint);
        expect(status).toMatchObject({ code: 0 });

        expect(await gateway.stop()).toBe(0);
        expect(fs.existsSync(runtimeFile)).toBe(false);
      } finally {
        await gateway.dispose();
      }
    });
  });
});
