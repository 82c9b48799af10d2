import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';

/** Runs a filesystem call and returns 'OK' or the errno name (`code`) it failed with. */
export function errnoOf(action: () => unknown): string {
  try {
    action();
    return 'OK';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code !== 'string') {
      throw error;
    }
    return code;
  }
}

/** Fails unless `action` fails with errno `code`. */
export function expectErrno(action: () => unknown, code: string): void {
  expect(errnoOf(action)).toBe(code);
}

/**
 * Runs a python3 script that prints one JSON value, and returns that value. For what Node's fs cannot do: xattrs,
 * utimensat with nanoseconds and UTIME_OMIT, bytes paths. `args` reach the script as sys.argv[1:].
 */
export function python<T = unknown>(
  script: string,
  args: string[] = [],
  options: { uid?: number; gid?: number } = {},
): T {
  const output = execFileSync('python3', ['-c', script, ...args], {
    encoding: 'utf8',
    uid: options.uid,
    gid: options.gid,
  });
  return JSON.parse(output) as T;
}

/** One step of a script run as another user: a label and the fs call (as a JavaScript expression using `fs`). */
export type UserStep = [label: string, expression: string];

/**
 * Runs fs calls as another user (uid/gid, no supplementary groups), in a child Node process, one call per step, and
 * returns each step's outcome: 'OK' or the errno name. The mount is served by another process, so this is safe.
 */
export function runAsUser(uid: number, gid: number, steps: UserStep[]): Record<string, string> {
  const script = [
    "const fs = require('node:fs');",
    'const out = {};',
    ...steps.map(
      ([label, expression]) =>
        `try { ${expression}; out[${JSON.stringify(label)}] = 'OK'; } catch (e) { out[${JSON.stringify(label)}] = e.code ?? String(e); }`,
    ),
    'process.stdout.write(JSON.stringify(out));',
  ].join('\n');
  const result = spawnSync(process.execPath, ['-e', script], { uid, gid, encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`the script as uid ${uid} failed (${result.status}): ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as Record<string, string>;
}

/** Runs a command and returns its stdout; throws with stderr when it fails. */
export function sh(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}`);
  }
  return result.stdout;
}

export { seededRandom } from './seeded-random';

/**
 * `length` pseudo-random bytes determined by `random`: an AES-CTR keystream under a key drawn from it (a byte-by-byte
 * loop is orders of magnitude slower inside Jest's sandbox).
 */
export function randomBytesFrom(random: () => number, length: number): Buffer {
  const key = Buffer.alloc(16);
  const iv = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) {
    key[i] = Math.floor(random() * 256);
    iv[i] = Math.floor(random() * 256);
  }
  return createCipheriv('aes-128-ctr', key, iv).update(Buffer.alloc(length));
}
