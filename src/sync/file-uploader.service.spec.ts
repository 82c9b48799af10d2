import { Logger } from '@nestjs/common';
import type { BlockCache } from '../cache/block-cache';
import type { SyncInode } from '../metadata/sync-journal';
import type { TahoeClient } from '../tahoe/tahoe.client';
import { FileUploader, ForeignDirtyContentError } from './file-uploader.service';

const MINE = 'a'.repeat(32);
const THEIRS = 'b'.repeat(32);

function dirtyFile(dirtyOwner: string | null): SyncInode {
  return {
    ino: 7,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 5,
    nlink: 1,
    rdev: 0,
    atime: { sec: 1, nsec: 0 },
    mtime: { sec: 1, nsec: 0 },
    ctime: { sec: 1, nsec: 0 },
    parent: null,
    contentVersion: 1,
    writeCap: null,
    readCap: null,
    syncedContentVersion: null,
    syncState: 'dirty',
    dataDirty: true,
    attrDirty: true,
    entriesDirty: false,
    dirtySince: 1,
    listedAt: null,
    changeSeq: 1,
    syncError: null,
    syncTries: 0,
    dirtyOwner,
  };
}

/** A fake cache holding "hello" for every file (a unit test of the ownership check, no disk involved). */
function fakeCache(): { cache: BlockCache; reads: jest.Mock } {
  const reads = jest.fn(() => Promise.resolve(Buffer.from('hello')));
  const cache = {
    blockSize: 1024 * 1024,
    writeGeneration: () => 3,
    dirtyBlocks: () => [0],
    read: reads,
  } as unknown as BlockCache;
  return { cache, reads };
}

describe('FileUploader ownership check (fake cache and Tahoe)', () => {
  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('should refuse, without reading the cache or calling Tahoe, a file whose dirty content another cache holds', async () => {
    const { cache, reads } = fakeCache();
    const upload = jest.fn();
    const uploader = new FileUploader(cache, { upload } as unknown as TahoeClient, undefined, MINE);

    const refusal = uploader.upload(dirtyFile(THEIRS));

    await expect(refusal).rejects.toBeInstanceOf(ForeignDirtyContentError);
    await expect(refusal).rejects.toThrow(`data directory id ${THEIRS}, not in this one's (${MINE})`);
    expect(reads).not.toHaveBeenCalled();
    expect(upload).not.toHaveBeenCalled();
  });

  it('should refuse another cache’s content in a gateway that has no id of its own', async () => {
    const { cache } = fakeCache();
    const uploader = new FileUploader(cache, {} as TahoeClient);
    await expect(uploader.upload(dirtyFile(THEIRS))).rejects.toBeInstanceOf(ForeignDirtyContentError);
  });

  it.each([
    ['its own cache', MINE],
    ['no recorded owner (rows from before owners were kept)', null],
  ])('should upload content owned by %s', async (_, owner) => {
    const { cache, reads } = fakeCache();
    const uploader = new FileUploader(cache, {} as TahoeClient, undefined, MINE);
    const result = await uploader.upload(dirtyFile(owner));
    expect(reads).toHaveBeenCalledTimes(1);
    expect(result).toMatchObject({ bytes: 5, generation: 3, dirtyBlocks: [0] });
    expect(result?.cap).toMatch(/^URI:LIT:/);
  });
});
