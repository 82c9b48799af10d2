import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTahoeVenv, findPython } from './tahoe-venv';
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

  it('should reuse a prepared venv without running Python at all', async () => {
    const venv = path.join(dir, 'venv');
    fs.mkdirSync(path.join(venv, 'bin'), { recursive: true });
    fs.writeFileSync(path.join(venv, 'bin', 'tahoe'), '');
    fs.writeFileSync(path.join(venv, '.riverfs-tahoe-ready'), 'tahoe-lafs/1.20.0\n');
    await expect(ensureTahoeVenv({ venvDir: venv, python: path.join(dir, 'no-python') })).resolves.toBe(
      path.join(venv, 'bin', 'tahoe'),
    );
  });
});
