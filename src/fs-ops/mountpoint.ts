import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class MountpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MountpointError';
  }
}

/** Mount points as the kernel lists them (/proc/self/mountinfo field 5, with its octal escapes decoded). */
export async function mountedPaths(): Promise<Map<string, string>> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const mounts = new Map<string, string>();
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (fields.length < 5 || separator < 0) {
      continue;
    }
    const mountPath = fields[4].replace(/\\([0-7]{3})/g, (_m, octal: string) =>
      String.fromCharCode(parseInt(octal, 8)),
    );
    mounts.set(mountPath, fields[separator + 1] ?? '');
  }
  return mounts;
}

async function lazyUnmount(mountpoint: string): Promise<void> {
  for (const command of ['fusermount3', 'fusermount']) {
    try {
      await run(command, ['-uz', mountpoint]);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw error;
      }
    }
  }
  await run('umount', ['-l', mountpoint]);
}

/**
 * Checks that `mountpoint` can take the mount, and says plainly why not: missing, not a directory, not empty,
 * or already mounted. A mount left by a RiverFS process that died (the kernel answers ENOTCONN, "Transport
 * endpoint is not connected") is unmounted so the new process can take its place.
 */
export async function prepareMountpoint(mountpoint: string): Promise<{ recoveredStaleMount: boolean }> {
  let recoveredStaleMount = false;
  const mounts = await mountedPaths();
  if (mounts.has(mountpoint)) {
    let stale = false;
    try {
      await fs.stat(mountpoint);
    } catch (error) {
      stale = (error as NodeJS.ErrnoException).code === 'ENOTCONN';
    }
    if (!stale) {
      throw new MountpointError(`${mountpoint} is already mounted (${mounts.get(mountpoint)}); unmount it first`);
    }
    await lazyUnmount(mountpoint);
    recoveredStaleMount = true;
  }
  let stat;
  try {
    stat = await fs.stat(mountpoint);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new MountpointError(
      code === 'ENOENT'
        ? `mount point ${mountpoint} does not exist (create it with mkdir)`
        : `mount point ${mountpoint}: ${code}`,
    );
  }
  if (!stat.isDirectory()) {
    throw new MountpointError(`mount point ${mountpoint} is not a directory`);
  }
  const entries = await fs.readdir(mountpoint);
  if (entries.length > 0) {
    throw new MountpointError(
      `mount point ${mountpoint} is not empty (${entries.length} entries); mount on an empty directory`,
    );
  }
  return { recoveredStaleMount };
}
