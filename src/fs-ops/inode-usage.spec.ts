import { FREE_INODES_SHOWN, inodeFigures, InodeUsage } from './inode-usage';

describe('inodeFigures', () => {
  it('should show the inodes in use as used, and the conventional count as free', () => {
    expect(inodeFigures(1234)).toEqual({ files: 1234 + FREE_INODES_SHOWN, ffree: FREE_INODES_SHOWN });
  });

  it('should keep files within the 32-bit statfs field, shrinking the free count first', () => {
    const used = 2 ** 32 - 10;
    expect(inodeFigures(used)).toEqual({ files: 2 ** 32 - 1, ffree: 9 });
    expect(inodeFigures(2 ** 40)).toEqual({ files: 2 ** 32 - 1, ffree: 0 });
  });
});

describe('InodeUsage', () => {
  it('should answer 0 before the first count, the count after it, and keep it when a later count fails', async () => {
    const answers: (() => Promise<number>)[] = [
      () => Promise.resolve(42),
      () => Promise.reject(new Error('database unreachable')),
    ];
    const errors: unknown[] = [];
    const usage = new InodeUsage({ count: () => answers.shift()!(), onError: (error) => errors.push(error) });
    expect(usage.current()).toBe(0);
    await usage.refresh();
    expect(usage.current()).toBe(42);
    await usage.refresh();
    expect(usage.current()).toBe(42);
    expect(errors).toHaveLength(1);
  });
});
