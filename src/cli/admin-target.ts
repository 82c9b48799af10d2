import path from 'node:path';
import { mountedPaths } from '../fs-ops/mountpoint';
import type { AdminTarget } from './admin-api.client';
import { UsageError } from './exit-codes';

/** The filesystem type RiverFS mounts show in /proc/self/mountinfo. */
export const RIVERFS_FS_TYPE = 'fuse.riverfs';

/** Mount points of RiverFS on this host, as the kernel lists them. */
export async function riverfsMountpoints(): Promise<string[]> {
  try {
    const mounts = await mountedPaths();
    return [...mounts].filter(([, type]) => type === RIVERFS_FS_TYPE).map(([mountPath]) => mountPath);
  } catch {
    // No /proc (not Linux): no mount to translate paths against.
    return [];
  }
}

export interface TargetContext {
  /** --mountpoint: the mount point host paths are relative to. Otherwise the RiverFS mounts found on the host. */
  mountpoint?: string;
  cwd: string;
  /** The RiverFS mount points of this host (riverfsMountpoints()); asked only when --mountpoint is not given. */
  mounts: () => Promise<string[]>;
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/** `/a/b` for a host path inside `mountpoint`. */
function fromMountpoint(hostPath: string, mountpoint: string): string {
  const relative = path.relative(mountpoint, hostPath);
  return relative === '' ? '/' : `/${relative.split(path.sep).join('/')}`;
}

/**
 * What a path or inode argument means:
 * - digits only (`42`): inode number 42 (write `./42` for a file named 42);
 * - a host path inside a RiverFS mount point (absolute, or relative to the current directory, which must then be
 *   inside a mount): that file of the mount, e.g. `/mnt/river/docs/a.txt` or `docs/a.txt` in /mnt/river;
 * - any other absolute path: a path from the root of the filesystem (`/docs/a.txt`), sent as written except for
 *   trailing slashes, which are dropped;
 * - nothing: everything (for the commands that allow it).
 * The mount point is --mountpoint when given, else the RiverFS mount holding the path (/proc/self/mountinfo).
 */
export async function parseTarget(argument: string | undefined, context: TargetContext): Promise<AdminTarget> {
  if (argument === undefined) {
    return {};
  }
  if (argument === '') {
    throw new UsageError('an empty path was given (use / for the root of the filesystem)');
  }
  if (/^\d+$/.test(argument)) {
    const ino = Number(argument);
    if (!Number.isSafeInteger(ino) || ino < 1) {
      throw new UsageError(`inode number ${argument} is out of range (the root is 1)`);
    }
    return { ino };
  }
  const hostPath = path.resolve(context.cwd, argument);
  const roots =
    context.mountpoint !== undefined ? [path.resolve(context.cwd, context.mountpoint)] : await context.mounts();
  // The innermost mount holding the path (mounts can be nested).
  const root = roots
    .filter((mountpoint) => isInside(hostPath, mountpoint))
    .sort((a, b) => b.length - a.length)
    .at(0);
  if (root !== undefined) {
    return { path: fromMountpoint(hostPath, root) };
  }
  if (!argument.startsWith('/')) {
    throw new UsageError(
      `"${argument}" is relative, but ${context.cwd} is not inside ${
        context.mountpoint === undefined ? 'a RiverFS mount' : `the mount point ${context.mountpoint}`
      }: give the path from the root of the filesystem (e.g. /docs/a.txt), or --mountpoint`,
    );
  }
  const trimmed = argument.replace(/\/+$/, '');
  return { path: trimmed === '' ? '/' : trimmed };
}

/** How a target is shown in messages. */
export function describeTarget(target: AdminTarget): string {
  if (target.path !== undefined) {
    return target.path;
  }
  if (target.ino !== undefined) {
    return `inode ${target.ino}`;
  }
  return 'everything';
}
