import { type ContentUpload, SameContentUploads } from './same-content-uploads';

/** An upload the test finishes when it wants (no Tahoe: the grouping logic alone). */
function pendingUpload(): {
  run: () => Promise<ContentUpload | undefined>;
  finish: (result: ContentUpload | Error | undefined) => void;
  calls: () => number;
} {
  let calls = 0;
  let settle!: (result: ContentUpload | Error | undefined) => void;
  const promise = new Promise<ContentUpload | undefined>((resolve, reject) => {
    settle = (result) => (result instanceof Error ? reject(result) : resolve(result));
  });
  return {
    run: () => {
      calls += 1;
      return promise;
    },
    finish: (result) => settle(result),
    calls: () => calls,
  };
}

describe('SameContentUploads (no Tahoe)', () => {
  it('should give uploads of the same content that run at once the first one’s cap, with one upload', async () => {
    const uploads = new SameContentUploads();
    const first = pendingUpload();
    const second = pendingUpload();
    const digest = jest.fn(() => Promise.resolve('d1'));
    const one = uploads.run('k', digest, first.run);
    const two = uploads.run('k', digest, second.run);
    first.finish({ cap: 'URI:CHK:one', digest: () => Promise.resolve('d1') });
    await expect(one).resolves.toEqual({ cap: 'URI:CHK:one', shared: false });
    await expect(two).resolves.toEqual({ cap: 'URI:CHK:one', shared: true });
    expect(second.calls()).toBe(0);
    expect(uploads.running).toBe(0);
  });

  it('should upload content that only starts alike after the running upload, not beside it', async () => {
    const uploads = new SameContentUploads();
    const first = pendingUpload();
    const second = pendingUpload();
    const one = uploads.run('k', () => Promise.resolve('d1'), first.run);
    const two = uploads.run('k', () => Promise.resolve('d2'), second.run);
    await Promise.resolve();
    expect(second.calls()).toBe(0);
    first.finish({ cap: 'URI:CHK:one', digest: () => Promise.resolve('d1') });
    await one;
    second.finish({ cap: 'URI:CHK:two', digest: () => Promise.resolve('d2') });
    await expect(two).resolves.toEqual({ cap: 'URI:CHK:two', shared: false });
    expect(second.calls()).toBe(1);
  });

  it('should let the next in line upload when the running upload fails or is superseded', async () => {
    const uploads = new SameContentUploads();
    const failing = pendingUpload();
    const next = pendingUpload();
    const one = uploads.run('k', () => Promise.resolve('d1'), failing.run);
    const two = uploads.run('k', () => Promise.resolve('d1'), next.run);
    failing.finish(new Error('UNAVAILABLE'));
    await expect(one).rejects.toThrow('UNAVAILABLE');
    next.finish({ cap: 'URI:CHK:next', digest: () => Promise.resolve('d1') });
    await expect(two).resolves.toMatchObject({ cap: 'URI:CHK:next', shared: false });
  });

  it('should upload its own when the running upload’s content changed before a twin compared it', async () => {
    const uploads = new SameContentUploads();
    const first = pendingUpload();
    const second = pendingUpload();
    const theirs = jest.fn(() => Promise.resolve(undefined)); // Written since: its digest can no longer be had.
    const one = uploads.run('k', () => Promise.resolve('d1'), first.run);
    const two = uploads.run('k', () => Promise.resolve('d1'), second.run);
    first.finish({ cap: 'URI:CHK:one', digest: theirs });
    await one;
    second.finish({ cap: 'URI:CHK:two', digest: () => Promise.resolve('d1') });
    await expect(two).resolves.toEqual({ cap: 'URI:CHK:two', shared: false });
    expect(theirs).toHaveBeenCalledTimes(1);
    expect(second.calls()).toBe(1);
  });

  it('should not wait for uploads with another key', async () => {
    const uploads = new SameContentUploads();
    const first = pendingUpload();
    const other = pendingUpload();
    void uploads.run('k1', () => Promise.resolve('d1'), first.run);
    other.finish({ cap: 'URI:CHK:other', digest: () => Promise.resolve('d2') });
    await expect(uploads.run('k2', () => Promise.resolve('d2'), other.run)).resolves.toMatchObject({ shared: false });
    first.finish(undefined);
  });
});
