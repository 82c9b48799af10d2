/**
 * The FUSE low-level binding (src/fuse-lowlevel) on a real mount, serving the in-memory test filesystem.
 * FUSE handlers run on this process's event loop, so the mount is only touched asynchronously (fs.promises, child
 * processes): a synchronous call would wait for a reply that this very thread has to send.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { pollUntil } from '../../src/grid/process.util';
import { LowLevelMount } from '../../src/fuse-lowlevel';
import { MemoryLowLevelFs, type MemoryFsOptions } from '../support/memory-lowlevel-fs';

const run = promisify(execFile);
const ROOT = 1;

async function withMount(
  options: MemoryFsOptions,
  work: (mountpoint: string, memory: MemoryLowLevelFs, mount: LowLevelMount) => Promise<void>,
): Promise<void> {
  const mountpoint = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-lowlevel-'));
  const memory = new MemoryLowLevelFs(options);
  const unexpected: unknown[] = [];
  let mount: LowLevelMount | undefined;
  try {
    mount = await LowLevelMount.mount(mountpoint, memory, {
      fuseOptions: ['fsname=riverfs-test', 'subtype=memory', 'default_permissions'],
      onUnexpectedError: (error) => unexpected.push(error),
    });
    await work(mountpoint, memory, mount);
    expect(unexpected).toEqual([]);
  } finally {
    if (mount !== undefined) {
      await mount.unmount();
    }
    fs.rmSync(mountpoint, { recursive: true, force: true });
  }
}

/** Makes the kernel drop unused dentries and inodes, so that it sends FORGET for them. */
async function dropKernelCaches(): Promise<void> {
  await run('sh', ['-c', 'echo 2 > /proc/sys/vm/drop_caches']);
}

/** A python3 process holding a lock on `file` until killed; resolves once it holds it. */
async function lockHolder(file: string, kind: 'fcntl' | 'flock'): Promise<ChildProcessWithoutNullStreams> {
  const take =
    kind === 'fcntl'
      ? 'fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)'
      : 'fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)';
  const child = spawn('python3', [
    '-c',
    `import fcntl, sys, time\nf = open(sys.argv[1], 'r+')\n${take}\nprint('locked', flush=True)\ntime.sleep(600)`,
    file,
  ]);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await pollUntil(() => (output.includes('locked') ? true : child.exitCode !== null ? false : undefined), {
    timeoutMs: 20000,
    intervalMs: 20,
    describeTimeout: () => `the lock holder did not report: ${output}`,
  }).then((locked) => {
    if (!locked) {
      throw new Error(`the lock holder failed: ${output}`);
    }
  });
  return child;
}

/** What a second process sees: F_GETLK's answer and whether each kind of lock can be taken without waiting. */
async function probeLocks(file: string): Promise<{ getlkPid: number; fcntl: string; flock: string }> {
  const script = `
import fcntl, json, os, struct, sys
f = open(sys.argv[1], 'r+')
query = struct.pack('hhqqi', fcntl.F_WRLCK, os.SEEK_SET, 0, 10, 0)
answer = struct.unpack('hhqqi', fcntl.fcntl(f, fcntl.F_GETLK, query))
def attempt(take):
    try:
        take()
        return 'granted'
    except OSError as error:
        return 'refused'
result = {'getlkPid': answer[4] if answer[0] != fcntl.F_UNLCK else 0,
          'fcntl': attempt(lambda: fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)),
          'flock': attempt(lambda: fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB))}
print(json.dumps(result))
`;
  const { stdout } = await run('python3', ['-c', script, file]);
  return JSON.parse(stdout) as { getlkPid: number; fcntl: string; flock: string };
}

describe('FUSE low-level binding on a real mount', () => {
  it('reports the libfuse it was built against (3.x)', () => {
    expect(Math.floor(LowLevelMount.libfuseVersion() / 100)).toBe(3);
  });

  it('creates, writes, reads, renames and unlinks files and directories', async () => {
    await withMount({}, async (mnt) => {
      await fs.promises.mkdir(path.join(mnt, 'dir'));
      const file = path.join(mnt, 'dir', 'a.txt');
      const data = Buffer.alloc(3 * 1024 * 1024 + 17, 'riverfs');
      await fs.promises.writeFile(file, data);
      expect((await fs.promises.readFile(file)).equals(data)).toBe(true);
      expect((await fs.promises.stat(file)).size).toBe(data.length);

      await fs.promises.rename(file, path.join(mnt, 'b.txt'));
      await expect(fs.promises.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await fs.promises.readFile(path.join(mnt, 'b.txt'))).equals(data)).toBe(true);

      await fs.promises.symlink('b.txt', path.join(mnt, 'link'));
      expect(await fs.promises.readlink(path.join(mnt, 'link'))).toBe('b.txt');
      await fs.promises.link(path.join(mnt, 'b.txt'), path.join(mnt, 'hard'));
      expect((await fs.promises.stat(path.join(mnt, 'hard'))).nlink).toBe(2);

      await fs.promises.truncate(path.join(mnt, 'b.txt'), 5);
      expect(await fs.promises.readFile(path.join(mnt, 'hard'), 'utf8')).toBe('river');

      await fs.promises.unlink(path.join(mnt, 'b.txt'));
      await fs.promises.unlink(path.join(mnt, 'hard'));
      await fs.promises.unlink(path.join(mnt, 'link'));
      await expect(fs.promises.rmdir(mnt + '/missing')).rejects.toMatchObject({ code: 'ENOENT' });
      await fs.promises.rmdir(path.join(mnt, 'dir'));
      expect(await fs.promises.readdir(mnt)).toEqual([]);

      await fs.promises.writeFile(path.join(mnt, 'x'), 'x');
      const { stdout } = await run('python3', [
        '-c',
        'import os,sys; os.setxattr(sys.argv[1], "user.k", b"v"); print(os.getxattr(sys.argv[1], "user.k").decode(), os.listxattr(sys.argv[1]))',
        path.join(mnt, 'x'),
      ]);
      expect(stdout.trim()).toBe("v ['user.k']");
    });
  });

  it('hands read the same reply storage from one request to the next, and lists large directories through it', async () => {
    await withMount({ readInto: true }, async (mnt, memory) => {
      const file = path.join(mnt, 'data');
      const data = Buffer.alloc(4 * 1024 * 1024 + 5, 'river');
      await fs.promises.writeFile(file, data);
      // Without keep_cache each open drops the file's pages, so every pass reaches the filesystem.
      for (let pass = 0; pass < 3; pass++) {
        expect((await fs.promises.readFile(file)).equals(data)).toBe(true);
      }
      const reads = memory.calls.get('read') ?? 0;
      expect(reads).toBeGreaterThanOrEqual(12);
      // A fresh buffer per request would make one storage per read: reused, they are as many as were answered at once.
      expect(memory.readStorages.size).toBeLessThanOrEqual(8);

      await fs.promises.mkdir(path.join(mnt, 'many'));
      const names = Array.from({ length: 3000 }, (_, i) => `entry-with-a-long-name-${String(i).padStart(5, '0')}`);
      for (const name of names) {
        await fs.promises.writeFile(path.join(mnt, 'many', name), '');
      }
      for (let pass = 0; pass < 2; pass++) {
        expect((await fs.promises.readdir(path.join(mnt, 'many'))).sort()).toEqual(names);
      }
    });
  });

  it('gives the kernel attributes with their timeout: a second stat within it asks nothing', async () => {
    await withMount({ attrTimeout: 60, entryTimeout: 60 }, async (mnt, memory) => {
      await fs.promises.writeFile(path.join(mnt, 'f'), 'hello');
      await fs.promises.stat(path.join(mnt, 'f'));
      const lookups = memory.count('lookup');
      const getattrs = memory.count('getattr');
      for (let i = 0; i < 5; i++) {
        expect((await fs.promises.stat(path.join(mnt, 'f'))).size).toBe(5);
      }
      expect(memory.count('lookup')).toBe(lookups);
      expect(memory.count('getattr')).toBe(getattrs);
    });
  });

  it('with a zero attribute timeout, every stat asks again', async () => {
    await withMount({ attrTimeout: 0, entryTimeout: 60 }, async (mnt, memory) => {
      await fs.promises.writeFile(path.join(mnt, 'f'), 'hello');
      await fs.promises.stat(path.join(mnt, 'f'));
      const getattrs = memory.count('getattr');
      for (let i = 0; i < 5; i++) {
        await fs.promises.stat(path.join(mnt, 'f'));
      }
      expect(memory.count('getattr')).toBeGreaterThanOrEqual(getattrs + 5);
    });
  });

  it('lists with readdirplus, counts those entries as lookups, and forgets them all when the kernel drops them', async () => {
    await withMount({ attrTimeout: 60, entryTimeout: 60 }, async (mnt, memory) => {
      await fs.promises.mkdir(path.join(mnt, 'd'));
      const names = Array.from({ length: 300 }, (_, i) => `file-with-a-longish-name-${i}`);
      for (const name of names) {
        await fs.promises.writeFile(path.join(mnt, 'd', name), name);
      }
      await dropKernelCaches();
      await pollUntil(() => (memory.inoOf(ROOT, 'd') !== undefined && allForgotten(memory) ? true : undefined), {
        timeoutMs: 20000,
        describeTimeout: () => 'the kernel did not forget the created files',
      });

      const listed = await fs.promises.readdir(path.join(mnt, 'd'), { withFileTypes: true });
      expect(listed.map((entry) => entry.name).sort()).toEqual([...names].sort());
      expect(listed.every((entry) => entry.isFile())).toBe(true);
      expect(memory.count('readdirplus')).toBeGreaterThan(0);
      expect(memory.count('readdir')).toBe(0);
      const dir = memory.inoOf(ROOT, 'd')!;
      for (const name of names) {
        expect(memory.inodes.get(memory.inoOf(dir, name)!)!.lookups).toBe(1);
      }
      // The attributes came with the listing: stat asks nothing more.
      const lookups = memory.count('lookup');
      const getattrs = memory.count('getattr');
      for (const name of names.slice(0, 20)) {
        await fs.promises.stat(path.join(mnt, 'd', name));
      }
      expect(memory.count('lookup')).toBe(lookups);
      expect(memory.count('getattr')).toBe(getattrs);

      await dropKernelCaches();
      await pollUntil(() => (allForgotten(memory) ? true : undefined), {
        timeoutMs: 20000,
        describeTimeout: () => `lookup counts left: ${JSON.stringify(lookupCounts(memory))}`,
      });
      expect(memory.count('forget')).toBeGreaterThan(0);
    });
  });

  it('keeps an unlinked open file readable and writable until its last release, then frees it', async () => {
    await withMount({}, async (mnt, memory) => {
      const file = path.join(mnt, 'open-then-unlinked');
      await fs.promises.writeFile(file, 'still here');
      const ino = memory.inoOf(ROOT, 'open-then-unlinked')!;
      const handle = await fs.promises.open(file, 'r+');
      try {
        await fs.promises.unlink(file);
        expect(await fs.promises.readdir(mnt)).toEqual([]);
        expect(memory.inodes.has(ino)).toBe(true);
        await handle.write(Buffer.from(' and more'), 0, 9, 10);
        const read = await handle.read(Buffer.alloc(64), 0, 64, 0);
        expect(read.buffer.subarray(0, read.bytesRead).toString()).toBe('still here and more');
        expect((await handle.stat()).nlink).toBe(0);
      } finally {
        await handle.close();
      }
      await pollUntil(() => (memory.count('release') > 0 ? true : undefined), {
        timeoutMs: 10000,
        describeTimeout: () => 'no release after close',
      });
      await dropKernelCaches();
      await pollUntil(() => (!memory.inodes.has(ino) ? true : undefined), {
        timeoutMs: 20000,
        describeTimeout: () => `inode ${ino} still alive: ${JSON.stringify(memory.inodes.get(ino)?.lookups)} lookups`,
      });
    });
  });

  it('notify_inval_inode makes a changed file visible although its pages and attributes are cached', async () => {
    await withMount({ keepCache: true, attrTimeout: 3600, entryTimeout: 3600 }, async (mnt, memory, mount) => {
      const file = path.join(mnt, 'cached');
      await fs.promises.writeFile(file, 'AAAAAAAA');
      expect(await fs.promises.readFile(file, 'utf8')).toBe('AAAAAAAA');
      const ino = memory.inoOf(ROOT, 'cached')!;
      memory.replaceContent(ino, Buffer.from('BBBBBBBB'));
      // The kernel keeps serving what it cached: the change is invisible without a notification…
      // (read without fstat: a read marks the cached atime stale, so a stat would fetch new attributes, and the
      // kernel drops pages whose file's mtime changed.)
      expect(await readWithoutStat(file)).toBe('AAAAAAAA');
      await mount.notifyInvalInode(ino);
      // …and visible at once after one.
      expect(await readWithoutStat(file)).toBe('BBBBBBBB');

      memory.replaceContent(ino, Buffer.from('CCCCCCCCCCCC'));
      await mount.notifyInvalInode(ino, -1, 0); // attributes only
      expect((await fs.promises.stat(file)).size).toBe(12);
    });
  });

  it('notify_inval_entry and notify_delete drop names the kernel cached', async () => {
    await withMount({ attrTimeout: 3600, entryTimeout: 3600 }, async (mnt, memory, mount) => {
      await fs.promises.writeFile(path.join(mnt, 'old'), 'x');
      await fs.promises.writeFile(path.join(mnt, 'gone'), 'y');
      const ino = memory.inoOf(ROOT, 'old')!;
      const gone = memory.inoOf(ROOT, 'gone')!;
      // Changes behind the kernel's back:
      memory.rename({ uid: 0, gid: 0, pid: 0, umask: 0 }, ROOT, 'old', ROOT, 'new', 0);
      memory.unlink({ uid: 0, gid: 0, pid: 0, umask: 0 }, ROOT, 'gone');
      expect((await fs.promises.stat(path.join(mnt, 'old'))).ino).toBe(ino);
      await mount.notifyInvalEntry(ROOT, 'old');
      await expect(fs.promises.stat(path.join(mnt, 'old'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await fs.promises.stat(path.join(mnt, 'new'))).ino).toBe(ino);

      expect((await fs.promises.stat(path.join(mnt, 'gone'))).ino).toBe(gone);
      await mount.notifyDelete(ROOT, gone, 'gone');
      await expect(fs.promises.stat(path.join(mnt, 'gone'))).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });

  it('passes fcntl and flock locks to the filesystem: conflicts between processes, F_GETLK naming the holder, release when the holder dies', async () => {
    await withMount({}, async (mnt, memory) => {
      const file = path.join(mnt, 'locked');
      await fs.promises.writeFile(file, 'lock me');

      const fcntlHolder = await lockHolder(file, 'fcntl');
      try {
        const seen = await probeLocks(file);
        expect(seen.getlkPid).toBe(fcntlHolder.pid);
        expect(seen.fcntl).toBe('refused');
        expect(seen.flock).toBe('granted'); // flock and fcntl locks do not conflict on Linux
      } finally {
        fcntlHolder.kill('SIGKILL');
      }
      await pollUntil(async () => ((await probeLocks(file)).fcntl === 'granted' ? true : undefined), {
        timeoutMs: 10000,
        describeTimeout: () => 'the dead holder’s fcntl lock was not released',
      });

      const flockHolder = await lockHolder(file, 'flock');
      try {
        const seen = await probeLocks(file);
        expect(seen.flock).toBe('refused');
        expect(seen.getlkPid).toBe(0);
      } finally {
        flockHolder.kill('SIGKILL');
      }
      await pollUntil(async () => ((await probeLocks(file)).flock === 'granted' ? true : undefined), {
        timeoutMs: 10000,
        describeTimeout: () => 'the dead holder’s flock was not released',
      });
      expect(memory.count('setlk')).toBeGreaterThan(0);
      expect(memory.count('getlk')).toBeGreaterThan(0);
      expect(memory.count('flock')).toBeGreaterThan(0);
    });
  });

  it('answers bad calls with the errno a local filesystem gives', async () => {
    await withMount({}, async (mnt) => {
      await fs.promises.mkdir(path.join(mnt, 'd'));
      await fs.promises.writeFile(path.join(mnt, 'd', 'f'), 'x');
      await expect(fs.promises.rmdir(path.join(mnt, 'd'))).rejects.toMatchObject({ code: 'ENOTEMPTY' });
      await expect(fs.promises.mkdir(path.join(mnt, 'd'))).rejects.toMatchObject({ code: 'EEXIST' });
      await expect(fs.promises.readFile(path.join(mnt, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(fs.promises.readdir(path.join(mnt, 'd', 'f'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    });
  });

  it('ends the session when someone else unmounts it', async () => {
    const mountpoint = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-lowlevel-'));
    const memory = new MemoryLowLevelFs();
    try {
      const mount = await LowLevelMount.mount(mountpoint, memory);
      await fs.promises.writeFile(path.join(mountpoint, 'f'), 'x');
      await run('fusermount3', ['-u', mountpoint]);
      await mount.ended;
      expect(memory.destroyed).toBe(true);
      await expect(mount.notifyInvalInode(ROOT)).rejects.toThrow('not mounted');
    } finally {
      await run('fusermount3', ['-uz', mountpoint]).catch(() => undefined);
      fs.rmSync(mountpoint, { recursive: true, force: true });
    }
  });
});

async function readWithoutStat(file: string): Promise<string> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(64), 0, 64, 0);
    return buffer.subarray(0, bytesRead).toString();
  } finally {
    await handle.close();
  }
}

function lookupCounts(memory: MemoryLowLevelFs): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const [ino, inode] of memory.inodes) {
    if (ino !== ROOT && inode.lookups !== 0) {
      counts[ino] = inode.lookups;
    }
  }
  return counts;
}

function allForgotten(memory: MemoryLowLevelFs): boolean {
  const counts = Object.values(lookupCounts(memory));
  if (counts.some((count) => count < 0)) {
    throw new Error(`negative lookup count: the binding forgot more than it looked up`);
  }
  return counts.length === 0;
}
