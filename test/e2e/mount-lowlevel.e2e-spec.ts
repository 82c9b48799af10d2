import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { pollUntil } from '../../src/grid/process.util';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { metricValue } from '../support/admin-get.helper';
import { LockAgent } from '../support/lock-agent.helper';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { freshRootDircap } from '../support/tahoe.helper';

/** What `ls -a` lists: what any listing would show, hidden names included. */
function listAll(dir: string): string[] {
  return execFileSync('ls', ['-a', dir], { encoding: 'utf8' })
    .split('\n')
    .filter((name) => name !== '');
}

/**
 * The mount on the FUSE low-level API (issue 13 step 2): requests by inode number, so an open file that loses its
 * name keeps its inode (no `.fuse_hidden` names), and all hard links of a file are one kernel inode.
 */
describe('riverfs mount on the low-level FUSE API', () => {
  const client = testTahoeClient();

  afterAll(async () => {
    await client.close();
  });

  it('keeps an unlinked open file readable and writable, lists no stray name, and frees it after the last close', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--fuse-api', 'lowlevel'] });
      try {
        expect(riverfs.log).toContain('fuse api:       lowlevel');
        const api = request(riverfs.adminUrl);
        const auth = { Authorization: `Bearer ${riverfs.adminToken()}` };
        const dir = path.join(mountpoint, 'd');
        fs.mkdirSync(dir);
        const file = path.join(dir, 'f');
        fs.writeFileSync(file, 'hello');

        const fd = fs.openSync(file, 'r+');
        const second = fs.openSync(file, 'r');
        const ino = fs.fstatSync(fd).ino;
        fs.unlinkSync(file);
        expect(listAll(dir)).toEqual(['.', '..']);
        expect(listAll(mountpoint)).toEqual(['.', '..', 'd']);
        expect(fs.existsSync(file)).toBe(false);

        expect(fs.fstatSync(fd)).toMatchObject({ ino, nlink: 0, size: 5 });
        const buffer = Buffer.alloc(64);
        expect(buffer.toString('utf8', 0, fs.readSync(fd, buffer, 0, 64, 0))).toBe('hello');
        expect(fs.writeSync(fd, ' world', 5)).toBe(6);
        expect(fs.fstatSync(fd).size).toBe(11);
        expect(buffer.toString('utf8', 0, fs.readSync(second, buffer, 0, 64, 0))).toBe('hello world');
        fs.closeSync(second);
        expect(buffer.toString('utf8', 0, fs.readSync(fd, buffer, 0, 64, 0))).toBe('hello world');
        const held = await api.get(`/admin/inodes/${ino}`).set(auth);
        expect(held.status).toBe(200);
        expect(held.body).toMatchObject({ ino, nlink: 0 });
        expect(listAll(dir)).toEqual(['.', '..']);

        fs.closeSync(fd);
        // The kernel forgets the inode after its last close, asynchronously: the store frees it then.
        await pollUntil(
          async () => ((await api.get(`/admin/inodes/${ino}`).set(auth)).status === 404 ? true : undefined),
          {
            timeoutMs: 10_000,
            intervalMs: 50,
            describeTimeout: () => `inode ${ino} was not freed after its last close and forget`,
          },
        );
        expect(listAll(dir)).toEqual(['.', '..']);
        fs.writeFileSync(file, 'again');
        expect(fs.readFileSync(file, 'utf8')).toBe('again');
      } finally {
        await riverfs.dispose();
      }
    });
  });

  it('keeps a file replaced by rename readable through its open descriptor, with no stray name', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--fuse-api', 'lowlevel'] });
      try {
        const target = path.join(mountpoint, 'config');
        const staged = path.join(mountpoint, 'config.new');
        fs.writeFileSync(target, 'old');
        const fd = fs.openSync(target, 'r');
        fs.writeFileSync(staged, 'new content');
        fs.renameSync(staged, target);
        expect(listAll(mountpoint)).toEqual(['.', '..', 'config']);
        const buffer = Buffer.alloc(64);
        expect(buffer.toString('utf8', 0, fs.readSync(fd, buffer, 0, 64, 0))).toBe('old');
        expect(fs.fstatSync(fd).nlink).toBe(0);
        expect(fs.readFileSync(target, 'utf8')).toBe('new content');
        fs.closeSync(fd);
        expect(listAll(mountpoint)).toEqual(['.', '..', 'config']);
      } finally {
        await riverfs.dispose();
      }
    });
  });

  it('shows a write through one hard link at once through another, with kernel caching on', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, {
        args: ['--fuse-api', 'lowlevel', '--attr-timeout', '5', '--entry-timeout', '5'],
      });
      try {
        const first = path.join(mountpoint, 'a');
        const other = path.join(mountpoint, 'b');
        fs.writeFileSync(first, 'one');
        fs.linkSync(first, other);
        // Cached now: attributes and pages through the second name.
        expect(fs.statSync(other)).toMatchObject({ size: 3, nlink: 2 });
        expect(fs.readFileSync(other, 'utf8')).toBe('one');

        fs.appendFileSync(first, ' two');
        expect(fs.statSync(other).size).toBe(7);
        expect(fs.readFileSync(other, 'utf8')).toBe('one two');

        // While the writer still has the file open, too.
        const fd = fs.openSync(first, 'r+');
        fs.writeSync(fd, 'ONE', 0);
        expect(fs.readFileSync(other, 'utf8')).toBe('ONE two');
        fs.writeSync(fd, ' three', 7);
        expect(fs.statSync(other).size).toBe(13);
        expect(fs.readFileSync(other, 'utf8')).toBe('ONE two three');
        fs.closeSync(fd);

        fs.chmodSync(first, 0o600);
        expect(fs.statSync(other).mode & 0o777).toBe(0o600);
        fs.unlinkSync(first);
        expect(fs.statSync(other).nlink).toBe(1);
        expect(fs.readFileSync(other, 'utf8')).toBe('ONE two three');
      } finally {
        await riverfs.dispose();
      }
    });
  });

  it('shows a remote change pulled while the file is open, its pages and attributes cached, at the next fstat and read', async () => {
    const rootCap = await freshRootDircap();
    const dirCap = await client.mkdirChild(rootCap, 'shared');
    const putRemote = async (data: string): Promise<void> => {
      await client.link(dirCap, 'f', await client.upload(Buffer.from(data)), { replace: true });
    };
    await putRemote('version 1');
    await withTempMountpoint(async (mountpoint) => {
      // Attributes trusted for a minute, listings for an hour: only the invalidation can make the change visible.
      const riverfs = await RiverFsProcess.start(mountpoint, {
        args: ['--root-cap', rootCap, '--dir-ttl', '3600', '--fuse-api', 'lowlevel', '--attr-timeout', '60'],
      });
      try {
        const fd = fs.openSync(path.join(mountpoint, 'shared', 'f'), 'r');
        const buffer = Buffer.alloc(64);
        expect(buffer.toString('utf8', 0, fs.readSync(fd, buffer, 0, 64, 0))).toBe('version 1');
        expect(fs.fstatSync(fd).size).toBe(9);

        await putRemote('version 2, longer');
        const pulled = await fetch(`${riverfs.adminUrl}/admin/sync`, {
          method: 'POST',
          headers: { authorization: `Bearer ${riverfs.adminToken()}`, 'content-type': 'application/json' },
          body: JSON.stringify({ path: '/shared', direction: 'pull', wait: true }),
        });
        expect(pulled.status).toBe(200);

        // The invalidation follows the pull's commit off the event loop: moments later, far within the 60 s the kernel
        // would otherwise trust what it holds.
        await pollUntil(() => (fs.fstatSync(fd).size === 17 ? true : undefined), {
          timeoutMs: 5_000,
          intervalMs: 20,
          describeTimeout: () => `fstat still says ${fs.fstatSync(fd).size} bytes after the pull`,
        });
        expect(buffer.toString('utf8', 0, fs.readSync(fd, buffer, 0, 64, 0))).toBe('version 2, longer');
        fs.closeSync(fd);
      } finally {
        await riverfs.dispose();
      }
    });
  }, 120_000);
  it("keeps a file's pages in the kernel across opens (1 MiB read-ahead; listings with no opendir round trip), and drops them when a pull changed the file", async () => {
    const rootCap = await freshRootDircap();
    const dirCap = await client.mkdirChild(rootCap, 'shared');
    const size = 256 * 1024;
    const putRemote = async (fill: number): Promise<void> => {
      await client.link(dirCap, 'f', await client.upload(Buffer.alloc(size, fill)), { replace: true });
    };
    await putRemote(0x61);
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, {
        args: ['--root-cap', rootCap, '--fuse-api', 'lowlevel', '--attr-timeout', '60', '--entry-timeout', '60'],
      });
      const readsServed = (): Promise<number> =>
        metricValue(riverfs, 'riverfs_fuse_op_duration_seconds_count{op="read"}');
      try {
        // Sequential reads come in requests of up to 1 MiB: the mount raised its kernel read-ahead (tests run as root).
        const device = fs.statSync(mountpoint).dev;
        const bdi = `${(device >> 8) & 0xfff}:${(device & 0xff) | ((device >> 12) & 0xfff00)}`;
        expect(fs.readFileSync(`/sys/class/bdi/${bdi}/read_ahead_kb`, 'utf8').trim()).toBe('1024');

        // A listing: RiverFS serves its pages; opening and closing the directory is libfuse's own answer.
        expect(fs.readdirSync(path.join(mountpoint, 'shared'))).toEqual(['f']);
        expect(await metricValue(riverfs, 'riverfs_fuse_op_duration_seconds_count{op="readdirplus"}')).toBeGreaterThan(
          0,
        );
        expect(await metricValue(riverfs, 'riverfs_fuse_op_duration_seconds_count{op="opendir"}')).toBe(0);

        const file = path.join(mountpoint, 'shared', 'f');
        expect(fs.readFileSync(file).equals(Buffer.alloc(size, 0x61))).toBe(true);
        const afterFirstRead = await readsServed();
        expect(afterFirstRead).toBeGreaterThan(0);

        // A second open of the unchanged file is served from the kernel's pages: no read reaches RiverFS.
        expect(fs.readFileSync(file).equals(Buffer.alloc(size, 0x61))).toBe(true);
        expect(await readsServed()).toBe(afterFirstRead);

        // Same size, other bytes: only the pull's invalidation can tell the kernel.
        await putRemote(0x62);
        const pulled = await fetch(`${riverfs.adminUrl}/admin/sync`, {
          method: 'POST',
          headers: { authorization: `Bearer ${riverfs.adminToken()}`, 'content-type': 'application/json' },
          body: JSON.stringify({ path: '/shared', direction: 'pull', wait: true }),
        });
        expect(pulled.status).toBe(200);
        expect(fs.readFileSync(file).equals(Buffer.alloc(size, 0x62))).toBe(true);
        expect(await readsServed()).toBeGreaterThan(afterFirstRead);
      } finally {
        await riverfs.dispose();
      }
    });
  }, 120_000);

  it("drops the kernel's cached name when a pull finds it renamed in Tahoe, without waiting out the entry timeout", async () => {
    const rootCap = await freshRootDircap();
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, {
        args: ['--root-cap', rootCap, '--fuse-api', 'lowlevel', '--attr-timeout', '60', '--entry-timeout', '60'],
      });
      const sync = async (direction: 'push' | 'pull'): Promise<void> => {
        const response = await fetch(`${riverfs.adminUrl}/admin/sync`, {
          method: 'POST',
          headers: { authorization: `Bearer ${riverfs.adminToken()}`, 'content-type': 'application/json' },
          body: JSON.stringify({ path: '/', direction, wait: true }),
        });
        expect(response.status).toBe(200);
      };
      try {
        const before = path.join(mountpoint, 'before');
        fs.writeFileSync(before, 'moved by another Tahoe client');
        await sync('push');
        const ino = fs.statSync(before).ino; // the kernel now holds the name, trusted for 60 s
        await client.rename(rootCap, 'before', 'after');
        await sync('pull');
        // The inode lives on under its new name: only the pull's notification can tell the kernel the old one went.
        // It goes out off the event loop once the pull is applied, so it may reach the kernel just after the pull's
        // answer: a bound far below the 60 s entry timeout, which is what the kernel would wait without it.
        await pollUntil(() => (fs.existsSync(before) ? undefined : true), {
          timeoutMs: 5000,
          intervalMs: 20,
          describeTimeout: () => 'the kernel still shows the old name 5 s after the pull (its entry timeout is 60 s)',
        });
        expect(fs.statSync(path.join(mountpoint, 'after')).ino).toBe(ino);
        expect(fs.readdirSync(mountpoint)).toEqual(['after']);
      } finally {
        await riverfs.dispose();
      }
    });
  }, 120_000);

  it('answers security.* getxattr in the binding while no file has one, and from the store once one is set', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--fuse-api', 'lowlevel'] });
      const getxattrsServed = (): Promise<number> =>
        metricValue(riverfs, 'riverfs_fuse_op_duration_seconds_count{op="getxattr"}');
      const probe = (file: string, name: string, cwd?: string): string =>
        execFileSync(
          'python3',
          [
            '-c',
            'import errno, os, sys\ntry:\n    print(os.getxattr(sys.argv[1], sys.argv[2]).decode())\n' +
              'except OSError as e:\n    print(errno.errorcode[e.errno])',
            file,
            name,
          ],
          { encoding: 'utf8', cwd },
        ).trim();
      const dir = path.join(mountpoint, 'd');
      const file = path.join(dir, 'f');
      try {
        fs.mkdirSync(dir);
        fs.writeFileSync(file, 'data');
        const before = await getxattrsServed();
        // A write(2) makes the kernel ask for security.capability; `ls -l` asks for security.selinux of each entry.
        fs.appendFileSync(file, 'more');
        for (const name of ['security.capability', 'security.selinux', 'security.label']) {
          expect(probe('f', name, dir)).toBe('ENODATA');
        }
        expect(await getxattrsServed()).toBe(before);

        execFileSync('python3', ['-c', 'import os, sys; os.setxattr(sys.argv[1], "security.label", b"top")', file]);
        const afterSet = await getxattrsServed();
        expect(probe('f', 'security.label', dir)).toBe('top');
        expect(probe('f', 'security.other', dir)).toBe('ENODATA');
        expect(await getxattrsServed()).toBe(afterSet + 2);

        // A restart finds the xattr in the store and leaves every security.* getxattr to it.
        await riverfs.stop();
        await riverfs.start();
        expect(probe(file, 'security.label')).toBe('top');
        expect(probe(file, 'security.other')).toBe('ENODATA');
      } finally {
        await riverfs.dispose();
      }
    });
  }, 120_000);

  it('closes read-only descriptors without a flush, and still ends the POSIX locks taken through them', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--fuse-api', 'lowlevel'] });
      const agents: LockAgent[] = [];
      try {
        const file = path.join(mountpoint, 'shared');
        fs.writeFileSync(file, 'read me');
        const flushes = async (): Promise<number> => {
          const response = await fetch(`${riverfs.adminUrl}/metrics`, {
            headers: { authorization: `Bearer ${riverfs.adminToken()}` },
          });
          const counted = (await response.text()).match(
            /^riverfs_fuse_op_duration_seconds_count\{op="flush"\} (\d+)$/m,
          );
          return Number(counted?.[1] ?? 0);
        };
        const before = await flushes();
        for (let round = 0; round < 5; round++) {
          expect(fs.readFileSync(file, 'utf8')).toBe('read me');
        }
        fs.appendFileSync(file, '!');
        // Five read-only closes cost no flush; the append's close does (it persists what was written).
        expect((await flushes()) - before).toBe(1);

        const writer = await LockAgent.open(file);
        agents.push(writer);
        for (const ending of ['close', 'kill'] as const) {
          const reader = await LockAgent.open(file, { readOnly: true });
          agents.push(reader);
          expect(await reader.send('setlk r 0 10')).toEqual({ ok: true });
          expect(await writer.send('setlk w 0 1')).toEqual({ ok: false, errno: 'EAGAIN' });
          if (ending === 'close') {
            expect(await reader.send('close')).toEqual({ ok: true });
          } else {
            await reader.killAndWait();
          }
          // Ended by the release the kernel sends once the last descriptor is closed (there was no flush to end it).
          await pollUntil(async () => ((await writer.send('setlk w 0 1')).ok ? true : undefined), {
            timeoutMs: 10_000,
            intervalMs: 20,
            describeTimeout: () => `the read lock outlived its read-only descriptor (${ending})`,
          });
          expect(await writer.send('setlk u 0 0')).toEqual({ ok: true });
        }
      } finally {
        await Promise.all(agents.map((agent) => agent.killAndWait()));
        await riverfs.dispose();
      }
    });
  }, 120_000);

  it('keeps fcntl and flock locks in RiverFS: conflicts, F_GETLK naming the holder, release when the holder dies', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--fuse-api', 'lowlevel'] });
      const agents: LockAgent[] = [];
      try {
        const file = path.join(mountpoint, 'locked');
        fs.writeFileSync(file, 'lock me');
        const holder = await LockAgent.open(file);
        agents.push(holder);
        const other = await LockAgent.open(file);
        agents.push(other);

        expect(await holder.send('setlk w 0 10')).toEqual({ ok: true });
        expect(await other.send('setlk r 5 1')).toEqual({ ok: false, errno: 'EAGAIN' });
        expect(await other.send('getlk w 0 0')).toEqual({ ok: true, type: 'w', start: 0, len: 10, pid: holder.pid });
        expect(await holder.send('flock ex nb')).toEqual({ ok: true });
        expect(await other.send('flock sh nb')).toEqual({ ok: false, errno: 'EAGAIN' });

        // The service, not the kernel, keeps them: its metrics counted the requests.
        const metrics = await (
          await fetch(`${riverfs.adminUrl}/metrics`, { headers: { authorization: `Bearer ${riverfs.adminToken()}` } })
        ).text();
        expect(metrics).toMatch(/riverfs_fuse_ops_total\{[^}]*op="setlk"[^}]*\} [1-9]/);

        // A process blocked waiting for a lock can be interrupted (Ctrl-C): the wait ends with EINTR, nothing is taken.
        const lockWaits = (): Promise<number> => metricValue(riverfs, 'riverfs_file_lock_waits');
        for (const blocking of ['setlkw w 0 1', 'flock ex']) {
          const waiting = other.send(blocking);
          await pollUntil(async () => ((await lockWaits()) === 1 ? true : undefined), {
            timeoutMs: 10_000,
            intervalMs: 20,
            describeTimeout: () => `"${blocking}" did not start waiting`,
          });
          process.kill(other.pid, 'SIGUSR1');
          expect(await waiting).toEqual({ ok: false, errno: 'EINTR' });
          expect(await lockWaits()).toBe(0);
        }
        expect(await other.send('setlk w 0 1')).toEqual({ ok: false, errno: 'EAGAIN' });

        // A killed process's descriptors close: its POSIX locks end with the flush, its flock with the release.
        await holder.killAndWait();
        expect(await other.send('setlk w 0 0')).toEqual({ ok: true });
        expect(await other.send('flock ex nb')).toEqual({ ok: true });
      } finally {
        await Promise.all(agents.map((agent) => agent.killAndWait()));
        await riverfs.dispose();
      }
    });
  }, 120_000);
});
