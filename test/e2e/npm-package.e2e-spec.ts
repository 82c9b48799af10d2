import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { RiverFsProcess, isMounted, withTempMountpoint } from '../support/fuse-mount.helper';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');
const PACKAGE = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

/**
 * The npm package as a user gets it: `npm pack` of this checkout, installed with `npm i -g` into an empty prefix,
 * then the installed `riverfs` run from that prefix only (help, version, a real mount on the test grid). The
 * install fetches the dependencies from the registry (the npm cache makes repeats quick) and compiles fuse-native
 * with our patch and better-sqlite3, hence the long timeout.
 */
describe('the npm package (npm pack, npm i -g in a clean prefix)', () => {
  let work: string;
  let prefix: string;
  let installed: string;

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-pack-'));
    prefix = path.join(work, 'prefix');
    const packed = await run('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: ROOT,
      maxBuffer: 64 * 1024 * 1024,
    });
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    await run(
      'npm',
      [
        'install',
        '--global',
        '--prefix',
        prefix,
        '--prefer-offline',
        '--no-fund',
        '--no-audit',
        path.join(work, filename),
      ],
      // A clean environment for npm: none of this checkout's npm_* lifecycle variables leak into the install.
      { cwd: work, env: cleanNpmEnv(), timeout: 540_000, maxBuffer: 64 * 1024 * 1024 },
    );
    installed = path.join(prefix, 'lib', 'node_modules', 'riverfs');
  }, 600_000);

  afterAll(() => {
    if (work) {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  it('should hold the build output and what installing needs, and no sources or tests', () => {
    expect(fs.existsSync(path.join(installed, 'dist', 'src', 'cli', 'main.js'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'dist', 'migrations'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'src', 'dashboard', 'assets', 'index.html'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'src', 'cli'))).toBe(false);
    expect(fs.existsSync(path.join(installed, 'test'))).toBe(false);
    expect(fs.existsSync(path.join(installed, 'dist', 'src', 'cli', 'admin-cli.spec.js'))).toBe(false);
    expect(fs.readlinkSync(path.join(prefix, 'bin', 'riverfs'))).toMatch(/riverfs\/bin\/riverfs\.js$/);
  });

  it('should have applied the fuse-native patch at install and built its addon (the patched JS refuses any other)', async () => {
    const fuseNative = path.join(installed, 'node_modules', 'fuse-native');
    expect(fs.readFileSync(path.join(fuseNative, 'index.js'), 'utf8')).toContain('binding.patch_level !== 3');
    const loaded = await run(process.execPath, ['-e', `require(${JSON.stringify(fuseNative)}); console.log('loaded')`]);
    expect(loaded.stdout.trim()).toBe('loaded');
  });

  it('should answer --version and --help, and a closed pipe is no error', async () => {
    const riverfs = path.join(prefix, 'bin', 'riverfs');
    expect((await run(riverfs, ['--version'], { env: cleanNpmEnv() })).stdout.trim()).toBe(PACKAGE.version);
    const piped = await run('sh', ['-c', `"${riverfs}" --help | head -n 1`], {
      env: cleanNpmEnv(),
    });
    expect(piped.stdout).toMatch(/^Usage: riverfs /);
    expect(piped.stderr).not.toMatch(/EPIPE|Error/);
  });

  it('should mount from the installed copy, keep a file across a restart and push it to Tahoe', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, { bin: path.join(installed, 'bin', 'riverfs.js') });
      try {
        fs.writeFileSync(path.join(mountpoint, 'from-the-package.txt'), 'installed with npm i -g\n');
        // 0: the drain pushed everything to Tahoe before it exited.
        expect(await riverfs.stop()).toBe(0);
        expect(await isMounted(mountpoint)).toBe(false);
        await riverfs.start();
        expect(fs.readFileSync(path.join(mountpoint, 'from-the-package.txt'), 'utf8')).toBe(
          'installed with npm i -g\n',
        );
      } finally {
        await riverfs.dispose();
      }
    });
  });
});

function cleanNpmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('npm_') && !name.startsWith('RIVERFS_')),
  );
}
