import { isAdminError } from './admin.errors';
import { fsPathProblem, joinFsPath, splitFsPath } from './fs-path.util';

describe('filesystem paths of the admin API', () => {
  it('should accept the root and ordinary absolute paths, names with dots and odd characters included', () => {
    for (const path of ['/', '/a', '/a/b.c', '/...', '/.hidden/..x', '/with space/ünïcode/\\back', '/%2e%2e']) {
      expect(fsPathProblem(path)).toBeUndefined();
    }
    expect(splitFsPath('/a/b.c')).toEqual(['a', 'b.c']);
    expect(splitFsPath('/')).toEqual([]);
  });

  it.each([
    ['', /empty/],
    ['a/b', /absolute/],
    ['./a', /absolute/],
    ['/a/../b', /"\.\."/],
    ['/..', /"\.\."/],
    ['/a/./b', /"\."/],
    ['/a//b', /empty segments/],
    ['/a/', /empty segments/],
    ['/a\0b', /NUL/],
    ['/\uD800', /lone surrogate/],
    ['/' + 'x'.repeat(256), /name longer than 255/],
    ['/' + 'a/'.repeat(2100) + 'a', /longer than 4096/],
  ])('should refuse %j with a reason', (path, reason) => {
    expect(fsPathProblem(path)).toMatch(reason);
    let caught: unknown;
    try {
      splitFsPath(path);
    } catch (error) {
      caught = error;
    }
    expect(isAdminError(caught, 'INVALID_PATH')).toBe(true);
  });

  it('should refuse values that are not strings', () => {
    expect(fsPathProblem(['/a'])).toBe('must be a string');
    expect(fsPathProblem(42)).toBe('must be a string');
  });

  it('should join stored names back into a path', () => {
    expect(joinFsPath([Buffer.from('a'), 'b'])).toBe('/a/b');
    expect(joinFsPath([])).toBe('/');
  });
});
