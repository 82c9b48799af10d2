import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pollUntil } from '../../src/grid/process.util';
import { python, sh } from '../support/fs-probe.helper';
import { SQLITE_BACKEND, useSuiteMount } from '../support/mount-backends.helper';
import { type TreeEntry, comparable, snapshotTree } from '../support/tree-snapshot.helper';

const j = path.join;
const ROOT = path.join(__dirname, '..', '..');
/** Each tool run writes a few hundred files; a loaded 2-core machine may take a while. */
const TOOL_TIMEOUT_MS = 300_000;
/** What copying tools keep: everything but inode numbers, ctime and atime. */
const COPIED = ['type', 'mode', 'uid', 'gid', 'size', 'mtimeNs', 'sha256', 'target', 'links', 'xattrs'] as const;

function copied(entries: TreeEntry[]): ReturnType<typeof comparable<(typeof COPIED)[number]>> {
  return comparable(entries, COPIED);
}

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'RiverFS Test',
  GIT_AUTHOR_EMAIL: 'test@riverfs.invalid',
  GIT_COMMITTER_NAME: 'RiverFS Test',
  GIT_COMMITTER_EMAIL: 'test@riverfs.invalid',
  GIT_AUTHOR_DATE: '2024-01-02T03:04:05Z',
  GIT_COMMITTER_DATE: '2024-01-02T03:04:05Z',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

function git(cwd: string, ...args: string[]): string {
  return sh('git', ['-c', 'safe.directory=*', '-c', 'init.defaultBranch=main', ...args], { cwd, env: GIT_ENV });
}

/**
 * Ordinary tools on the mount (cp -a, mv, ln, tar, git), each result compared with what the same tool makes of the
 * same input on a local filesystem.
 */
describe('ordinary tools on the mount', () => {
  const m = useSuiteMount(SQLITE_BACKEND, 'tools');
  let staging: string;
  let tarball: string;

  beforeAll(() => {
    // A real tarball: a published package as installed here (yaml: some 230 files in 25 directories), plus what
    // packages rarely hold (symlinks, hard links, an empty directory, set-ID bits, owners, old times).
    staging = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-tools-'));
    const tree = j(staging, 'tree');
    fs.mkdirSync(j(tree, 'packages'), { recursive: true });
    fs.cpSync(j(ROOT, 'node_modules', 'yaml'), j(tree, 'packages', 'yaml'), { recursive: true });
    fs.symlinkSync('packages/yaml/package.json', j(tree, 'yaml-manifest'));
    fs.symlinkSync('../packages', j(tree, 'packages', 'self'));
    fs.linkSync(j(tree, 'packages', 'yaml', 'package.json'), j(tree, 'hardlinked-manifest'));
    fs.mkdirSync(j(tree, 'empty-dir'));
    fs.writeFileSync(j(tree, 'run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
    fs.chmodSync(j(tree, 'run.sh'), 0o4755);
    fs.writeFileSync(j(tree, 'owned'), 'owned by someone else');
    fs.chownSync(j(tree, 'owned'), 1234, 5678);
    fs.utimesSync(j(tree, 'owned'), new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
    tarball = j(staging, 'tree.tar.gz');
    sh('tar', ['-czf', tarball, '-C', tree, '.']);
  }, 60_000);

  afterAll(() => {
    fs.rmSync(staging, { recursive: true, force: true });
  });

  it(
    'should extract a real tarball exactly as on a local disk, and archive it again identically',
    () => {
      const local = m().localDir('tar');
      const mounted = m().dir('tar');
      expect(Number(sh('sh', ['-c', `tar -tzf '${tarball}' | wc -l`]).trim())).toBeGreaterThan(240);

      sh('tar', ['-xpzf', tarball, '-C', local]);
      sh('tar', ['-xpzf', tarball, '-C', mounted]);

      const expected = snapshotTree(local);
      expect(copied(snapshotTree(mounted))).toEqual(copied(expected));
      expect(expected.find((entry) => entry.path === 'owned')).toMatchObject({ uid: 1234, gid: 5678 });
      expect(expected.find((entry) => entry.path === 'hardlinked-manifest')?.links).toHaveLength(2);
      const listing = (dir: string): string =>
        sh('tar', ['--sort=name', '-cvf', '/dev/null', '--numeric-owner', '--full-time', '-C', dir, '.'])
          .split('\n')
          .sort()
          .join('\n');
      expect(listing(mounted)).toBe(listing(local));
    },
    TOOL_TIMEOUT_MS,
  );

  it(
    'should copy trees in and out with cp -a, keeping modes, owners, times to the nanosecond, links and xattrs',
    async () => {
      const source = m().localDir('cp-source');
      sh('tar', ['-xpzf', tarball, '-C', source]);
      python(
        'import os, sys; os.setxattr(os.path.join(sys.argv[1], "run.sh"), "user.origin", b"cp -a"); os.utime(os.path.join(sys.argv[1], "run.sh"), ns=(1_600_000_000_123_456_789, 1_600_000_000_987_654_321)); print(1)',
        [source],
      );
      const into = j(m().dir('cp'), 'copy');
      const back = j(m().localDir('cp-back'), 'copy');

      sh('cp', ['-a', source, into]);
      // cp -a finds hard links by st_nlink. Through high-level libfuse each name is its own kernel inode, and the name
      // linked first keeps its cached link count (1) until attr_timeout passes (see the hard-link tests): copying out
      // at once would copy the two names as two files. Wait until every name shows its links.
      await pollUntil(
        () =>
          ['hardlinked-manifest', 'packages/yaml/package.json'].every((name) => fs.statSync(j(into, name)).nlink === 2)
            ? true
            : undefined,
        { timeoutMs: 3000, intervalMs: 50, describeTimeout: () => 'the kernel kept a stale link count' },
      );
      sh('cp', ['-a', into, back]);

      const expected = copied(snapshotTree(source));
      expect(copied(snapshotTree(into))).toEqual(expected);
      expect(copied(snapshotTree(back))).toEqual(expected);
      expect(snapshotTree(into).find((entry) => entry.path === 'run.sh')).toMatchObject({
        mode: 0o4755,
        mtimeNs: '1600000000987654321',
        xattrs: { 'user.origin': Buffer.from('cp -a').toString('hex') },
      });
    },
    TOOL_TIMEOUT_MS,
  );

  it(
    'should move files and trees with mv inside the mount, into it and out of it',
    () => {
      const d = m().dir('mv');
      const local = m().localDir('mv');
      sh('tar', ['-xpzf', tarball, '-C', local]);
      const expected = copied(snapshotTree(local));
      const outside = m().localDir('mv-out');

      sh('mv', [local, j(d, 'moved-in')]);
      expect(fs.existsSync(local)).toBe(false);
      expect(copied(snapshotTree(j(d, 'moved-in')))).toEqual(expected);
      const inode = fs.statSync(j(d, 'moved-in', 'packages', 'yaml', 'package.json')).ino;
      sh('mv', [j(d, 'moved-in'), j(d, 'renamed')]);
      sh('mv', [j(d, 'renamed', 'packages'), j(d, 'packages')]);
      expect(fs.statSync(j(d, 'packages', 'yaml', 'package.json')).ino).toBe(inode);
      sh('mv', [j(d, 'packages'), j(d, 'renamed', 'packages')]);
      sh('mv', [j(d, 'renamed'), j(outside, 'moved-out')]);

      expect(fs.readdirSync(d)).toEqual([]);
      expect(copied(snapshotTree(j(outside, 'moved-out')))).toEqual(expected);
    },
    TOOL_TIMEOUT_MS,
  );

  it(
    'should make hard and symbolic links with ln, replacing links with -f',
    () => {
      const d = m().dir('ln');
      fs.writeFileSync(j(d, 'file'), 'data');
      fs.mkdirSync(j(d, 'dir'));

      sh('ln', [j(d, 'file'), j(d, 'hard')]);
      sh('ln', [j(d, 'file'), j(d, 'dir')]);
      sh('ln', ['-s', 'file', j(d, 'soft')]);
      sh('ln', ['-s', 'dir', j(d, 'dirlink')]);
      sh('ln', ['-sf', 'hard', j(d, 'soft')]);
      sh('ln', ['-sfn', 'file', j(d, 'dirlink')]);
      const failure = (() => {
        try {
          sh('ln', ['-s', 'file', j(d, 'hard')]);
          return 'no error';
        } catch (error) {
          return String(error);
        }
      })();

      expect(failure).toMatch(/File exists/);
      const ino = fs.statSync(j(d, 'file')).ino;
      expect([fs.statSync(j(d, 'hard')).ino, fs.statSync(j(d, 'dir', 'file')).ino]).toEqual([ino, ino]);
      expect(snapshotTree(d).find((entry) => entry.path === 'file')).toMatchObject({
        nlink: 3,
        links: ['dir/file', 'file', 'hard'],
      });
      expect([fs.readlinkSync(j(d, 'soft')), fs.readlinkSync(j(d, 'dirlink'))]).toEqual(['hard', 'file']);
      expect(fs.readFileSync(j(d, 'dirlink'), 'utf8')).toBe('data');
      sh('rm', ['-rf', j(d, 'dir'), j(d, 'hard')]);
      expect(fs.statSync(j(d, 'file')).nlink).toBe(1);
    },
    TOOL_TIMEOUT_MS,
  );

  it(
    'should run git init, add, commit, log, gc and clone inside the mount with the same hashes as on a local disk',
    () => {
      function work(dir: string): { head: string; log: string; status: string; fsck: string } {
        git(dir, 'init', '-q', 'repo');
        const repo = j(dir, 'repo');
        sh('tar', ['-xzf', tarball, '-C', repo, './packages/yaml/dist/schema', './packages/yaml/package.json']);
        fs.writeFileSync(j(repo, 'README'), 'first\n');
        git(repo, 'add', '-A');
        git(repo, 'commit', '-q', '-m', 'first');
        fs.appendFileSync(j(repo, 'README'), 'second\n');
        fs.renameSync(j(repo, 'packages', 'yaml', 'package.json'), j(repo, 'package.json'));
        git(repo, 'add', '-A');
        git(repo, 'commit', '-q', '-m', 'second');
        git(repo, 'gc', '-q', '--prune=now');
        git(dir, 'clone', '-q', '--no-hardlinks', 'repo', 'clone');
        return {
          head: git(j(dir, 'clone'), 'rev-parse', 'HEAD').trim(),
          log: git(repo, 'log', '--oneline', '--stat'),
          status: git(repo, 'status', '--porcelain'),
          fsck: git(repo, 'fsck', '--full', '--strict'),
        };
      }

      const local = work(m().localDir('git'));
      const mounted = work(m().dir('git'));

      expect(mounted).toEqual(local);
      expect(mounted.log.split('\n').filter((line) => /^[0-9a-f]{7,} /.test(line))).toHaveLength(2);
      expect(mounted.status).toBe('');
    },
    TOOL_TIMEOUT_MS,
  );
});
