import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * How the CLI finds a running mount's admin API without being told `--listen` and `--data-dir` again.
 *
 * A mount writes `<data-dir>/mount-runtime.json` (0600: it may hold the admin token when that came from a
 * setting) with its pid, mount point and admin URL, and a pointer to it in a per-user directory
 * (`$XDG_RUNTIME_DIR/riverfs/mounts`, else `<tmpdir>/riverfs-<uid>/mounts`, 0700) named after the mount point.
 * The CLI reads the pointers, keeps those whose process is alive and picks the mount holding the path it was given
 * (or the current directory, or --mountpoint), or the only one running. A clean stop removes both files; stale
 * ones (kill -9) are ignored because their pid is gone, and overwritten at the next mount.
 */
export const RUNTIME_FILE = 'mount-runtime.json';

export interface MountRuntime {
  pid: number;
  mountpoint: string;
  dataDir: string;
  adminUrl: string;
  /** Only when the token came from a setting (otherwise it is in <data-dir>/admin-token). */
  adminToken?: string;
  adminRevealToken?: string;
}

interface Pointer {
  mountpoint: string;
  runtimeFile: string;
}

export function runtimeRegistryDir(): string {
  const base = process.env.XDG_RUNTIME_DIR;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return base ? path.join(base, 'riverfs', 'mounts') : path.join(os.tmpdir(), `riverfs-${uid}`, 'mounts');
}

function pointerFile(mountpoint: string): string {
  const digest = crypto.createHash('sha256').update(mountpoint).digest('hex').slice(0, 24);
  return path.join(runtimeRegistryDir(), `${digest}.json`);
}

function writePrivate(file: string, value: unknown): void {
  // Through a new file renamed into place: a reader sees the old content or the new, never half.
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(temporary, file);
}

/** Writes the runtime file and its pointer; returns a function that removes both (at a clean stop). */
export function publishMountRuntime(runtime: MountRuntime): () => void {
  const runtimeFile = path.join(runtime.dataDir, RUNTIME_FILE);
  writePrivate(runtimeFile, runtime);
  const registry = runtimeRegistryDir();
  fs.mkdirSync(registry, { recursive: true, mode: 0o700 });
  const pointer = pointerFile(runtime.mountpoint);
  writePrivate(pointer, { mountpoint: runtime.mountpoint, runtimeFile } satisfies Pointer);
  return () => {
    for (const file of [runtimeFile, pointer]) {
      try {
        fs.rmSync(file, { force: true });
      } catch {
        // Best effort: a stale file is ignored once its pid is gone.
      }
    }
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** The mounts of this user that are running now, as their runtime files describe them. */
export function runningMounts(): MountRuntime[] {
  let names: string[];
  try {
    names = fs.readdirSync(runtimeRegistryDir()).filter((name) => name.endsWith('.json'));
  } catch {
    return [];
  }
  const mounts: MountRuntime[] = [];
  for (const name of names) {
    const pointer = readJson<Pointer>(path.join(runtimeRegistryDir(), name));
    const runtime = pointer === undefined ? undefined : readJson<MountRuntime>(pointer.runtimeFile);
    if (runtime !== undefined && runtime.mountpoint === pointer?.mountpoint && isAlive(runtime.pid)) {
      mounts.push(runtime);
    }
  }
  return mounts;
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/**
 * The running mount a command means: the innermost one holding `hostPath` (a path argument, or the current
 * directory), else, when no path is inside any mount, the only mount running. Undefined when none or ambiguous.
 */
export function findRunningMount(
  hostPaths: string[],
  mounts: MountRuntime[] = runningMounts(),
): MountRuntime | undefined {
  for (const hostPath of hostPaths) {
    const holding = mounts
      .filter((mount) => isInside(hostPath, mount.mountpoint))
      .sort((a, b) => b.mountpoint.length - a.mountpoint.length);
    if (holding.length > 0) {
      return holding[0];
    }
  }
  return mounts.length === 1 ? mounts[0] : undefined;
}
