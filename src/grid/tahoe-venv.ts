import fs from 'node:fs';
import path from 'node:path';
import { runCommand } from './process.util';
import { withFileLock } from './file-lock';
import { GridError } from './grid.errors';

export const TAHOE_VERSION = '1.20.0';
/** tahoe-lafs 1.20.0 imports the stdlib `cgi` module, which Python 3.13 removed. */
const SUPPORTED_PYTHON = [
  [3, 11],
  [3, 12],
  [3, 10],
  [3, 9],
] as const;
const READY_MARKER = '.riverfs-tahoe-ready';

export interface TahoeVenvOptions {
  venvDir: string;
  /** Interpreter to build the venv with; otherwise python3.11, python3.12, python3 from PATH. */
  python?: string | undefined;
  log?: (message: string) => void;
}

async function pythonVersion(python: string): Promise<[number, number] | undefined> {
  try {
    const result = await runCommand(python, ['-c', 'import sys; print(sys.version_info[0], sys.version_info[1])'], {
      timeoutMs: 30_000,
    });
    if (result.code !== 0) {
      return undefined;
    }
    const [major, minor] = result.stdout.trim().split(' ').map(Number);
    return major !== undefined && minor !== undefined ? [major, minor] : undefined;
  } catch {
    return undefined;
  }
}

/** Finds a Python that tahoe-lafs 1.20.0 runs on, or says exactly what is missing. */
export async function findPython(preferred?: string): Promise<string> {
  const candidates = preferred ? [preferred] : ['python3.11', 'python3.12', 'python3', 'python3.10', 'python3.9'];
  const seen: string[] = [];
  for (const candidate of candidates) {
    const version = await pythonVersion(candidate);
    if (version === undefined) {
      seen.push(`${candidate}: not found`);
      continue;
    }
    if (SUPPORTED_PYTHON.some(([major, minor]) => version[0] === major && version[1] === minor)) {
      return candidate;
    }
    seen.push(`${candidate}: Python ${version.join('.')} (unsupported)`);
  }
  throw new GridError(
    'PYTHON_MISSING',
    `No Python that tahoe-lafs ${TAHOE_VERSION} supports (3.9 to 3.12; 3.11 preferred) was found: ${seen.join('; ')}. ` +
      `Install one (Debian: apt-get install python3 python3-venv) or name it with --python / RIVERFS_PYTHON.`,
  );
}

export function tahoeExecutable(venvDir: string): string {
  return path.join(venvDir, 'bin', 'tahoe');
}

/**
 * Makes sure `venvDir` holds a virtual environment with tahoe-lafs 1.20.0, creating it when absent and reusing
 * it when present. Several processes (parallel test runs, the CLI) may ask at once: a lock file serialises them.
 */
export async function ensureTahoeVenv(options: TahoeVenvOptions): Promise<string> {
  const { venvDir } = options;
  const log = options.log ?? (() => undefined);
  const tahoe = tahoeExecutable(venvDir);
  const marker = path.join(venvDir, READY_MARKER);
  if (fs.existsSync(marker) && fs.existsSync(tahoe)) {
    return tahoe;
  }
  fs.mkdirSync(path.dirname(venvDir), { recursive: true });
  return withFileLock(`${venvDir}.lock`, { timeoutMs: 15 * 60_000 }, async () => {
    if (fs.existsSync(marker) && fs.existsSync(tahoe)) {
      return tahoe;
    }
    const python = await findPython(options.python);
    if (!fs.existsSync(path.join(venvDir, 'bin', 'python'))) {
      log(`creating a Python virtual environment for tahoe-lafs ${TAHOE_VERSION} in ${venvDir} (with ${python})`);
      const created = await runCommand(python, ['-m', 'venv', venvDir], { timeoutMs: 5 * 60_000 });
      if (created.code !== 0) {
        fs.rmSync(venvDir, { recursive: true, force: true });
        const output = `${created.stdout}\n${created.stderr}`;
        if (/ensurepip|venv/i.test(output) && /not available|No module named/i.test(output)) {
          throw new GridError(
            'VENV_MISSING',
            `${python} cannot create virtual environments: the venv module (Debian package python3-venv) is missing. ` +
              `Install it with: apt-get install python3-venv`,
          );
        }
        throw new GridError('VENV_FAILED', `${python} -m venv ${venvDir} failed: ${output.trim().slice(-2000)}`);
      }
    }
    log(`installing tahoe-lafs==${TAHOE_VERSION} into ${venvDir} (once; later starts reuse it)`);
    const pip = path.join(venvDir, 'bin', 'pip');
    const installed = await runCommand(
      pip,
      ['install', '--disable-pip-version-check', '-q', `tahoe-lafs==${TAHOE_VERSION}`],
      {
        timeoutMs: 20 * 60_000,
      },
    );
    if (installed.code !== 0) {
      throw new GridError(
        'TAHOE_INSTALL_FAILED',
        `pip install tahoe-lafs==${TAHOE_VERSION} failed (it needs PyPI, and gcc with the Python headers to build ` +
          `netifaces): ${`${installed.stdout}\n${installed.stderr}`.trim().slice(-3000)}`,
      );
    }
    const version = await runCommand(tahoe, ['--version'], { timeoutMs: 120_000 });
    if (version.code !== 0 || !version.stdout.includes(`tahoe-lafs/${TAHOE_VERSION}`)) {
      throw new GridError(
        'TAHOE_INSTALL_FAILED',
        `${tahoe} --version did not report tahoe-lafs/${TAHOE_VERSION}: ${(version.stdout + version.stderr).trim().slice(-1000)}`,
      );
    }
    fs.writeFileSync(marker, `tahoe-lafs/${TAHOE_VERSION}\n`);
    return tahoe;
  });
}
