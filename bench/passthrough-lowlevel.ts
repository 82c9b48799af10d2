/**
 * The pass-through of bench/passthrough-fs.ts on the FUSE low-level binding (libfuse 3): every call goes to a
 * local directory with synchronous fs calls. Inode numbers are the backing files' own; the names the kernel holds
 * are remembered by inode (the latest name looked up or made wins, as inode numbers are reused after unlink; enough for
 * a benchmark). Mounted as RiverFS mounts by default
 * (`--fuse-api lowlevel`): its entry and attribute timeouts (1 s), its mount options (default_permissions, and
 * allow_other when root), only fsname/subtype renamed (passthrough-options.ts, shared with the C one,
 * passthrough-c/passthrough_ll.c). Served serially: one libfuse loop thread, one JavaScript thread making synchronous
 * calls.
 * Run: `node passthrough-lowlevel.js <backing dir> <mountpoint>`; prints "mounted", unmounts on SIGTERM.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  type Attributes,
  type DirectoryPlusFiller,
  type Entry,
  FuseError,
  LowLevelMount,
  type LowLevelFilesystem,
  type RequestContext,
} from '../src/fuse-lowlevel';
import { PASSTHROUGH_TIMEOUT_SECONDS, passthroughMountOptions } from './passthrough-options';

const TIMEOUT = PASSTHROUGH_TIMEOUT_SECONDS;
const ROOT = 1;

function attributes(s: fs.BigIntStats, ino: number): Attributes {
  const time = (ns: bigint): { sec: number; nsec: number } => ({
    sec: Number(ns / 1_000_000_000n),
    nsec: Number(ns % 1_000_000_000n),
  });
  return {
    ino,
    mode: Number(s.mode),
    nlink: Number(s.nlink),
    uid: Number(s.uid),
    gid: Number(s.gid),
    size: Number(s.size),
    blocks: Number(s.blocks),
    blksize: Number(s.blksize),
    atime: time(s.atimeNs),
    mtime: time(s.mtimeNs),
    ctime: time(s.ctimeNs),
  };
}

class Passthrough implements LowLevelFilesystem {
  private readonly paths = new Map<number, string>();

  constructor(private readonly backing: string) {
    this.paths.set(ROOT, backing);
  }

  private pathOf(ino: number): string {
    const p = this.paths.get(ino);
    if (p === undefined) {
      throw Object.assign(new Error('stale inode'), { code: 'ESTALE' });
    }
    return p;
  }

  private entryAt(p: string): Entry {
    const s = fs.lstatSync(p, { bigint: true });
    const ino = p === this.backing ? ROOT : Number(s.ino);
    // The latest name: a number freed by unlink comes back for a new file, which the kernel then knows by its new name.
    this.paths.set(ino, p);
    return { attr: attributes(s, ino), entryTimeout: TIMEOUT, attrTimeout: TIMEOUT };
  }

  lookup(_ctx: RequestContext, parent: number, name: string): Entry {
    return this.entryAt(path.join(this.pathOf(parent), name));
  }
  getattr(_ctx: RequestContext, ino: number): { attr: Attributes; attrTimeout: number } {
    return { attr: attributes(fs.lstatSync(this.pathOf(ino), { bigint: true }), ino), attrTimeout: TIMEOUT };
  }
  setattr(_ctx: RequestContext, ino: number, changes: { size?: number; mode?: number }) {
    if (changes.size !== undefined) {
      fs.truncateSync(this.pathOf(ino), changes.size);
    }
    if (changes.mode !== undefined) {
      fs.chmodSync(this.pathOf(ino), changes.mode);
    }
    return this.getattr(_ctx, ino);
  }
  mkdir(_ctx: RequestContext, parent: number, name: string, mode: number): Entry {
    const p = path.join(this.pathOf(parent), name);
    fs.mkdirSync(p, mode);
    return this.entryAt(p);
  }
  create(_ctx: RequestContext, parent: number, name: string, mode: number, flags: number) {
    const p = path.join(this.pathOf(parent), name);
    const fd = fs.openSync(p, flags | fs.constants.O_CREAT, mode);
    return { ...this.entryAt(p), fh: fd };
  }
  open(_ctx: RequestContext, ino: number, flags: number) {
    return { fh: fs.openSync(this.pathOf(ino), flags & ~fs.constants.O_CREAT) };
  }
  read(_ctx: RequestContext, _ino: number, fh: number, size: number, offset: number, into: Buffer): Buffer {
    return into.subarray(0, fs.readSync(fh, into, 0, size, offset));
  }
  write(_ctx: RequestContext, _ino: number, fh: number, data: Buffer, offset: number): number {
    return fs.writeSync(fh, data, 0, data.length, offset);
  }
  release(_ctx: RequestContext, _ino: number, fh: number): void {
    fs.closeSync(fh);
  }
  fsync(_ctx: RequestContext, _ino: number, fh: number): void {
    fs.fsyncSync(fh);
  }
  unlink(_ctx: RequestContext, parent: number, name: string): void {
    fs.unlinkSync(path.join(this.pathOf(parent), name));
  }
  rmdir(_ctx: RequestContext, parent: number, name: string): void {
    fs.rmdirSync(path.join(this.pathOf(parent), name));
  }
  rename(_ctx: RequestContext, parent: number, name: string, newParent: number, newName: string): void {
    const from = path.join(this.pathOf(parent), name);
    const to = path.join(this.pathOf(newParent), newName);
    fs.renameSync(from, to);
    // The kernel keeps the moved inode (and, for a directory, everything under it) by number: move their paths too.
    for (const [ino, p] of this.paths) {
      if (p === from || p.startsWith(from + path.sep)) {
        this.paths.set(ino, to + p.slice(from.length));
      }
    }
  }
  readdirplus(_ctx: RequestContext, ino: number, _fh: number, offset: number, out: DirectoryPlusFiller): void {
    const dir = this.pathOf(ino);
    const names = fs.readdirSync(dir);
    for (let i = offset; i < names.length; i++) {
      const name = names[i];
      if (!out.add({ name, entry: this.entryAt(path.join(dir, name)), nextOffset: i + 1 })) {
        return;
      }
    }
  }
  /**
   * Extended attributes as a local filesystem with none set answers (Node has no xattr calls to pass them on). Without
   * these operations the binding answers ENOSYS, after which the kernel never asks again: `ls -l`, which asks every
   * entry for its ACL and security label, would cost the pass-through nothing and RiverFS (which keeps xattrs) one
   * round trip per entry.
   */
  getxattr(): Buffer {
    throw FuseError.answer(os.constants.errno.ENODATA);
  }
  listxattr(): string[] {
    return [];
  }
  statfs() {
    const s = fs.statfsSync(this.backing);
    return {
      bsize: s.bsize,
      frsize: s.bsize,
      blocks: s.blocks,
      bfree: s.bfree,
      bavail: s.bavail,
      files: s.files,
      ffree: s.ffree,
      namemax: 255,
    };
  }
}

async function main(): Promise<void> {
  const [backing, mountpoint] = process.argv.slice(2);
  if (!backing || !mountpoint) {
    throw new Error('usage: passthrough-lowlevel <backing dir> <mountpoint>');
  }
  const mount = await LowLevelMount.mount(path.resolve(mountpoint), new Passthrough(path.resolve(backing)), {
    fuseOptions: passthroughMountOptions(),
  });
  process.stdout.write('mounted\n');
  process.once('SIGTERM', () => void mount.unmount().then(() => process.exit(0)));
}

void main();
