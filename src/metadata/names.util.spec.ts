import { FsError } from '../common/errors/fs-error';
import { checkName, checkNewName, checkSymlinkTarget, checkXattrName, checkXattrValue, dotKind } from './names.util';

function errnoOf(action: () => unknown): string | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    return error instanceof FsError ? error.code : 'not an FsError';
  }
}

describe('name checks', () => {
  it('should take strings as UTF-8 and count their bytes', () => {
    expect(checkName('\u00e9'.repeat(127))).toHaveLength(254);
    expect(errnoOf(() => checkName('\u00e9'.repeat(128)))).toBe('ENAMETOOLONG');
    expect(checkName(Buffer.from([0xff]))).toEqual(Buffer.from([0xff]));
  });

  it('should refuse empty names, slashes and NUL bytes', () => {
    expect(errnoOf(() => checkName(''))).toBe('ENOENT');
    expect(errnoOf(() => checkName('a/b'))).toBe('EINVAL');
    expect(errnoOf(() => checkName('a\0'))).toBe('EINVAL');
  });

  it('should recognise only exact dot names and refuse them for new entries', () => {
    expect([dotKind(Buffer.from('.')), dotKind(Buffer.from('..')), dotKind(Buffer.from('...'))]).toEqual([
      'dot',
      'dotdot',
      null,
    ]);
    expect(errnoOf(() => checkNewName('..'))).toBe('EEXIST');
    expect(errnoOf(() => checkNewName('.hidden'))).toBeUndefined();
  });

  it('should bound symlink targets and xattrs as Linux does', () => {
    expect(errnoOf(() => checkSymlinkTarget('x'.repeat(4097)))).toBe('ENAMETOOLONG');
    expect(errnoOf(() => checkSymlinkTarget(''))).toBe('ENOENT');
    expect(errnoOf(() => checkXattrName('x'.repeat(256)))).toBe('ERANGE');
    expect(errnoOf(() => checkXattrValue(Buffer.alloc(65537)))).toBe('E2BIG');
    expect(errnoOf(() => checkXattrValue(Buffer.alloc(65536)))).toBeUndefined();
  });
});
