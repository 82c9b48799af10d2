import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TAHOE_FIXES, ensureTahoeVenv, findPython } from './tahoe-venv';
import { GridError } from './grid.errors';

describe('the Tahoe venv', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-venv-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('should name the missing interpreter when no Python can be found', async () => {
    const missing = path.join(dir, 'python3.11');
    await expect(findPython(missing)).rejects.toMatchObject({
      code: 'PYTHON_MISSING',
      message: expect.stringContaining(`${missing}: not found`),
    });
  });

  it('should refuse a Python that tahoe-lafs 1.20.0 does not run on (fake interpreter script)', async () => {
    const fake = path.join(dir, 'python3.13');
    fs.writeFileSync(fake, '#!/bin/sh\necho 3 13\n', { mode: 0o755 });
    await expect(findPython(fake)).rejects.toMatchObject({
      code: 'PYTHON_MISSING',
      message: expect.stringContaining('Python 3.13 (unsupported)'),
    });
  });

  it('should say that python3-venv is missing when venv cannot bootstrap pip (fake interpreter script)', async () => {
    // Debian's python3 without python3-venv prints this exact complaint; a script stands in for that state.
    const fake = path.join(dir, 'python3.11');
    fs.writeFileSync(
      fake,
      '#!/bin/sh\nif [ "$1" = "-c" ]; then echo 3 11; exit 0; fi\n' +
        'echo "The virtual environment was not created successfully because ensurepip is not available." >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const error = await ensureTahoeVenv({ venvDir: path.join(dir, 'venv'), python: fake }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GridError);
    expect(error).toMatchObject({
      code: 'VENV_MISSING',
      message: expect.stringContaining('apt-get install python3-venv'),
    });
    expect(fs.existsSync(path.join(dir, 'venv'))).toBe(false);
  });

  /**
   * A venv that looks installed (no real Python in it), its web/common.py holding `commonPy` and the file of every
   * other fix already fixed.
   */
  function preparedVenv(commonPy: string): { venv: string; file: string; cached: string } {
    const venv = path.join(dir, 'venv');
    fs.mkdirSync(path.join(venv, 'bin'), { recursive: true });
    fs.writeFileSync(path.join(venv, 'bin', 'tahoe'), '');
    fs.writeFileSync(path.join(venv, '.riverfs-tahoe-ready'), 'tahoe-lafs/1.20.0\n');
    const web = path.join(venv, 'lib', 'python3.11', 'site-packages', 'allmydata', 'web');
    fs.mkdirSync(path.join(web, '__pycache__'), { recursive: true });
    const file = path.join(web, 'common.py');
    fs.writeFileSync(file, commonPy);
    const cached = path.join(web, '__pycache__', 'common.cpython-311.pyc');
    fs.writeFileSync(cached, 'old bytecode');
    for (const other of TAHOE_FIXES.filter((fix) => fix.file !== 'allmydata/web/common.py')) {
      const otherFile = path.join(venv, 'lib', 'python3.11', 'site-packages', other.file);
      fs.mkdirSync(path.dirname(otherFile), { recursive: true });
      fs.writeFileSync(otherFile, `before\n${other.replace}\nafter\n`);
    }
    return { venv, file, cached };
  }

  const [FIX] = TAHOE_FIXES;

  it('should reuse a prepared venv with its fixes without running Python at all', async () => {
    const { venv, file, cached } = preparedVenv(`before\n${FIX.replace}\nafter\n`);
    await expect(ensureTahoeVenv({ venvDir: venv, python: path.join(dir, 'no-python') })).resolves.toBe(
      path.join(venv, 'bin', 'tahoe'),
    );
    expect(fs.readFileSync(file, 'utf8')).toBe(`before\n${FIX.replace}\nafter\n`);
    expect(fs.existsSync(cached)).toBe(true);
  });

  it('should apply a missing fix to a venv made before it, and drop the stale bytecode', async () => {
    const { venv, file, cached } = preparedVenv(`before\n${FIX.find}\nafter\n`);
    await ensureTahoeVenv({ venvDir: venv, python: path.join(dir, 'no-python') });
    expect(fs.readFileSync(file, 'utf8')).toBe(`before\n${FIX.replace}\nafter\n`);
    expect(fs.readFileSync(file, 'utf8')).toContain('request.method in (b"PUT", b"POST")');
    expect(fs.existsSync(cached)).toBe(false);
  });

  it('should bind the log tub of every node to loopback (the loopback-log-port fix)', () => {
    const fix = TAHOE_FIXES.find((candidate) => candidate.marker === 'riverfs: loopback-log-port');
    expect(fix?.find).toContain("s.bind(('', 0))");
    expect(fix?.replace).toContain("s.bind(('127.0.0.1', 0))");
    expect(fix?.replace).not.toContain("s.bind(('', 0))");
  });

  it('should refuse to guess when the file to fix holds other code', async () => {
    const { venv } = preparedVenv('some other tahoe-lafs\n');
    await expect(ensureTahoeVenv({ venvDir: venv, python: path.join(dir, 'no-python') })).rejects.toMatchObject({
      code: 'TAHOE_INSTALL_FAILED',
      message: expect.stringContaining('riverfs: finish-cut-uploads'),
    });
  });
});
