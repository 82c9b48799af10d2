import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { runCli } from '../support/cli.helper';

const run = promisify(execFile);

/** Mountpoint checks happen before anything starts: no grid, database or FUSE is needed for these. */
describe('riverfs mount refusing a bad mount point', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-mountpoint-'));
  });
  afterEach(async () => {
    await run('umount', ['-l', path.join(dir, 'taken')]).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function mountAt(target: string) {
    return runCli(['mount', target, '--data-dir', path.join(dir, 'data'), '--tahoe-url', 'http://127.0.0.1:9']);
  }

  it('should say that a missing mount point does not exist', async () => {
    const result = await mountAt(path.join(dir, 'absent'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`mount point ${path.join(dir, 'absent')} does not exist`);
    expect(fs.existsSync(path.join(dir, 'data'))).toBe(false);
  });

  it('should refuse a regular file', async () => {
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    const result = await mountAt(path.join(dir, 'file'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('is not a directory');
  });

  it('should refuse a directory that is not empty', async () => {
    fs.mkdirSync(path.join(dir, 'full'));
    fs.writeFileSync(path.join(dir, 'full', 'precious'), 'do not hide me');
    const result = await mountAt(path.join(dir, 'full'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('is not empty (1 entries)');
  });

  it('should refuse a mount point that is already mounted and alive', async () => {
    const taken = path.join(dir, 'taken');
    fs.mkdirSync(taken);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'none', taken]);
    const result = await mountAt(taken);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${taken} is already mounted (tmpfs)`);
  });

  it('should create the mount point with --mkdir and then check it like any other', async () => {
    fs.writeFileSync(path.join(dir, 'blocker'), 'x');
    const result = await runCli([
      'mount',
      '--mkdir',
      path.join(dir, 'blocker', 'sub'),
      '--data-dir',
      path.join(dir, 'data'),
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('ENOTDIR');
  });
});
