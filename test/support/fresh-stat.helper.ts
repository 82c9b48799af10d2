import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

/** What lstat says about a path, as statx(2) reports it; times in nanoseconds since the epoch. */
export interface FreshStat {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  blocks: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export type FreshStatResult = FreshStat | { errno: string };

// statx(2) through ctypes: Node (and Python before 3.15) cannot pass AT_STATX_FORCE_SYNC.
const SCRIPT = String.raw`
import ctypes, errno, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
class TS(ctypes.Structure):
    _fields_ = [('sec', ctypes.c_int64), ('nsec', ctypes.c_uint32), ('reserved', ctypes.c_int32)]
class STATX(ctypes.Structure):
    _fields_ = [('mask', ctypes.c_uint32), ('blksize', ctypes.c_uint32), ('attributes', ctypes.c_uint64),
                ('nlink', ctypes.c_uint32), ('uid', ctypes.c_uint32), ('gid', ctypes.c_uint32),
                ('mode', ctypes.c_uint16), ('pad', ctypes.c_uint16), ('ino', ctypes.c_uint64),
                ('size', ctypes.c_uint64), ('blocks', ctypes.c_uint64), ('attributes_mask', ctypes.c_uint64),
                ('atime', TS), ('btime', TS), ('ctime', TS), ('mtime', TS),
                ('rdev_major', ctypes.c_uint32), ('rdev_minor', ctypes.c_uint32),
                ('dev_major', ctypes.c_uint32), ('dev_minor', ctypes.c_uint32), ('spare', ctypes.c_uint64 * 14)]
AT_FDCWD, AT_SYMLINK_NOFOLLOW, AT_STATX_FORCE_SYNC = -100, 0x100, 0x2000
def ns(ts):
    return str(ts.sec * 1000000000 + ts.nsec)
for line in sys.stdin:
    follow, path = line[0] == 'F', bytes.fromhex(line[1:].strip())
    st = STATX()
    flags = AT_STATX_FORCE_SYNC | (0 if follow else AT_SYMLINK_NOFOLLOW)
    if libc.statx(AT_FDCWD, path, flags, 0xfff, ctypes.byref(st)) != 0:
        code = ctypes.get_errno()
        reply = {'errno': errno.errorcode.get(code, str(code))}
    else:
        reply = {'ino': st.ino, 'mode': st.mode, 'nlink': st.nlink, 'uid': st.uid, 'gid': st.gid, 'size': st.size,
                 'blocks': st.blocks, 'atimeNs': ns(st.atime), 'mtimeNs': ns(st.mtime), 'ctimeNs': ns(st.ctime)}
    sys.stdout.write(json.dumps(reply) + '\n')
    sys.stdout.flush()
`;

/**
 * lstat that always asks the filesystem (statx with AT_STATX_FORCE_SYNC) instead of trusting the kernel's attribute
 * cache. Through a FUSE mount served by high-level libfuse, every name of a hard-linked file is a separate kernel
 * inode, so attributes changed through one name stay cached under the others for up to attr_timeout; this reads
 * what RiverFS itself answers, and refreshes the kernel's copy for that name as a side effect (so a read through the
 * same name afterwards sees the right size). One long-lived python3 process answers, one request at a time.
 */
export class FreshStatter {
  private readonly child: ChildProcessWithoutNullStreams;
  private buffered = '';
  private readonly waiting: ((line: string) => void)[] = [];
  private failure: Error | undefined;

  constructor() {
    this.child = spawn('python3', ['-u', '-c', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.buffered += chunk;
      for (let newline = this.buffered.indexOf('\n'); newline >= 0; newline = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, newline);
        this.buffered = this.buffered.slice(newline + 1);
        this.waiting.shift()?.(line);
      }
    });
    this.child.on('exit', (code) => {
      this.failure = new Error(`the statx helper exited with ${code}: ${stderr}`);
      for (const wake of this.waiting.splice(0)) {
        wake('');
      }
    });
  }

  /** lstat(2), from the filesystem itself. */
  lstat(path: string | Buffer): Promise<FreshStatResult> {
    return this.ask('L', path);
  }

  /** stat(2), following a final symlink, from the filesystem itself (and refreshing the kernel's copy). */
  stat(path: string | Buffer): Promise<FreshStatResult> {
    return this.ask('F', path);
  }

  private async ask(kind: 'L' | 'F', path: string | Buffer): Promise<FreshStatResult> {
    if (this.failure) {
      throw this.failure;
    }
    const line = await new Promise<string>((resolve) => {
      this.waiting.push(resolve);
      this.child.stdin.write(`${kind}${Buffer.from(path).toString('hex')}\n`);
    });
    // The helper may have died while this request waited.
    const failure = this.failure as Error | undefined;
    if (failure) {
      throw failure;
    }
    const reply = JSON.parse(line) as Record<string, unknown>;
    if (typeof reply.errno === 'string') {
      return { errno: reply.errno };
    }
    return {
      ino: reply.ino as number,
      mode: reply.mode as number,
      nlink: reply.nlink as number,
      uid: reply.uid as number,
      gid: reply.gid as number,
      size: reply.size as number,
      blocks: reply.blocks as number,
      atimeNs: BigInt(reply.atimeNs as string),
      mtimeNs: BigInt(reply.mtimeNs as string),
      ctimeNs: BigInt(reply.ctimeNs as string),
    };
  }

  /** Like lstat, but fails on an error. */
  async mustLstat(path: string | Buffer): Promise<FreshStat> {
    const result = await this.lstat(path);
    if ('errno' in result) {
      throw Object.assign(new Error(`statx ${String(path)}: ${result.errno}`), { code: result.errno });
    }
    return result;
  }

  close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.stdin.end();
    });
  }
}
