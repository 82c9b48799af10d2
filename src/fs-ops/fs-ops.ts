import type { Credentials } from '../metadata/metadata.types';
import { PATH_ENCODING } from './fs-path';
import type { FsStat, FsStatfs, UtimeArg } from './river-fs';
import type { RiverPathFs } from './river-path-fs';

/** The caller of a FUSE request (passed by our fuse-native patch after the callback). */
export interface FuseContext {
  uid: number;
  gid: number;
  pid: number;
  umask?: number;
}

/** fuse-native's callback: first argument an errno (negative) or a result, then values. */
export type FuseReply = (...args: unknown[]) => void;

/**
 * One POSIX call: a stateless functor that runs the call on the RiverFs executor by path (RiverPathFs) (`run`) and turns its result
 * into fuse-native's callback arguments (`reply`). Errors never reach `reply`: FuseService maps them to errnos.
 */
export interface FsOp<Result = unknown> {
  readonly name: string;
  /** For read and write fuse-native wants the byte count (or -errno) as the first callback argument. */
  readonly errnoOnly?: boolean;
  run(fs: RiverPathFs, context: FuseContext | undefined, args: unknown[]): Promise<Result>;
  reply(callback: FuseReply, result: Result, args: unknown[]): void;
}

function op<Result>(
  name: string,
  run: FsOp<Result>['run'],
  reply: FsOp<Result>['reply'] = (callback) => callback(0),
): FsOp<Result> {
  return { name, run, reply };
}

function owner(context: FuseContext | undefined): Credentials | undefined {
  return context === undefined ? undefined : { uid: context.uid, gid: context.gid };
}

function timeOf(value: unknown): UtimeArg {
  const time = value as { sec: number; nsec: number; now?: boolean; omit?: boolean };
  if (time.omit) {
    return 'omit';
  }
  if (time.now) {
    return 'now';
  }
  return { sec: time.sec, nsec: time.nsec };
}

export function toFuseStat(stat: FsStat): Record<string, unknown> {
  return {
    ino: stat.ino,
    mode: stat.mode,
    nlink: stat.nlink,
    uid: stat.uid,
    gid: stat.gid,
    rdev: stat.rdev,
    size: stat.size,
    blksize: stat.blksize,
    blocks: stat.blocks,
    dev: 0,
    atime: stat.atime,
    mtime: stat.mtime,
    ctime: stat.ctime,
  };
}

const s = (args: unknown[], index: number): string => args[index] as string;
const n = (args: unknown[], index: number): number => args[index] as number;

export const FS_OPS: readonly FsOp<never>[] = [
  op<FsStat>(
    'getattr',
    (fs, _c, a) => fs.getattr(s(a, 0)),
    (cb, stat) => cb(0, toFuseStat(stat)),
  ),
  op<FsStat>(
    'fgetattr',
    (fs, _c, a) => fs.fgetattr(s(a, 0), n(a, 1)),
    (cb, stat) => cb(0, toFuseStat(stat)),
  ),
  // default_permissions: the kernel has already checked the mode bits; access only needs the file to exist.
  op<FsStat>('access', (fs, _c, a) => fs.getattr(s(a, 0))),
  op<FsStatfs>(
    'statfs',
    (fs) => fs.statfs(),
    (cb, statfs) => cb(0, statfs),
  ),
  op<{ names: Buffer[]; stats: FsStat[] }>(
    'readdir',
    (fs, _c, a) => fs.readdir(s(a, 0)),
    (cb, listing) =>
      cb(
        0,
        listing.names.map((name) => name.toString(PATH_ENCODING)),
        listing.stats.map(toFuseStat),
      ),
  ),
  op<number>(
    'opendir',
    () => Promise.resolve(0),
    (cb) => cb(0, 0),
  ),
  op<void>('releasedir', () => Promise.resolve()),
  op<void>('fsyncdir', (fs) => fs.fsyncdir()),
  op<number>(
    'open',
    (fs, _c, a) => fs.open(s(a, 0), n(a, 1)),
    (cb, fh) => cb(0, fh),
  ),
  // The kernel applies the caller's umask before the mode reaches us (libfuse 2 does not ask for FUSE_DONT_MASK).
  // fuse-native passes create(path, mode) without the open flags; O_RDWR is the widest the kernel may use.
  op<number>(
    'create',
    (fs, c, a) => fs.create(s(a, 0), n(a, 1), 2, owner(c)),
    (cb, fh) => cb(0, fh),
  ),
  {
    name: 'read',
    errnoOnly: true,
    run: (fs: RiverPathFs, _c: FuseContext | undefined, a: unknown[]) => fs.read(n(a, 1), n(a, 3), n(a, 4)),
    reply: (cb: FuseReply, data: Buffer, a: unknown[]) => {
      data.copy(a[2] as Buffer);
      cb(data.length);
    },
  } as FsOp<Buffer>,
  {
    name: 'write',
    errnoOnly: true,
    run: (fs: RiverPathFs, _c: FuseContext | undefined, a: unknown[]) => {
      // The kernel's buffer is reused once we answer: copy it before the first await.
      const data = Buffer.from((a[2] as Buffer).subarray(0, n(a, 3)));
      return fs.write(n(a, 1), data, n(a, 4));
    },
    reply: (cb: FuseReply, written: number) => cb(written),
  } as FsOp<number>,
  op<void>('flush', (fs, _c, a) => fs.flush(n(a, 1))),
  // fuse-native calls fsync(path, datasync, fd).
  op<void>('fsync', (fs, _c, a) => fs.fsync(n(a, 2))),
  op<void>('release', (fs, _c, a) => fs.release(n(a, 1))),
  op<void>('truncate', (fs, _c, a) => fs.truncate(s(a, 0), n(a, 1))),
  op<void>('ftruncate', (fs, _c, a) => fs.ftruncate(s(a, 0), n(a, 1), n(a, 2))),
  op<void>('unlink', (fs, _c, a) => fs.unlink(s(a, 0))),
  op<void>('mkdir', (fs, c, a) => fs.mkdir(s(a, 0), n(a, 1), owner(c))),
  op<void>('rmdir', (fs, _c, a) => fs.rmdir(s(a, 0))),
  op<void>('rename', (fs, _c, a) => fs.rename(s(a, 0), s(a, 1))),
  op<void>('link', (fs, _c, a) => fs.link(s(a, 0), s(a, 1))),
  // fuse-native calls symlink(target, path).
  op<void>('symlink', (fs, c, a) => fs.symlink(s(a, 0), s(a, 1), owner(c))),
  op<Buffer>(
    'readlink',
    (fs, _c, a) => fs.readlink(s(a, 0)),
    (cb, target) => cb(0, target.toString(PATH_ENCODING)),
  ),
  op<void>('mknod', (fs, c, a) => fs.mknod(s(a, 0), n(a, 1), n(a, 2), owner(c))),
  op<void>('chmod', (fs, _c, a) => fs.chmod(s(a, 0), n(a, 1))),
  op<void>('chown', (fs, _c, a) => fs.chown(s(a, 0), n(a, 1), n(a, 2))),
  op<void>('utimens', (fs, _c, a) => fs.utimens(s(a, 0), timeOf(a[1]), timeOf(a[2]))),
  // setxattr(path, name, value, position, flags)
  op<void>('setxattr', (fs, _c, a) => fs.setxattr(s(a, 0), s(a, 1), a[2] as Buffer, n(a, 4))),
  op<Buffer>(
    'getxattr',
    (fs, _c, a) => fs.getxattr(s(a, 0), s(a, 1)),
    (cb, value) => cb(0, value),
  ),
  op<Buffer[]>(
    'listxattr',
    (fs, _c, a) => fs.listxattr(s(a, 0)),
    (cb, names) =>
      cb(
        0,
        names.map((name) => name.toString(PATH_ENCODING)),
      ),
  ),
  op<void>('removexattr', (fs, _c, a) => fs.removexattr(s(a, 0), s(a, 1))),
  // fallocate(path, fd, mode, offset, length)
  op<void>('fallocate', (fs, _c, a) => fs.fallocate(n(a, 1), n(a, 2), n(a, 3), n(a, 4))),
] as unknown as readonly FsOp<never>[];
