import { loadConfig } from '../config/config.loader';
import { ConfigValidationError } from '../config/config.errors';
import { heapBoundGiven, heapFlag } from './heap-bound';

const MiB = 1024 * 1024;
const env = { HOME: '/home/river' };

function problemsOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigValidationError) {
      return error.problems.join('\n');
    }
    throw error;
  }
  throw new Error('expected a ConfigValidationError');
}

describe('the maxHeap setting', () => {
  it('should default to 512 MiB', () => {
    expect(loadConfig({ env, cwd: '/' }).maxHeap).toBe(512 * MiB);
  });

  it('should take a size with its unit from the flag or the environment', () => {
    expect(loadConfig({ env: { ...env, RIVERFS_MAX_HEAP: '1GiB' }, cwd: '/' }).maxHeap).toBe(1024 * MiB);
    expect(loadConfig({ env, flags: { maxHeap: '768MiB' }, cwd: '/' }).maxHeap).toBe(768 * MiB);
  });

  it('should refuse a heap too small to run a gateway, too large or not a size, naming the setting', () => {
    expect(problemsOf(() => loadConfig({ env, flags: { maxHeap: '64MiB' }, cwd: '/' }))).toMatch(
      /maxHeap \(--max-heap\).*below the minimum/,
    );
    expect(problemsOf(() => loadConfig({ env: { ...env, RIVERFS_MAX_HEAP: '1TiB' }, cwd: '/' }))).toMatch(
      /maxHeap \(RIVERFS_MAX_HEAP\).*above the maximum/,
    );
    expect(problemsOf(() => loadConfig({ env: { ...env, RIVERFS_MAX_HEAP: 'lots' }, cwd: '/' }))).toMatch(
      /maxHeap \(RIVERFS_MAX_HEAP\)/,
    );
  });
});

describe('heapFlag', () => {
  it('should give node whole MiB, rounded down', () => {
    expect(heapFlag(512 * MiB)).toBe('--max-old-space-size=512');
    expect(heapFlag(600_000_000)).toBe('--max-old-space-size=572');
  });

  it('should refuse less than a MiB', () => {
    expect(() => heapFlag(1000)).toThrow(/at least 1 MiB/);
  });
});

describe('heapBoundGiven', () => {
  it('should see a bound on the node command line or in NODE_OPTIONS, and nothing else', () => {
    expect(heapBoundGiven(['--max-old-space-size=256'], undefined)).toBe(true);
    expect(heapBoundGiven(['--enable-source-maps'], '--trace-gc --max-old-space-size=300')).toBe(true);
    expect(heapBoundGiven(['--max-semi-space-size=16'], '')).toBe(false);
    expect(heapBoundGiven([], undefined)).toBe(false);
  });
});
