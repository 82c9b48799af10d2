/**
 * The `passthrough-highlevel` target: a minimal fuse-native (high-level API, libfuse 2) filesystem that passes every
 * call to a local directory with synchronous fs calls, mounted with the options RiverFS's `--fuse-api highlevel` uses
 * (the default before issue 13; kept to compare with `passthrough`, the low-level one). Run as a child
 * process: `node passthrough-fs.js <backing dir> <mountpoint>`; it prints "mounted" and unmounts on SIGTERM.
 */
import fs from 'node:fs';
import path from 'node:path';
import Fuse from 'fuse-native';
import { fuseMountOptions } from '../src/fs-ops/mount-options';

type Callback = (...args: unknown[]) => void;

function main(): void {
  const [backing, mountpoint] = process.argv.slice(2);
  if (!backing || !mountpoint) {
    throw new Error('usage: passthrough-fs <backing dir> <mountpoint>');
  }
  const real = (p: string): string => path.join(backing, p);
  const stat = (s: fs.Stats): Record<string, unknown> => ({
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    size: s.size,
    nlink: s.nlink,
    ino: s.ino,
    blksize: s.blksize,
    blocks: s.blocks,
    atime: s.atime,
    mtime: s.mtime,
    ctime: s.ctime,
  });
  const guard =
    (fn: (...args: unknown[]) => void) =>
    (...args: unknown[]): void => {
      const cb = args.find((a) => typeof a === 'function') as Callback;
      try {
        fn(...args);
      } catch (error) {
        // Node's errno values are already negative, as fuse-native wants them.
        cb((error as NodeJS.ErrnoException).errno ?? -5);
      }
    };
  const ops: Record<string, (...args: never[]) => void> = {
    getattr: guard((p, cb) => (cb as Callback)(0, stat(fs.lstatSync(real(p as string))))),
    readdir: guard((p, cb) => (cb as Callback)(0, fs.readdirSync(real(p as string)))),
    open: guard((p, flags, cb) => (cb as Callback)(0, fs.openSync(real(p as string), flags as number))),
    create: guard((p, mode, cb) => (cb as Callback)(0, fs.openSync(real(p as string), 'w+', mode as number))),
    read: guard((_p, fd, buf, len, pos, cb) =>
      (cb as Callback)(fs.readSync(fd as number, buf as Buffer, 0, len as number, pos as number)),
    ),
    write: guard((_p, fd, buf, len, pos, cb) =>
      (cb as Callback)(fs.writeSync(fd as number, buf as Buffer, 0, len as number, pos as number)),
    ),
    release: guard((_p, fd, cb) => {
      fs.closeSync(fd as number);
      (cb as Callback)(0);
    }),
    fsync: guard((_p, _datasync, fd, cb) => {
      fs.fsyncSync(fd as number);
      (cb as Callback)(0);
    }),
    truncate: guard((p, size, cb) => {
      fs.truncateSync(real(p as string), size as number);
      (cb as Callback)(0);
    }),
    unlink: guard((p, cb) => {
      fs.unlinkSync(real(p as string));
      (cb as Callback)(0);
    }),
    mkdir: guard((p, mode, cb) => {
      fs.mkdirSync(real(p as string), mode as number);
      (cb as Callback)(0);
    }),
    rmdir: guard((p, cb) => {
      fs.rmdirSync(real(p as string));
      (cb as Callback)(0);
    }),
    rename: guard((a, b, cb) => {
      fs.renameSync(real(a as string), real(b as string));
      (cb as Callback)(0);
    }),
    utimens: guard((p, atime, mtime, cb) => {
      fs.utimesSync(
        real(p as string),
        Number(atime) / 1000 || Date.now() / 1000,
        Number(mtime) / 1000 || Date.now() / 1000,
      );
      (cb as Callback)(0);
    }),
    chmod: guard((p, mode, cb) => {
      fs.chmodSync(real(p as string), mode as number);
      (cb as Callback)(0);
    }),
  };
  const fuse = new Fuse(mountpoint, ops, {
    extraOptions: fuseMountOptions({
      attrTimeoutSeconds: 1,
      entryTimeoutSeconds: 1,
      allowOther: process.getuid?.() === 0,
    }),
    timeout: false,
  });
  fuse.mount((error) => {
    if (error) {
      process.stderr.write(`mount failed: ${error.message}\n`);
      process.exit(1);
    }
    process.stdout.write('mounted\n');
  });
  process.on('SIGTERM', () => fuse.unmount(() => process.exit(0)));
}

main();
