import type { SyncChild, SyncInode } from '../metadata/sync-journal';
import { parseCap } from '../tahoe/cap.util';
import {
  MAX_EDGE_XATTR_BYTES,
  SPECIAL_FILE_CAP,
  edgeHash,
  edgeMetadata,
  publishedInoOf,
  tahoeName,
  timespecNs,
} from './edge-metadata.util';

function inode(overrides: Partial<SyncInode> = {}): SyncInode {
  return {
    ino: 42,
    type: 'file',
    mode: 0o644,
    uid: 1000,
    gid: 100,
    size: 3,
    nlink: 1,
    rdev: 0,
    atime: { sec: 1, nsec: 0 },
    mtime: { sec: 1_700_000_000, nsec: 123_456_789 },
    ctime: { sec: 1_700_000_001, nsec: 5 },
    parent: null,
    contentVersion: 1,
    writeCap: null,
    readCap: null,
    syncedContentVersion: null,
    syncState: 'dirty',
    dataDirty: true,
    attrDirty: true,
    entriesDirty: false,
    dirtySince: 0,
    listedAt: null,
    changeSeq: 1,
    syncError: null,
    syncTries: 0,
    dirtyOwner: null,
    ...overrides,
  };
}

function child(overrides: Partial<SyncChild> = {}, inodeOverrides: Partial<SyncInode> = {}): SyncChild {
  return { name: Buffer.from('name'), inode: inode(inodeOverrides), xattrs: [], ...overrides };
}

describe('edge metadata', () => {
  it('should publish the identity a pulled inode came with, and its own number otherwise', () => {
    expect(edgeMetadata(child()).ino).toBe(42);
    expect(edgeMetadata(child({}, { publishedIno: null })).ino).toBe(42);
    expect(edgeMetadata(child({}, { publishedIno: 9000 })).ino).toBe(9000);
  });

  it('should read an identity only when it is a positive safe integer', () => {
    const read = (ino: unknown) => publishedInoOf({ ...edgeMetadata(child()), ino: ino as number });
    expect([read(7), read(0), read(-1), read(1.5), read('7'), read(2 ** 53), publishedInoOf(null)]).toEqual([
      7,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('should carry type, mode, owner and exact nanosecond times beyond 2^53', () => {
    expect(edgeMetadata(child())).toEqual({
      v: 1,
      type: 'file',
      ino: 42,
      mode: 0o644,
      uid: 1000,
      gid: 100,
      mtime_ns: '1700000000123456789',
      ctime_ns: '1700000001000000005',
    });
    expect(timespecNs({ sec: -1, nsec: 999_999_999 })).toBe('-1');
  });

  it('should carry a symlink target, as text or in base64 when it is not UTF-8', () => {
    expect(edgeMetadata(child({ target: Buffer.from('../there') }, { type: 'symlink' }))).toMatchObject({
      type: 'symlink',
      target: '../there',
    });
    const binary = Buffer.from([0x66, 0xff, 0x00]);
    const metadata = edgeMetadata(child({ target: binary }, { type: 'symlink' }));
    expect(metadata.target).toBeUndefined();
    expect(Buffer.from(metadata.target_b64!, 'base64').equals(binary)).toBe(true);
  });

  it('should carry small xattrs in base64 and leave out large ones, saying so', () => {
    const small = edgeMetadata(child({ xattrs: [{ name: Buffer.from('user.a'), value: Buffer.from([0, 1, 2]) }] }));
    expect(small.xattrs).toEqual({ 'user.a': 'AAEC' });
    const large = edgeMetadata(
      child({ xattrs: [{ name: Buffer.from('user.big'), value: Buffer.alloc(MAX_EDGE_XATTR_BYTES) }] }),
    );
    expect(large.xattrs).toBeUndefined();
    expect(large.xattrs_omitted).toBe(true);
  });

  it('should keep rdev for devices only', () => {
    expect(edgeMetadata(child({}, { type: 'char', rdev: 0x0103 })).rdev).toBe(0x0103);
    expect(edgeMetadata(child({}, { rdev: 7 })).rdev).toBeUndefined();
  });

  it('should hash cap and metadata so that any change of either changes the hash', () => {
    const metadata = edgeMetadata(child());
    const hash = edgeHash('URI:LIT:nbswy3dp', metadata);
    expect(edgeHash('URI:LIT:nbswy3dp', edgeMetadata(child()))).toBe(hash);
    expect(edgeHash('URI:LIT:mfrgg', metadata)).not.toBe(hash);
    expect(edgeHash('URI:LIT:nbswy3dp', edgeMetadata(child({}, { mode: 0o600 })))).not.toBe(hash);
  });

  it('should name only UTF-8 names for Tahoe', () => {
    expect(tahoeName(Buffer.from('café'))).toBe('café');
    expect(tahoeName(Buffer.from([0x61, 0xff]))).toBeUndefined();
    expect(tahoeName(Buffer.alloc(0))).toBeUndefined();
  });

  it('should link special files with the empty LIT file, a cap Tahoe accepts', () => {
    expect(parseCap(SPECIAL_FILE_CAP)).toMatchObject({ kind: 'LIT' });
  });
});
