import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, expectErrno, python, runAsUser } from '../support/fs-probe.helper';
import { SQLITE_BACKEND, useSuiteMount } from '../support/mount-backends.helper';

const j = path.join;
/** Two unprivileged users; they need no passwd entry. */
const ALICE = 1000;
const BOB = 1001;

/** An fs call for runAsUser, with its path given as JSON so no quoting can go wrong. */
function call(fn: string, ...args: unknown[]): string {
  return `fs.${fn}(${args.map((arg) => JSON.stringify(arg)).join(', ')})`;
}

/**
 * Who may do what on the mount (default_permissions: the kernel checks mode bits, owners and sticky directories
 * against the attributes RiverFS answers, for the caller's uid and gid), who owns what a caller creates, and names
 * kept byte for byte. The mount allows other users (--allow-other), as a shared filesystem would.
 */
describe('the mount for several users, and names as bytes', () => {
  const m = useSuiteMount(SQLITE_BACKEND, 'identity', { args: ['--allow-other'] });

  /** A directory everybody may create entries in. */
  function openDir(label: string, mode = 0o777): string {
    const dir = m().dir(label);
    fs.chmodSync(dir, mode);
    return dir;
  }

  describe('permissions', () => {
    it("should give what a user creates that user's uid and gid", () => {
      const d = openDir('owners');
      const outcome = runAsUser(ALICE, ALICE, [
        ['file', call('writeFileSync', j(d, 'file'), 'mine')],
        ['dir', call('mkdirSync', j(d, 'dir'))],
        ['symlink', call('symlinkSync', 'file', j(d, 'link'))],
        ['in own dir', call('writeFileSync', j(d, 'dir', 'nested'), 'mine too')],
        ['rename', call('renameSync', j(d, 'file'), j(d, 'renamed'))],
      ]);

      expect(outcome).toEqual({ file: 'OK', dir: 'OK', symlink: 'OK', 'in own dir': 'OK', rename: 'OK' });
      const owners = ['renamed', 'dir', 'link', j('dir', 'nested')].map((name) => {
        const stat = fs.lstatSync(j(d, name));
        return [name, stat.uid, stat.gid];
      });
      expect(owners).toEqual([
        ['renamed', ALICE, ALICE],
        ['dir', ALICE, ALICE],
        ['link', ALICE, ALICE],
        [j('dir', 'nested'), ALICE, ALICE],
      ]);
    });

    it('should refuse reading, writing, creating and searching that the mode bits refuse (EACCES)', () => {
      const d = openDir('eacces', 0o755);
      fs.writeFileSync(j(d, 'public'), 'anyone may read', { mode: 0o644 });
      fs.writeFileSync(j(d, 'secret'), 'root only', { mode: 0o600 });
      fs.mkdirSync(j(d, 'closed'), 0o755);
      fs.writeFileSync(j(d, 'closed', 'inside'), 'x');
      fs.mkdirSync(j(d, 'private'), 0o700);
      fs.writeFileSync(j(d, 'private', 'inside'), 'x');

      const outcome = runAsUser(ALICE, ALICE, [
        ['read public', call('readFileSync', j(d, 'public'))],
        ['write public', call('writeFileSync', j(d, 'public'), 'mine now')],
        ['append public', call('appendFileSync', j(d, 'public'), 'more')],
        ['truncate public', call('truncateSync', j(d, 'public'), 0)],
        ['read secret', call('readFileSync', j(d, 'secret'))],
        ['create in closed', call('writeFileSync', j(d, 'closed', 'new'), 'x')],
        ['mkdir in closed', call('mkdirSync', j(d, 'closed', 'sub'))],
        ['unlink in closed', call('unlinkSync', j(d, 'closed', 'inside'))],
        ['rename out of closed', call('renameSync', j(d, 'closed', 'inside'), j(d, 'stolen'))],
        ['list private', call('readdirSync', j(d, 'private'))],
        ['stat through private', call('statSync', j(d, 'private', 'inside'))],
        ['stat public', call('statSync', j(d, 'public'))],
      ]);

      expect(outcome).toEqual({
        'read public': 'OK',
        'write public': 'EACCES',
        'append public': 'EACCES',
        'truncate public': 'EACCES',
        'read secret': 'EACCES',
        'create in closed': 'EACCES',
        'mkdir in closed': 'EACCES',
        'unlink in closed': 'EACCES',
        'rename out of closed': 'EACCES',
        'list private': 'EACCES',
        'stat through private': 'EACCES',
        'stat public': 'OK',
      });
      expect(fs.readFileSync(j(d, 'public'), 'utf8')).toBe('anyone may read');
      expect(fs.readdirSync(j(d, 'closed'))).toEqual(['inside']);
    });

    it("should refuse changing the mode, owner or times of someone else's file (EPERM) but allow touching it", () => {
      const d = openDir('eperm');
      fs.writeFileSync(j(d, 'roots'), 'x', { mode: 0o666 });
      fs.chmodSync(j(d, 'roots'), 0o666);
      fs.writeFileSync(j(d, 'alices'), 'x');
      fs.chownSync(j(d, 'alices'), ALICE, ALICE);

      const outcome = runAsUser(ALICE, ALICE, [
        ['chmod roots', call('chmodSync', j(d, 'roots'), 0o777)],
        ['chown roots', call('chownSync', j(d, 'roots'), ALICE, ALICE)],
        ['set times of roots', call('utimesSync', j(d, 'roots'), 1000, 1000)],
        ['touch roots', `fs.utimesSync(${JSON.stringify(j(d, 'roots'))}, Date.now() / 1000, Date.now() / 1000)`],
        ['chmod alices', call('chmodSync', j(d, 'alices'), 0o640)],
        ['set times of alices', call('utimesSync', j(d, 'alices'), 1000, 2000)],
        ['give alices away', call('chownSync', j(d, 'alices'), BOB, ALICE)],
        ['chgrp alices to a foreign group', call('chownSync', j(d, 'alices'), ALICE, BOB)],
      ]);

      expect(outcome).toEqual({
        'chmod roots': 'EPERM',
        'chown roots': 'EPERM',
        'set times of roots': 'EPERM',
        // Explicit times need ownership; Node passes explicit times even for "now", so this is refused too…
        'touch roots': 'EPERM',
        'chmod alices': 'OK',
        'set times of alices': 'OK',
        'give alices away': 'EPERM',
        'chgrp alices to a foreign group': 'EPERM',
      });
      // …while utimensat(NULL) ("touch") only needs write permission.
      expect(
        python<string>('import json, os, sys; os.utime(sys.argv[1]); print(json.dumps("OK"))', [j(d, 'roots')], {
          uid: ALICE,
          gid: ALICE,
        }),
      ).toBe('OK');
      const roots = fs.statSync(j(d, 'roots'));
      expect([roots.mode & 0o7777, roots.uid]).toEqual([0o666, 0]);
      const alices = fs.statSync(j(d, 'alices'));
      expect([alices.mode & 0o7777, alices.uid, alices.gid, alices.mtimeMs]).toEqual([0o640, ALICE, ALICE, 2_000_000]);
    });

    it("should keep users from removing or renaming others' entries in a sticky directory", () => {
      const d = openDir('sticky', 0o1777);
      for (const [name, owner] of [
        ['alices', ALICE],
        ['bobs', BOB],
        ['roots', 0],
      ] as const) {
        fs.writeFileSync(j(d, name), name);
        fs.chownSync(j(d, name), owner, owner);
      }
      expect(fs.statSync(d).mode & 0o7777).toBe(0o1777);

      const bob = runAsUser(BOB, BOB, [
        ['unlink alices', call('unlinkSync', j(d, 'alices'))],
        ['rename alices', call('renameSync', j(d, 'alices'), j(d, 'taken'))],
        ['replace roots', call('renameSync', j(d, 'bobs'), j(d, 'roots'))],
        ['create own', call('writeFileSync', j(d, 'bobs-new'), 'new')],
        ['rename own', call('renameSync', j(d, 'bobs'), j(d, 'bobs-renamed'))],
        ['unlink own', call('unlinkSync', j(d, 'bobs-renamed'))],
      ]);
      const alice = runAsUser(ALICE, ALICE, [
        ['unlink bobs-new', call('unlinkSync', j(d, 'bobs-new'))],
        ['unlink own', call('unlinkSync', j(d, 'alices'))],
      ]);

      expect(bob).toEqual({
        'unlink alices': 'EPERM',
        'rename alices': 'EPERM',
        'replace roots': 'EPERM',
        'create own': 'OK',
        'rename own': 'OK',
        'unlink own': 'OK',
      });
      expect(alice).toEqual({ 'unlink bobs-new': 'EPERM', 'unlink own': 'OK' });
      expect(fs.readdirSync(d).sort()).toEqual(['bobs-new', 'roots']);
    });

    it('should clear set-user-ID when another user writes, and pass on the group of a set-group-ID directory', () => {
      const d = openDir('setid');
      fs.writeFileSync(j(d, 'suid'), 'x');
      fs.chmodSync(j(d, 'suid'), 0o4777);
      fs.mkdirSync(j(d, 'group'));
      fs.chownSync(j(d, 'group'), 0, 4321);
      fs.chmodSync(j(d, 'group'), 0o2777);

      const outcome = runAsUser(ALICE, ALICE, [
        ['write suid', call('appendFileSync', j(d, 'suid'), 'y')],
        ['create in group', call('writeFileSync', j(d, 'group', 'file'), 'x')],
        ['mkdir in group', call('mkdirSync', j(d, 'group', 'sub'))],
      ]);

      expect(outcome).toEqual({ 'write suid': 'OK', 'create in group': 'OK', 'mkdir in group': 'OK' });
      expect(fs.statSync(j(d, 'suid')).mode & 0o7777).toBe(0o777);
      expect(fs.readFileSync(j(d, 'suid'), 'utf8')).toBe('xy');
      const file = fs.statSync(j(d, 'group', 'file'));
      const sub = fs.statSync(j(d, 'group', 'sub'));
      expect([file.uid, file.gid, sub.uid, sub.gid, sub.mode & 0o2000]).toEqual([ALICE, 4321, ALICE, 4321, 0o2000]);
    });
  });

  describe('names', () => {
    it('should keep names that are not UTF-8 byte for byte', () => {
      const d = m().dir('bytes');
      const dir = Buffer.from(d);
      const at = (...names: Buffer[]): Buffer =>
        Buffer.concat([dir, ...names.flatMap((name) => [Buffer.from('/'), name])]);
      const latin1 = Buffer.from('caf\xe9', 'latin1');
      const invalid = Buffer.from([0x66, 0xff, 0xfe, 0x80, 0x2e, 0x74, 0x78, 0x74]);
      const overlong = Buffer.from([0xc0, 0xaf, 0x01, 0x7f]);

      fs.writeFileSync(at(latin1), 'latin-1 é');
      fs.writeFileSync(at(invalid), 'invalid UTF-8');
      fs.mkdirSync(at(overlong));
      fs.writeFileSync(at(overlong, invalid), 'nested');
      fs.symlinkSync(invalid, at(Buffer.from('link')));
      fs.renameSync(at(latin1), at(Buffer.from('caf\xc3\xa9', 'latin1')));

      const names = (fs.readdirSync(dir, { encoding: 'buffer' }) as Buffer[])
        .map((name) => name.toString('hex'))
        .sort();
      expect(names).toEqual(
        [invalid, overlong, Buffer.from('link'), Buffer.from('café')].map((name) => name.toString('hex')).sort(),
      );
      expect(fs.readFileSync(at(invalid), 'utf8')).toBe('invalid UTF-8');
      expect(fs.readFileSync(at(Buffer.from('café')), 'utf8')).toBe('latin-1 é');
      expect(fs.readFileSync(at(overlong, invalid), 'utf8')).toBe('nested');
      expect((fs.readlinkSync(at(Buffer.from('link')), { encoding: 'buffer' }) as Buffer).equals(invalid)).toBe(true);
      expect(fs.readFileSync(at(Buffer.from('link')), 'utf8')).toBe('invalid UTF-8');
      expectErrno(() => fs.statSync(at(latin1)), 'ENOENT');
      fs.unlinkSync(at(overlong, invalid));
      fs.rmdirSync(at(overlong));
      expect((fs.readdirSync(dir, { encoding: 'buffer' }) as Buffer[]).length).toBe(3);
    });

    it('should keep UTF-8 names exactly, without normalising or folding case, up to 255 bytes', () => {
      const d = m().dir('utf8');
      const names = ['日本語.txt', 'é', 'e\u0301', 'Straße', 'STRASSE', 'a', 'A', '🦀 crab', '日'.repeat(85)];
      for (const name of names) {
        fs.writeFileSync(j(d, name), name);
      }

      expect(fs.readdirSync(d).sort()).toEqual([...names].sort());
      for (const name of names) {
        expect(fs.readFileSync(j(d, name), 'utf8')).toBe(name);
      }
      expect(Buffer.byteLength('日'.repeat(85))).toBe(255);
      expect(errnoOf(() => fs.writeFileSync(j(d, '日'.repeat(86)), ''))).toBe('ENAMETOOLONG');
      fs.renameSync(j(d, '日本語.txt'), j(d, 'Ünïcödé'));
      expect(fs.readFileSync(j(d, 'Ünïcödé'), 'utf8')).toBe('日本語.txt');
    });
  });
});
