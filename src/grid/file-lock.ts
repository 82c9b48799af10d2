import fs from 'node:fs';
import { isProcessAlive } from './process.util';
import { GridError } from './grid.errors';

/**
 * A lock between processes on one machine: a file holding the owner's pid, created atomically with its content
 * (written to a private file, then hard-linked into place, which fails if the lock exists). A lock left by a
 * process that died (kill -9) is recognised by its dead pid and taken over.
 */
export async function withFileLock<T>(
  lockPath: string,
  options: { timeoutMs: number },
  work: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const mine = `${lockPath}.${process.pid}`;
  fs.writeFileSync(mine, String(process.pid), { mode: 0o600 });
  try {
    for (;;) {
      try {
        fs.linkSync(mine, lockPath);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw error;
        }
      }
      const content = readQuietly(lockPath);
      const owner = Number(content);
      if (!Number.isInteger(owner) || owner <= 0 || !isProcessAlive(owner)) {
        if (readQuietly(lockPath) === content) {
          fs.rmSync(lockPath, { force: true });
        }
        continue;
      }
      if (Date.now() >= deadline) {
        throw new GridError('LOCKED', `${lockPath} is held by process ${owner}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    fs.rmSync(mine, { force: true });
  }
  try {
    return await work();
  } finally {
    if (readQuietly(lockPath) === String(process.pid)) {
      fs.rmSync(lockPath, { force: true });
    }
  }
}

function readQuietly(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}
