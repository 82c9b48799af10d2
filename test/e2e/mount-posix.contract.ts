import fs from 'node:fs';
import path from 'node:path';
import { pollUntil } from '../../src/grid/process.util';
import { FreshStatter, type FreshStat } from '../support/fresh-stat.helper';
import { errnoOf, expectErrno, python, randomBytesFrom, seededRandom, sh } from '../support/fs-probe.helper';
import { type MountBackend, useSuiteMount } from '../support/mount-backends.helper';
import { testGridUsableBytes } from '../support/tahoe.helper';
import { eventually } from '../support/tahoe-tree.helper';

const MiB = 1024 * 1024;
const CACHE_SIZE = 256 * MiB;
/** The kernel trusts attributes for attr_timeout (1 s); polls that wait for it give it this long. */
const ATTR_DEADLINE_MS = 3000;
const { O_WRONLY, O_RDONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW } = fs.constants;

const j = path.join;

/** Waits until the wall clock has moved on by `ms`, so timestamps taken before and after differ on any filesystem. */
async function clockAdvances(ms = 15): Promise<void> {
  const mark = Date.now() + ms;
  await pollUntil(() => (Date.now() >= mark ? true : undefined), {
    timeoutMs: 1000,
    intervalMs: 5,
    describeTimeout: () => 'the clock did not advance',
  });
}

function typeOf(stat: fs.Stats): string {
  if (stat.isFile()) {
    return 'file';
  }
  if (stat.isDirectory()) {
    return 'dir';
  }
  if (stat.isSymbolicLink()) {
    return 'symlink';
  }
  if (stat.isFIFO()) {
    return 'fifo';
  }
  if (stat.isSocket()) {
    return 'socket';
  }
  if (stat.isCharacterDevice()) {
    return 'char';
  }
  return stat.isBlockDevice() ? 'block' : 'other';
}

/** Which of atime, mtime and ctime differ between two snapshots, as "amc" with "-" for unchanged. */
function changedTimes(before: FreshStat, after: FreshStat): string {
  return [
    before.atimeNs !== after.atimeNs ? 'a' : '-',
    before.mtimeNs !== after.mtimeNs ? 'm' : '-',
    before.ctimeNs !== after.ctimeNs ? 'c' : '-',
  ].join('');
}

/**
 * The core POSIX semantics of the mount, through plain fs calls (and python3 for what Node lacks), each checked
 * against what Linux answers; where the exact answer is a matter of Linux's behaviour (times), the same steps run in
 * a local directory too and the two are compared.
 */
export function describeMountSemantics(backend: MountBackend): void {
  describe(`the mount's POSIX semantics on ${backend.title}`, () => {
    const m = useSuiteMount(backend, 'posix', { args: ['--cache-size', `${CACHE_SIZE}`] });
    let fresh: FreshStatter;
    const umask = process.umask();

    beforeAll(() => {
      fresh = new FreshStatter();
    });

    afterAll(async () => {
      await fresh.close();
    });

    describe('files and directories', () => {
      it('should create, write, read, list and stat files and directories', () => {
        const d = m().dir('basic');
        fs.mkdirSync(j(d, 'sub'), 0o750);
        fs.writeFileSync(j(d, 'sub', 'f.txt'), 'hello, grid', { mode: 0o640 });

        expect(fs.readFileSync(j(d, 'sub', 'f.txt'), 'utf8')).toBe('hello, grid');
        expect(fs.readdirSync(d)).toEqual(['sub']);
        expect(fs.readdirSync(j(d, 'sub'), { withFileTypes: true }).map((e) => [e.name, e.isFile()])).toEqual([
          ['f.txt', true],
        ]);
        const file = fs.statSync(j(d, 'sub', 'f.txt'));
        expect([typeOf(file), file.size, file.nlink, file.mode & 0o7777]).toEqual(['file', 11, 1, 0o640 & ~umask]);
        expect([file.uid, file.gid]).toEqual([process.getuid!(), process.getgid!()]);
        const sub = fs.statSync(j(d, 'sub'));
        expect([typeOf(sub), sub.nlink, sub.mode & 0o7777]).toEqual(['dir', 2, 0o750 & ~umask]);
        expect(fs.statSync(d).nlink).toBe(3);
        fs.accessSync(j(d, 'sub', 'f.txt'), fs.constants.R_OK | fs.constants.W_OK);
        // Even root may not execute a file without any x bit.
        expectErrno(() => fs.accessSync(j(d, 'sub', 'f.txt'), fs.constants.X_OK), 'EACCES');
      });

      it('should answer ENOENT for every call on a missing name or through a missing directory', () => {
        const d = m().dir('enoent');
        const missing = j(d, 'missing');
        const file = j(d, 'file');
        fs.writeFileSync(file, 'x');
        const calls: [string, () => unknown][] = [
          ['stat', () => fs.statSync(missing)],
          ['lstat', () => fs.lstatSync(missing)],
          ['access', () => fs.accessSync(missing)],
          ['open', () => fs.openSync(missing, 'r')],
          ['readFile', () => fs.readFileSync(missing)],
          ['unlink', () => fs.unlinkSync(missing)],
          ['rmdir', () => fs.rmdirSync(missing)],
          ['rename from', () => fs.renameSync(missing, j(d, 'x'))],
          ['link from', () => fs.linkSync(missing, j(d, 'x'))],
          ['chmod', () => fs.chmodSync(missing, 0o600)],
          ['chown', () => fs.chownSync(missing, 1, 1)],
          ['truncate', () => fs.truncateSync(missing, 0)],
          ['utimes', () => fs.utimesSync(missing, 1, 1)],
          ['readdir', () => fs.readdirSync(missing)],
          ['readlink', () => fs.readlinkSync(missing)],
          ['mkdir below', () => fs.mkdirSync(j(missing, 'x'))],
          ['create below', () => fs.writeFileSync(j(missing, 'x'), 'x')],
          ['symlink below', () => fs.symlinkSync('t', j(missing, 'x'))],
          ['rename into', () => fs.renameSync(file, j(missing, 'x'))],
          ['link into', () => fs.linkSync(file, j(missing, 'x'))],
        ];
        const outcomes = Object.fromEntries(calls.map(([name, call]) => [name, errnoOf(call)]));

        expect(outcomes).toEqual(Object.fromEntries(calls.map(([name]) => [name, 'ENOENT'])));
        fs.unlinkSync(file);
        expectErrno(() => fs.statSync(file), 'ENOENT');
        expect(fs.readdirSync(d)).toEqual([]);
      });

      it('should answer EEXIST for names that exist, whatever they are', () => {
        const d = m().dir('eexist');
        fs.writeFileSync(j(d, 'f'), 'x');
        fs.mkdirSync(j(d, 'dir'));
        fs.symlinkSync('nowhere', j(d, 'dangling'));

        expect({
          mkdirOnDir: errnoOf(() => fs.mkdirSync(j(d, 'dir'))),
          mkdirOnFile: errnoOf(() => fs.mkdirSync(j(d, 'f'))),
          linkOnFile: errnoOf(() => fs.linkSync(j(d, 'f'), j(d, 'f'))),
          linkOnDir: errnoOf(() => fs.linkSync(j(d, 'f'), j(d, 'dir'))),
          symlinkOnFile: errnoOf(() => fs.symlinkSync('t', j(d, 'f'))),
          exclOnFile: errnoOf(() => fs.openSync(j(d, 'f'), 'wx')),
          exclOnDir: errnoOf(() => fs.openSync(j(d, 'dir'), O_CREAT | O_EXCL | O_RDONLY)),
          exclOnDanglingSymlink: errnoOf(() => fs.openSync(j(d, 'dangling'), 'wx')),
        }).toEqual({
          mkdirOnDir: 'EEXIST',
          mkdirOnFile: 'EEXIST',
          linkOnFile: 'EEXIST',
          linkOnDir: 'EEXIST',
          symlinkOnFile: 'EEXIST',
          exclOnFile: 'EEXIST',
          exclOnDir: 'EEXIST',
          exclOnDanglingSymlink: 'EEXIST',
        });
        expect(fs.readFileSync(j(d, 'f'), 'utf8')).toBe('x');
        expect(fs.readdirSync(d).sort()).toEqual(['dangling', 'dir', 'f']);
      });

      it('should answer ENOTEMPTY for rmdir and rename onto a directory with entries', () => {
        const d = m().dir('enotempty');
        fs.mkdirSync(j(d, 'full'));
        fs.writeFileSync(j(d, 'full', 'x'), '');
        fs.mkdirSync(j(d, 'other'));
        fs.mkdirSync(j(d, 'empty'));

        expectErrno(() => fs.rmdirSync(j(d, 'full')), 'ENOTEMPTY');
        expectErrno(() => fs.renameSync(j(d, 'other'), j(d, 'full')), 'ENOTEMPTY');
        fs.renameSync(j(d, 'other'), j(d, 'empty'));
        expect(fs.readdirSync(d).sort()).toEqual(['empty', 'full']);
        fs.unlinkSync(j(d, 'full', 'x'));
        fs.rmdirSync(j(d, 'full'));
        expect(fs.statSync(d).nlink).toBe(3);
      });

      it('should answer EISDIR for file calls on a directory', () => {
        const d = m().dir('eisdir');
        fs.mkdirSync(j(d, 'dir'));
        fs.writeFileSync(j(d, 'f'), 'x');

        expect({
          openForWriting: errnoOf(() => fs.openSync(j(d, 'dir'), 'r+')),
          writeFile: errnoOf(() => fs.writeFileSync(j(d, 'dir'), 'x')),
          readFile: errnoOf(() => fs.readFileSync(j(d, 'dir'))),
          unlink: errnoOf(() => fs.unlinkSync(j(d, 'dir'))),
          truncate: errnoOf(() => fs.truncateSync(j(d, 'dir'), 0)),
          renameFileOntoDir: errnoOf(() => fs.renameSync(j(d, 'f'), j(d, 'dir'))),
        }).toEqual({
          openForWriting: 'EISDIR',
          writeFile: 'EISDIR',
          readFile: 'EISDIR',
          unlink: 'EISDIR',
          truncate: 'EISDIR',
          renameFileOntoDir: 'EISDIR',
        });
      });

      it('should answer ENOTDIR when a file is used as a directory', () => {
        const d = m().dir('enotdir');
        fs.writeFileSync(j(d, 'f'), 'x');
        fs.mkdirSync(j(d, 'dir'));

        expect({
          statBelow: errnoOf(() => fs.statSync(j(d, 'f', 'x'))),
          mkdirBelow: errnoOf(() => fs.mkdirSync(j(d, 'f', 'x'))),
          createBelow: errnoOf(() => fs.writeFileSync(j(d, 'f', 'x'), '')),
          rmdir: errnoOf(() => fs.rmdirSync(j(d, 'f'))),
          readdir: errnoOf(() => fs.readdirSync(j(d, 'f'))),
          openDirectory: errnoOf(() => fs.openSync(j(d, 'f'), O_RDONLY | O_DIRECTORY)),
          renameDirOntoFile: errnoOf(() => fs.renameSync(j(d, 'dir'), j(d, 'f'))),
          renameBelowFile: errnoOf(() => fs.renameSync(j(d, 'dir'), j(d, 'f', 'x'))),
        }).toEqual({
          statBelow: 'ENOTDIR',
          mkdirBelow: 'ENOTDIR',
          createBelow: 'ENOTDIR',
          rmdir: 'ENOTDIR',
          readdir: 'ENOTDIR',
          openDirectory: 'ENOTDIR',
          renameDirOntoFile: 'ENOTDIR',
          renameBelowFile: 'ENOTDIR',
        });
      });

      it('should answer EINVAL, EPERM and ELOOP where Linux does', () => {
        const d = m().dir('einval');
        fs.mkdirSync(j(d, 'dir', 'sub'), { recursive: true });
        fs.writeFileSync(j(d, 'f'), 'x');
        fs.symlinkSync('loop-b', j(d, 'loop-a'));
        fs.symlinkSync('loop-a', j(d, 'loop-b'));
        const readOnly = fs.openSync(j(d, 'f'), 'r');
        try {
          expect({
            renameIntoOwnSubtree: errnoOf(() => fs.renameSync(j(d, 'dir'), j(d, 'dir', 'sub', 'x'))),
            rmdirDot: errnoOf(() => fs.rmdirSync(`${j(d, 'dir')}/.`)),
            readlinkOfFile: errnoOf(() => fs.readlinkSync(j(d, 'f'))),
            ftruncateReadOnly: errnoOf(() => fs.ftruncateSync(readOnly, 0)),
            hardLinkToDir: errnoOf(() => fs.linkSync(j(d, 'dir'), j(d, 'dirlink'))),
            symlinkLoop: errnoOf(() => fs.statSync(j(d, 'loop-a'))),
            noFollow: errnoOf(() => fs.openSync(j(d, 'loop-a'), O_RDONLY | O_NOFOLLOW)),
          }).toEqual({
            renameIntoOwnSubtree: 'EINVAL',
            rmdirDot: 'EINVAL',
            readlinkOfFile: 'EINVAL',
            ftruncateReadOnly: 'EINVAL',
            hardLinkToDir: 'EPERM',
            symlinkLoop: 'ELOOP',
            noFollow: 'ELOOP',
          });
        } finally {
          fs.closeSync(readOnly);
        }
        expect(fs.readdirSync(j(d, 'dir'))).toEqual(['sub']);
      });

      it('should take names of 255 bytes and answer ENAMETOOLONG for 256 in every call', () => {
        const d = m().dir('names');
        const max = 'n'.repeat(255);
        const tooLong = 'n'.repeat(256);
        fs.writeFileSync(j(d, max), 'longest');
        fs.mkdirSync(j(d, 'd'.repeat(255)));
        fs.symlinkSync(max, j(d, 's'.repeat(255)));
        fs.linkSync(j(d, max), j(d, 'l'.repeat(255)));
        fs.writeFileSync(j(d, 'short'), '');
        fs.renameSync(j(d, 'short'), j(d, 'r'.repeat(255)));

        expect(fs.readdirSync(d).map((name) => [name[0], Buffer.byteLength(name)])).toEqual(
          expect.arrayContaining([
            ['n', 255],
            ['d', 255],
            ['s', 255],
            ['l', 255],
            ['r', 255],
          ]),
        );
        expect(fs.readFileSync(j(d, 's'.repeat(255)), 'utf8')).toBe('longest');
        expect({
          create: errnoOf(() => fs.writeFileSync(j(d, tooLong), '')),
          mkdir: errnoOf(() => fs.mkdirSync(j(d, tooLong))),
          symlink: errnoOf(() => fs.symlinkSync('t', j(d, tooLong))),
          link: errnoOf(() => fs.linkSync(j(d, max), j(d, tooLong))),
          rename: errnoOf(() => fs.renameSync(j(d, max), j(d, tooLong))),
          stat: errnoOf(() => fs.statSync(j(d, tooLong))),
          unlink: errnoOf(() => fs.unlinkSync(j(d, tooLong))),
          rmdir: errnoOf(() => fs.rmdirSync(j(d, tooLong))),
        }).toEqual({
          create: 'ENAMETOOLONG',
          mkdir: 'ENAMETOOLONG',
          symlink: 'ENAMETOOLONG',
          link: 'ENAMETOOLONG',
          rename: 'ENAMETOOLONG',
          stat: 'ENAMETOOLONG',
          unlink: 'ENAMETOOLONG',
          rmdir: 'ENAMETOOLONG',
        });
        expect(python<number>('import os, sys; print(os.statvfs(sys.argv[1]).f_namemax)', [d])).toBe(255);
      });

      it('should keep symlinks with their exact targets and follow them', () => {
        const d = m().dir('symlinks');
        fs.mkdirSync(j(d, 'dir'));
        fs.writeFileSync(j(d, 'dir', 'target'), 'through the link');
        const longTarget = `${'t/'.repeat(2047)}x`;
        fs.symlinkSync('dir/target', j(d, 'relative'));
        fs.symlinkSync(j(d, 'dir'), j(d, 'absolute'));
        fs.symlinkSync('does/not/exist', j(d, 'dangling'));
        fs.symlinkSync(longTarget, j(d, 'long'));

        expect(fs.readlinkSync(j(d, 'relative'))).toBe('dir/target');
        expect(fs.readlinkSync(j(d, 'long'))).toBe(longTarget);
        expect(fs.readFileSync(j(d, 'relative'), 'utf8')).toBe('through the link');
        expect(fs.readdirSync(j(d, 'absolute'))).toEqual(['target']);
        const link = fs.lstatSync(j(d, 'relative'));
        expect([typeOf(link), link.mode & 0o7777, link.size, link.nlink]).toEqual(['symlink', 0o777, 10, 1]);
        expect(fs.lstatSync(j(d, 'long')).size).toBe(4095);
        expectErrno(() => fs.statSync(j(d, 'dangling')), 'ENOENT');
        expectErrno(() => fs.symlinkSync(`${longTarget}y`, j(d, 'too-long')), 'ENAMETOOLONG');
        fs.renameSync(j(d, 'relative'), j(d, 'renamed'));
        fs.unlinkSync(j(d, 'absolute'));
        expect(fs.readFileSync(j(d, 'renamed'), 'utf8')).toBe('through the link');
        expect(fs.readdirSync(d).sort()).toEqual(['dangling', 'dir', 'long', 'renamed']);
      });

      it('should make fifos, sockets and device nodes with their type and device number', () => {
        const d = m().dir('nodes');
        const made = python<Record<string, [number, number]>>(
          `
import json, os, socket, stat, sys
d = sys.argv[1]
os.mkfifo(os.path.join(d, 'fifo'), 0o640)
s = socket.socket(socket.AF_UNIX); s.bind(os.path.join(d, 'sock')); s.close()
os.mknod(os.path.join(d, 'chr'), 0o600 | stat.S_IFCHR, os.makedev(1, 3))
os.mknod(os.path.join(d, 'blk'), 0o600 | stat.S_IFBLK, os.makedev(8, 17))
os.mknod(os.path.join(d, 'reg'), 0o600 | stat.S_IFREG)
print(json.dumps({n: [os.lstat(os.path.join(d, n)).st_mode, os.lstat(os.path.join(d, n)).st_rdev] for n in sorted(os.listdir(d))}))
`,
          [d],
        );

        expect(Object.keys(made)).toEqual(['blk', 'chr', 'fifo', 'reg', 'sock']);
        const types = Object.fromEntries(Object.keys(made).map((name) => [name, typeOf(fs.lstatSync(j(d, name)))]));
        expect(types).toEqual({ blk: 'block', chr: 'char', fifo: 'fifo', reg: 'file', sock: 'socket' });
        expect(made.chr[1]).toBe(0x103);
        expect(made.blk[1]).toBe(0x811);
        expect(made.fifo[0] & 0o7777).toBe(0o640 & ~umask);
      });

      it('should change mode and owner (chmod, chown, lchown) and keep set-group-ID directories passing their group', () => {
        const d = m().dir('chmod');
        fs.writeFileSync(j(d, 'f'), 'x');
        fs.symlinkSync('f', j(d, 'link'));
        fs.chmodSync(j(d, 'f'), 0o4751);
        fs.chownSync(j(d, 'f'), 1234, 5678);
        fs.lchownSync(j(d, 'link'), 42, 43);
        fs.mkdirSync(j(d, 'sgid'));
        fs.chownSync(j(d, 'sgid'), 0, 4321);
        fs.chmodSync(j(d, 'sgid'), 0o2775);
        fs.mkdirSync(j(d, 'sgid', 'sub'));
        fs.writeFileSync(j(d, 'sgid', 'file'), '');

        const file = fs.statSync(j(d, 'f'));
        // chown clears set-user-ID (Linux does it even for root).
        expect([file.mode & 0o7777, file.uid, file.gid]).toEqual([0o751, 1234, 5678]);
        expect([fs.lstatSync(j(d, 'link')).uid, fs.lstatSync(j(d, 'link')).gid]).toEqual([42, 43]);
        expect(fs.statSync(j(d, 'sgid', 'sub')).gid).toBe(4321);
        expect(fs.statSync(j(d, 'sgid', 'sub')).mode & 0o2000).toBe(0o2000);
        expect(fs.statSync(j(d, 'sgid', 'file')).gid).toBe(4321);
        fs.chownSync(j(d, 'f'), -1, 99);
        expect([fs.statSync(j(d, 'f')).uid, fs.statSync(j(d, 'f')).gid]).toEqual([1234, 99]);
      });
    });

    describe('open flags, sizes and data', () => {
      it('should append with O_APPEND wherever the descriptor or the write says it is', () => {
        const d = m().dir('append');
        const f = j(d, 'log');
        fs.writeFileSync(f, 'start-');
        const a = fs.openSync(f, 'a');
        const b = fs.openSync(f, O_RDWR | O_APPEND);
        try {
          fs.writeSync(a, 'one-');
          fs.writeSync(b, 'two-');
          // An explicit position does not matter with O_APPEND on Linux.
          fs.writeSync(a, Buffer.from('three-'), 0, 6, 0);
          fs.writeSync(b, Buffer.from('four'), 0, 4, 2);
          const read = Buffer.alloc(5);
          expect(fs.readSync(b, read, 0, 5, 0)).toBe(5);
          expect(read.toString()).toBe('start');
          expect(fs.fstatSync(a).size).toBe(24);
        } finally {
          fs.closeSync(a);
          fs.closeSync(b);
        }
        fs.appendFileSync(f, '!');
        expect(fs.readFileSync(f, 'utf8')).toBe('start-one-two-three-four!');
      });

      it('should empty a file with O_TRUNC and set its mtime', () => {
        const d = m().dir('trunc');
        const f = j(d, 'f');
        fs.writeFileSync(f, 'some content');
        fs.utimesSync(f, 1_000_000_000, 1_000_000_000);

        fs.closeSync(fs.openSync(f, O_WRONLY | O_TRUNC));

        const stat = fs.statSync(f);
        expect(stat.size).toBe(0);
        expect(stat.mtimeMs).toBeGreaterThan(Date.now() - 60_000);
        expect(fs.readFileSync(f, 'utf8')).toBe('');
        fs.writeFileSync(f, 'again');
        fs.writeFileSync(f, 'ag');
        expect(fs.readFileSync(f, 'utf8')).toBe('ag');
      });

      it('should create a new file only once with O_EXCL', () => {
        const d = m().dir('excl');
        const fd = fs.openSync(j(d, 'f'), O_CREAT | O_EXCL | O_RDWR, 0o600);
        fs.writeSync(fd, 'first');
        fs.closeSync(fd);

        expectErrno(() => fs.openSync(j(d, 'f'), O_CREAT | O_EXCL | O_RDWR, 0o600), 'EEXIST');
        expect(fs.readFileSync(j(d, 'f'), 'utf8')).toBe('first');
        expect(fs.statSync(j(d, 'f')).mode & 0o777).toBe(0o600);
      });

      it('should read holes of sparse files as zeros', () => {
        const d = m().dir('sparse');
        const f = j(d, 'sparse');
        const fd = fs.openSync(f, 'w+');
        try {
          fs.writeSync(fd, 'head', 0);
          fs.writeSync(fd, 'tail', 5 * MiB + 3);
          expect(fs.fstatSync(fd).size).toBe(5 * MiB + 7);
          const middle = Buffer.alloc(MiB, 0xff);
          expect(fs.readSync(fd, middle, 0, MiB, 2 * MiB - 10)).toBe(MiB);
          expect(middle.equals(Buffer.alloc(MiB))).toBe(true);
        } finally {
          fs.closeSync(fd);
        }
        const content = fs.readFileSync(f);
        const expected = Buffer.alloc(5 * MiB + 7);
        expected.write('head', 0);
        expected.write('tail', 5 * MiB + 3);
        expect(content.equals(expected)).toBe(true);
        fs.truncateSync(f, 12 * MiB);
        expect(
          fs
            .readFileSync(f)
            .subarray(5 * MiB)
            .equals(Buffer.concat([Buffer.from('\0\0\0tail'), Buffer.alloc(7 * MiB - 7)])),
        ).toBe(true);
      });

      it('should truncate down and up across block boundaries, by path and through descriptors', () => {
        const d = m().dir('truncate');
        const f = j(d, 'f');
        const data = randomBytesFrom(seededRandom(7), Math.floor(2.5 * MiB));
        fs.writeFileSync(f, data);

        fs.truncateSync(f, 1.5 * MiB + 7);
        expect(fs.readFileSync(f).equals(data.subarray(0, 1.5 * MiB + 7))).toBe(true);
        fs.truncateSync(f, 3 * MiB);
        const grown = fs.readFileSync(f);
        expect(grown.length).toBe(3 * MiB);
        expect(grown.subarray(0, 1.5 * MiB + 7).equals(data.subarray(0, 1.5 * MiB + 7))).toBe(true);
        expect(grown.subarray(1.5 * MiB + 7).equals(Buffer.alloc(1.5 * MiB - 7))).toBe(true);

        // With writes not yet flushed on an open descriptor: truncate by path, then write past the end.
        const fd = fs.openSync(f, 'r+');
        try {
          fs.writeSync(fd, 'abcdef', 0);
          fs.truncateSync(f, 3);
          expect(fs.fstatSync(fd).size).toBe(3);
          fs.writeSync(fd, 'Z', 10);
          fs.ftruncateSync(fd, 12);
          const back = Buffer.alloc(20);
          expect(fs.readSync(fd, back, 0, 20, 0)).toBe(12);
          expect(back.subarray(0, 12).equals(Buffer.from('abc\0\0\0\0\0\0\0Z\0', 'latin1'))).toBe(true);
        } finally {
          fs.closeSync(fd);
        }
        expect(fs.statSync(f).size).toBe(12);
        fs.truncateSync(f, 0);
        expect(fs.readFileSync(f).length).toBe(0);
      });

      it('should read back byte for byte a file written with random sizes at random offsets', () => {
        const d = m().dir('random-writes');
        const f = j(d, 'f');
        const random = seededRandom(20_240_601);
        const model = Buffer.alloc(6 * MiB);
        let size = 0;
        const fd = fs.openSync(f, 'w+');
        try {
          for (let i = 0; i < 150; i++) {
            const length = Math.floor(random() ** 3 * 1.5 * MiB) + 1;
            const offset = Math.floor(random() * (model.length - length));
            const chunk = randomBytesFrom(random, length);
            expect(fs.writeSync(fd, chunk, 0, length, offset)).toBe(length);
            chunk.copy(model, offset);
            size = Math.max(size, offset + length);
            if (i % 25 === 0) {
              const probe = Math.floor(random() * size);
              const back = Buffer.alloc(Math.min(300_000, size - probe));
              fs.readSync(fd, back, 0, back.length, probe);
              expect(back.equals(model.subarray(probe, probe + back.length))).toBe(true);
            }
          }
          fs.fsyncSync(fd);
          expect(fs.fstatSync(fd).size).toBe(size);
        } finally {
          fs.closeSync(fd);
        }
        const content = fs.readFileSync(f);
        expect(content.length).toBe(size);
        expect(content.equals(model.subarray(0, size))).toBe(true);
        // Odd-sized reads from a fresh descriptor.
        const reader = fs.openSync(f, 'r');
        try {
          for (let offset = 0; offset < size;) {
            const length = Math.floor(random() * 400_000) + 1;
            const back = Buffer.alloc(length);
            const got = fs.readSync(reader, back, 0, length, offset);
            expect(got).toBe(Math.min(length, size - offset));
            expect(back.subarray(0, got).equals(model.subarray(offset, offset + got))).toBe(true);
            offset += got;
          }
        } finally {
          fs.closeSync(reader);
        }
      });

      it('should allocate and punch holes with fallocate and sync files and directories', () => {
        const d = m().dir('fallocate');
        const f = j(d, 'f');
        fs.writeFileSync(f, Buffer.alloc(10_000, 0x61));

        sh('fallocate', ['-l', '20000', f]);
        expect(fs.statSync(f).size).toBe(20_000);
        sh('fallocate', ['-n', '-l', '40000', f]);
        expect(fs.statSync(f).size).toBe(20_000);
        sh('fallocate', ['-p', '-o', '100', '-l', '200', f]);
        const content = fs.readFileSync(f);
        expect(content.subarray(0, 100).equals(Buffer.alloc(100, 0x61))).toBe(true);
        expect(content.subarray(100, 300).equals(Buffer.alloc(200))).toBe(true);
        expect(content.subarray(300, 10_000).equals(Buffer.alloc(9700, 0x61))).toBe(true);
        expect(content.subarray(10_000).equals(Buffer.alloc(10_000))).toBe(true);
        const fd = fs.openSync(f, 'r+');
        try {
          fs.fsyncSync(fd);
          fs.fdatasyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        expect(
          python<boolean>(
            'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.close(fd); print("true")',
            [d],
          ),
        ).toBe(true);
      });
    });

    describe('open files', () => {
      it('should keep an unlinked open file readable and writable through its descriptor', () => {
        const d = m().dir('unlink-open');
        const f = j(d, 'f');
        fs.writeFileSync(f, 'hello');
        const fd = fs.openSync(f, 'r+');
        try {
          fs.unlinkSync(f);
          expect(fs.existsSync(f)).toBe(false);
          fs.writeSync(fd, ', world', 5);
          const back = Buffer.alloc(64);
          const got = fs.readSync(fd, back, 0, 64, 0);
          expect(back.subarray(0, got).toString()).toBe('hello, world');
          expect(fs.fstatSync(fd).size).toBe(12);
          fs.writeFileSync(f, 'new file, same name');
          expect(fs.readSync(fd, back, 0, 64, 0)).toBe(12);
        } finally {
          fs.closeSync(fd);
        }
        expect(fs.readFileSync(f, 'utf8')).toBe('new file, same name');
      });

      it('should keep a renamed open file, and a file renamed over while open, working through descriptors', () => {
        const d = m().dir('rename-open');
        fs.writeFileSync(j(d, 'a'), 'content of a');
        fs.writeFileSync(j(d, 'victim'), 'content of victim');
        const moved = fs.openSync(j(d, 'a'), 'r+');
        const victim = fs.openSync(j(d, 'victim'), 'r+');
        try {
          fs.mkdirSync(j(d, 'sub'));
          fs.renameSync(j(d, 'a'), j(d, 'sub', 'b'));
          fs.writeSync(moved, 'CONTENT', 0);
          fs.writeFileSync(j(d, 'replacement'), 'replacement');
          fs.renameSync(j(d, 'replacement'), j(d, 'victim'));
          fs.writeSync(victim, 'VICTIM', 11);
          const back = Buffer.alloc(64);
          expect(back.subarray(0, fs.readSync(victim, back, 0, 64, 0)).toString()).toBe('content of VICTIM');
          expect(fs.readFileSync(j(d, 'victim'), 'utf8')).toBe('replacement');
        } finally {
          fs.closeSync(moved);
          fs.closeSync(victim);
        }
        expect(fs.readFileSync(j(d, 'sub', 'b'), 'utf8')).toBe('CONTENT of a');
        expect(fs.readFileSync(j(d, 'victim'), 'utf8')).toBe('replacement');
      });

      it('should drop the name of a file unlinked or renamed over while open at once, and keep it usable after its directory goes', () => {
        const d = m().dir('hidden');
        fs.mkdirSync(j(d, 'dir'));
        fs.writeFileSync(j(d, 'dir', 'f'), 'data');
        fs.writeFileSync(j(d, 'victim'), 'old');
        fs.writeFileSync(j(d, 'new'), 'new');
        const fd = fs.openSync(j(d, 'dir', 'f'), 'r');
        const victim = fs.openSync(j(d, 'victim'), 'r');
        try {
          fs.unlinkSync(j(d, 'dir', 'f'));
          fs.renameSync(j(d, 'new'), j(d, 'victim'));

          expect({ dir: fs.readdirSync(j(d, 'dir')), top: fs.readdirSync(d).sort() }).toEqual({
            dir: [],
            top: ['dir', 'victim'],
          });
          expect([fs.fstatSync(fd).nlink, fs.fstatSync(victim).nlink]).toEqual([0, 0]);
          // Linux lets an emptied directory go even while a file that was in it is still open.
          fs.rmdirSync(j(d, 'dir'));
          const back = Buffer.alloc(8);
          expect(back.subarray(0, fs.readSync(fd, back, 0, 8, 0)).toString()).toBe('data');
        } finally {
          fs.closeSync(fd);
          fs.closeSync(victim);
        }
        expect(fs.readdirSync(d).sort()).toEqual(['victim']);
      });

      it('should share data, attributes and the inode number between hard links', async () => {
        const d = m().dir('hardlinks');
        const a = j(d, 'a');
        const b = j(d, 'sub-b');
        fs.writeFileSync(a, 'one');
        fs.linkSync(a, b);

        expect(fs.statSync(b).ino).toBe(fs.statSync(a).ino);
        expect(fs.statSync(a).ino).toBe((await fresh.mustLstat(a)).ino);
        expect([(await fresh.mustLstat(a)).nlink, (await fresh.mustLstat(b)).nlink]).toEqual([2, 2]);
        fs.appendFileSync(b, '-two');
        fs.chmodSync(b, 0o600);
        // What RiverFS answers for the other name is right at once…
        expect(await fresh.mustLstat(a)).toMatchObject({ size: 7, mode: 0o100600, nlink: 2 });
        expect(fs.readFileSync(a, 'utf8')).toBe('one-two');
        // …and plain stat and reads through the first name catch up within the kernel's attribute timeout: with
        // high-level libfuse each name is its own kernel inode, whose cached attributes only expire.
        fs.appendFileSync(a, '-three');
        await pollUntil(() => (fs.readFileSync(b, 'utf8') === 'one-two-three' ? true : undefined), {
          timeoutMs: ATTR_DEADLINE_MS,
          intervalMs: 50,
          describeTimeout: () => `b still reads ${JSON.stringify(fs.readFileSync(b, 'utf8'))}`,
        });
        fs.unlinkSync(a);
        await pollUntil(() => (fs.statSync(b).nlink === 1 ? true : undefined), {
          timeoutMs: ATTR_DEADLINE_MS,
          intervalMs: 50,
          describeTimeout: () => `nlink of b is still ${fs.statSync(b).nlink}`,
        });
        expect(fs.readFileSync(b, 'utf8')).toBe('one-two-three');
        expect((await fresh.mustLstat(b)).nlink).toBe(1);
      });

      it('should show a new link count, size and mode under every name of a file at once', () => {
        const d = m().dir('hardlinks-at-once');
        fs.writeFileSync(j(d, 'first'), 'one');
        fs.statSync(j(d, 'first'));
        fs.linkSync(j(d, 'first'), j(d, 'second'));
        const afterLink = fs.statSync(j(d, 'first')).nlink;
        fs.appendFileSync(j(d, 'second'), '-two');
        fs.chmodSync(j(d, 'second'), 0o600);
        const first = fs.statSync(j(d, 'first'));

        expect({ afterLink, nlink: first.nlink, size: first.size, mode: first.mode & 0o777 }).toEqual({
          afterLink: 2,
          nlink: 2,
          size: 7,
          mode: 0o600,
        });
        expect(fs.readFileSync(j(d, 'first'), 'utf8')).toBe('one-two');
      });
    });

    describe('times', () => {
      it('should change atime, mtime and ctime as a local Linux filesystem does (relatime)', async () => {
        const steps: [string, (dir: string) => unknown][] = [
          ['create', (dir) => fs.closeSync(fs.openSync(j(dir, 'f'), 'w'))],
          ['write', (dir) => fs.writeFileSync(j(dir, 'f'), 'hello', { flag: 'r+' })],
          ['read after write', (dir) => fs.readFileSync(j(dir, 'f'))],
          ['read again', (dir) => fs.readFileSync(j(dir, 'f'))],
          ['open and close for writing', (dir) => fs.closeSync(fs.openSync(j(dir, 'f'), 'r+'))],
          ['O_TRUNC', (dir) => fs.closeSync(fs.openSync(j(dir, 'f'), O_WRONLY | O_TRUNC))],
          ['truncate to the same size', (dir) => fs.truncateSync(j(dir, 'f'), 0)],
          ['truncate up', (dir) => fs.truncateSync(j(dir, 'f'), 100)],
          ['read after truncate', (dir) => fs.readFileSync(j(dir, 'f'))],
          ['chmod', (dir) => fs.chmodSync(j(dir, 'f'), 0o600)],
          ['chown', (dir) => fs.chownSync(j(dir, 'f'), 0, 0)],
          ['link', (dir) => fs.linkSync(j(dir, 'f'), j(dir, 'g'))],
          ['unlink the other name', (dir) => fs.unlinkSync(j(dir, 'g'))],
          ['rename', (dir) => fs.renameSync(j(dir, 'f'), j(dir, 'h'))],
          ['mkdir', (dir) => fs.mkdirSync(j(dir, 'sub'))],
          ['readdir', (dir) => fs.readdirSync(dir)],
          ['readdir again', (dir) => fs.readdirSync(dir)],
          ['rename into a subdirectory', (dir) => fs.renameSync(j(dir, 'h'), j(dir, 'sub', 'h'))],
          ['rename it back', (dir) => fs.renameSync(j(dir, 'sub', 'h'), j(dir, 'h'))],
          ['symlink', (dir) => fs.symlinkSync('h', j(dir, 's'))],
          ['readlink', (dir) => fs.readlinkSync(j(dir, 's'))],
          ['utimes now', (dir) => fs.utimesSync(j(dir, 'h'), new Date(), new Date())],
          [
            'fsync without writing',
            (dir) => {
              const fd = fs.openSync(j(dir, 'h'), 'r+');
              fs.fsyncSync(fd);
              fs.closeSync(fd);
            },
          ],
          ['write nothing', (dir) => fs.writeFileSync(j(dir, 'h'), '', { flag: 'a' })],
          [
            'ftruncate',
            (dir) => {
              const fd = fs.openSync(j(dir, 'h'), 'r+');
              fs.ftruncateSync(fd, 3);
              fs.closeSync(fd);
            },
          ],
          ['append', (dir) => fs.appendFileSync(j(dir, 'h'), 'more')],
          ['rmdir', (dir) => fs.rmdirSync(j(dir, 'sub'))],
          ['mkfifo', (dir) => sh('mkfifo', [j(dir, 'fifo')])],
          ['unlink', (dir) => fs.unlinkSync(j(dir, 'fifo'))],
        ];
        const watched = ['.', 'h', 'f', 'g', 's', 'sub'];

        async function run(dir: string): Promise<string[]> {
          const lines: string[] = [];
          for (const [label, step] of steps) {
            const before = new Map<string, FreshStat>();
            for (const name of watched) {
              const stat = await fresh.lstat(j(dir, name));
              if (!('errno' in stat)) {
                before.set(name, stat);
              }
            }
            await clockAdvances();
            step(dir);
            const changes: string[] = [];
            for (const [name, old] of before) {
              const now = await fresh.lstat(j(dir, name));
              if (!('errno' in now)) {
                changes.push(`${name}:${changedTimes(old, now)}`);
              }
            }
            lines.push(`${label} → ${changes.join(' ')}`);
          }
          return lines;
        }

        const local = await run(m().localDir('times'));
        const mounted = await run(m().dir('times'));
        expect(mounted).toEqual(local);
      });

      it('should set times to the nanosecond with utimensat, leaving out what UTIME_OMIT says', () => {
        const d = m().dir('utimens');
        const f = j(d, 'f');
        fs.writeFileSync(f, 'x');
        fs.symlinkSync('f', j(d, 'link'));
        const times = (name: string): [string, string, string] =>
          python<[string, string, string]>(
            'import json, os, sys; s = os.lstat(sys.argv[1]); print(json.dumps([str(s.st_atime_ns), str(s.st_mtime_ns), str(s.st_ctime_ns)]))',
            [j(d, name)],
          );

        python('import os, sys; os.utime(sys.argv[1], ns=(1_000_000_123, 2_000_000_456)); print(1)', [f]);
        expect(times('f').slice(0, 2)).toEqual(['1000000123', '2000000456']);
        sh('touch', ['-a', '-d', '2001-02-03 04:05:06.123456789 UTC', f]);
        expect(times('f').slice(0, 2)).toEqual(['981173106123456789', '2000000456']);
        sh('touch', ['-m', '-d', '1969-12-31 23:59:58.5 UTC', f]);
        expect(times('f').slice(0, 2)).toEqual(['981173106123456789', '-1500000000']);
        python('import os, sys; os.utime(sys.argv[1], ns=(4_102_444_800_999_999_999, 0)); print(1)', [f]);
        expect(times('f').slice(0, 2)).toEqual(['4102444800999999999', '0']);
        const before = Date.now();
        sh('touch', [f]);
        const [atime, mtime, ctime] = times('f').map((ns) => Number(BigInt(ns) / 1_000_000n));
        for (const ms of [atime, mtime, ctime]) {
          expect(ms).toBeGreaterThanOrEqual(before - 1000);
          expect(ms).toBeLessThanOrEqual(Date.now() + 1000);
        }
        sh('touch', ['-h', '-m', '-d', '2010-01-01 00:00:00.000000007 UTC', j(d, 'link')]);
        expect(times('link')[1]).toBe('1262304000000000007');
        expect(times('f')[1]).not.toBe('1262304000000000007');
      });
    });

    describe('extended attributes', () => {
      it('should set, get, list and remove xattrs with XATTR_CREATE and XATTR_REPLACE, and answer ENODATA', () => {
        const d = m().dir('xattr');
        fs.writeFileSync(j(d, 'f'), 'x');
        fs.mkdirSync(j(d, 'dir'));
        fs.symlinkSync('f', j(d, 'link'));
        const outcome = python<Record<string, unknown>>(
          `
import errno, json, os, sys
d = sys.argv[1]
f = os.path.join(d, 'f')
out = {}
def t(label, fn):
    try:
        value = fn()
        out[label] = value.hex() if isinstance(value, bytes) else sorted(value) if isinstance(value, list) else 'OK'
    except OSError as e:
        out[label] = errno.errorcode[e.errno]
t('set', lambda: os.setxattr(f, 'user.plain', b'value'))
t('set binary', lambda: os.setxattr(f, 'user.binary', bytes([0, 255, 0, 1])))
t('set empty', lambda: os.setxattr(f, 'user.empty', b''))
t('get', lambda: os.getxattr(f, 'user.plain'))
t('get binary', lambda: os.getxattr(f, 'user.binary'))
t('get empty', lambda: os.getxattr(f, 'user.empty'))
t('list', lambda: os.listxattr(f))
t('create existing', lambda: os.setxattr(f, 'user.plain', b'no', os.XATTR_CREATE))
t('create new', lambda: os.setxattr(f, 'user.created', b'yes', os.XATTR_CREATE))
t('replace missing', lambda: os.setxattr(f, 'user.missing', b'no', os.XATTR_REPLACE))
t('replace existing', lambda: os.setxattr(f, 'user.plain', b'replaced', os.XATTR_REPLACE))
t('get replaced', lambda: os.getxattr(f, 'user.plain'))
t('get missing', lambda: os.getxattr(f, 'user.missing'))
t('remove', lambda: os.removexattr(f, 'user.binary'))
t('remove missing', lambda: os.removexattr(f, 'user.binary'))
t('list after', lambda: os.listxattr(f))
t('no namespace', lambda: os.setxattr(f, 'plain', b'x'))
t('unknown namespace', lambda: os.getxattr(f, 'other.x'))
t('bare prefix', lambda: os.setxattr(f, 'user.', b'x'))
t('trusted', lambda: (os.setxattr(f, 'trusted.t', b'root only'), os.getxattr(f, 'trusted.t'))[1])
t('name too long', lambda: os.setxattr(f, 'user.' + 'n' * 251, b'x'))
t('value too big', lambda: os.setxattr(f, 'user.big', b'v' * 65537))
t('dir set', lambda: os.setxattr(os.path.join(d, 'dir'), 'user.d', b'dir value'))
t('dir get', lambda: os.getxattr(os.path.join(d, 'dir'), 'user.d'))
t('symlink user xattr', lambda: os.setxattr(os.path.join(d, 'link'), 'user.l', b'x', follow_symlinks=False))
t('through symlink', lambda: os.getxattr(os.path.join(d, 'link'), 'user.created'))
t('missing file', lambda: os.getxattr(os.path.join(d, 'nope'), 'user.x'))
print(json.dumps(out))
`,
          [d],
        );

        expect(outcome).toEqual({
          set: 'OK',
          'set binary': 'OK',
          'set empty': 'OK',
          get: Buffer.from('value').toString('hex'),
          'get binary': '00ff0001',
          'get empty': '',
          list: ['user.binary', 'user.empty', 'user.plain'],
          'create existing': 'EEXIST',
          'create new': 'OK',
          'replace missing': 'ENODATA',
          'replace existing': 'OK',
          'get replaced': Buffer.from('replaced').toString('hex'),
          'get missing': 'ENODATA',
          remove: 'OK',
          'remove missing': 'ENODATA',
          'list after': ['user.created', 'user.empty', 'user.plain'],
          'no namespace': 'ENOTSUP',
          'unknown namespace': 'ENOTSUP',
          'bare prefix': 'EINVAL',
          trusted: Buffer.from('root only').toString('hex'),
          'name too long': 'ERANGE',
          'value too big': 'E2BIG',
          'dir set': 'OK',
          'dir get': Buffer.from('dir value').toString('hex'),
          'symlink user xattr': 'EPERM',
          'through symlink': Buffer.from('yes').toString('hex'),
          'missing file': 'ENOENT',
        });
      });

      it('should return xattr values and name lists bigger than the caller first asks for (ERANGE, then the data)', () => {
        const d = m().dir('xattr-big');
        fs.writeFileSync(j(d, 'f'), 'x');
        const outcome = python<Record<string, unknown>>(
          `
import ctypes, errno, json, os, sys
f = os.path.join(sys.argv[1], 'f')
out = {}
def t(label, fn):
    try:
        out[label] = fn()
    except OSError as e:
        out[label] = errno.errorcode[e.errno]
for size in (129, 4000, 65536):
    t('value %d' % size, lambda: (os.setxattr(f, 'user.v%d' % size, bytes([size % 251]) * size), os.getxattr(f, 'user.v%d' % size) == bytes([size % 251]) * size)[1])
for i in range(40):
    os.setxattr(f, 'user.name-%02d' % i, b'1')
t('list', lambda: len(os.listxattr(f)))
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(4)
out['small buffer'] = errno.errorcode.get(ctypes.get_errno()) if libc.getxattr(f.encode(), b'user.v129', buf, 4) < 0 else 'no error'
out['size query'] = libc.getxattr(f.encode(), b'user.v4000', None, 0)
print(json.dumps(out))
`,
          [d],
        );

        expect(outcome).toEqual({
          'value 129': true,
          'value 4000': true,
          'value 65536': true,
          list: 43,
          'small buffer': 'ERANGE',
          'size query': 4000,
        });
      });
    });

    describe('statfs', () => {
      it("should report the grid's usable free space as the size of the filesystem, count dirty data as used, and count inodes", async () => {
        const d = m().dir('statfs');
        // The mount asks the grid in the background when it starts; until then it answers the cache's limits.
        const gridBytes = await testGridUsableBytes();
        const before = await eventually('statfs from the grid', () => {
          const stat = fs.statfsSync(m().mountpoint);
          return Promise.resolve(stat.bsize * stat.blocks !== CACHE_SIZE ? stat : undefined);
        });
        expect(Math.abs(before.bsize * before.blocks - gridBytes)).toBeLessThanOrEqual(gridBytes * 0.01);
        expect(before.bfree).toBeLessThanOrEqual(before.blocks);
        expect(before.bavail).toBeLessThanOrEqual(before.bfree);
        // Inodes: those in the database (counted in the background, at least the root and this directory) as used,
        // plus a conventional 2^31 as free (inode-usage.ts).
        const inodes = await eventually('inodes counted', () => {
          const stat = fs.statfsSync(m().mountpoint);
          return Promise.resolve(stat.files - stat.ffree >= 2 ? stat : undefined);
        });
        expect(inodes.ffree).toBe(2 ** 31);

        // Written but neither fsync'd nor closed: nothing queues it for upload, so it is surely still dirty.
        const fd = fs.openSync(j(d, 'f'), 'w');
        try {
          fs.writeSync(fd, Buffer.alloc(4 * MiB, 1));
          const after = fs.statfsSync(m().mountpoint);
          // Earlier tests' data may be uploading (and so leaving the dirty count) meanwhile: only these 4 MiB are sure.
          expect((after.blocks - after.bfree) * after.bsize).toBeGreaterThanOrEqual(4 * MiB);
          const [size, avail] = sh('df', ['-B1', '--output=size,avail', m().mountpoint])
            .trim()
            .split('\n')[1]
            .trim()
            .split(/\s+/)
            .map(Number);
          expect(Math.abs(size - gridBytes)).toBeLessThanOrEqual(gridBytes * 0.01);
          expect(avail).toBeLessThanOrEqual(size - 4 * MiB);
        } finally {
          fs.closeSync(fd);
        }
      });
    });
  });
}
