import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseKnownCap, readOnlyCapOf } from '../../src/tahoe/cap.util';
import { TahoeClient } from '../../src/tahoe/tahoe.client';
import { TahoeError, type TahoeErrorCode } from '../../src/tahoe/tahoe.errors';
import type { ManifestEntry, TahoeDirectoryListing } from '../../src/tahoe/tahoe.types';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { freshRootDircap } from '../support/tahoe.helper';

async function failure(promise: Promise<unknown>): Promise<TahoeError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TahoeError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected the call to fail');
}

async function expectCode(promise: Promise<unknown>, code: TahoeErrorCode, status?: number): Promise<TahoeError> {
  const error = await failure(promise);
  expect(error.code).toBe(code);
  if (status !== undefined) {
    expect(error.status).toBe(status);
  }
  return error;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Bytes above the 55-byte LIT limit, so they really go to the storage servers. */
function payload(size = 4096): Buffer {
  return randomBytes(size);
}

async function consume(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

describe('TahoeClient against the test grid', () => {
  let client: TahoeClient;
  let root: string;

  beforeAll(() => {
    client = testTahoeClient();
  });

  afterAll(async () => {
    await client.close();
  });

  beforeEach(async () => {
    root = await freshRootDircap();
  });

  describe('immutable files', () => {
    it('should upload bytes as CHK and read them back whole', async () => {
      const data = payload(10_000);
      const cap = await client.upload(data);
      expect(parseKnownCap(cap)).toMatchObject({ kind: 'CHK', size: 10_000, k: 2, n: 3 });
      expect(sha256(await client.readAll(cap))).toBe(sha256(data));
    });

    it('should upload 55 bytes or fewer as a LIT cap holding the data', async () => {
      const cap = await client.upload(Buffer.from('tiny file'));
      expect(parseKnownCap(cap)).toMatchObject({ kind: 'LIT', size: 9 });
      expect((await client.readAll(cap)).toString()).toBe('tiny file');
      expect(parseKnownCap(await client.upload(Buffer.alloc(0))).kind).toBe('LIT');
    });

    it('should give the same cap for the same content uploaded from a file, a sized stream and a chunked stream', async () => {
      // Convergent encryption: identical bytes give an identical cap, whatever the transfer encoding.
      const data = payload(300_000);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-tahoe-'));
      try {
        const file = path.join(dir, 'data.bin');
        fs.writeFileSync(file, data);
        const fromFile = await client.uploadFile(file);
        const fromSizedStream = await client.upload(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), {
          length: data.length,
        });
        const fromChunkedStream = await client.upload(
          Readable.from(
            (function* () {
              yield data.subarray(0, 5);
              yield data.subarray(5);
            })(),
          ),
        );
        expect(fromSizedStream).toBe(fromFile);
        expect(fromChunkedStream).toBe(fromFile);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('should read a range as a stream with the served range and the total size', async () => {
      const data = payload(50_000);
      const cap = await client.upload(data);
      const result = await client.read(cap, { range: { start: 1000, end: 1999 } });
      expect(result).toMatchObject({ contentLength: 1000, totalSize: 50_000, range: { start: 1000, end: 1999 } });
      expect((await consume(result.stream)).equals(data.subarray(1000, 2000))).toBe(true);
    });

    it('should read an open range to the end and cut a range that runs past the end', async () => {
      const data = payload(5000);
      const cap = await client.upload(data);
      const open = await client.read(cap, { range: { start: 4000 } });
      expect(open.contentLength).toBe(1000);
      expect((await consume(open.stream)).equals(data.subarray(4000))).toBe(true);
      expect((await client.readRange(cap, 4990, 100)).equals(data.subarray(4990))).toBe(true);
      const whole = await client.read(cap);
      expect(whole).toMatchObject({ contentLength: 5000, totalSize: 5000 });
      expect(whole.range).toBeUndefined();
      whole.stream.destroy();
    });

    it('should fail with RANGE_NOT_SATISFIABLE for a range that starts at or past the end', async () => {
      const cap = await client.upload(payload(1000));
      await expectCode(client.readRange(cap, 1000, 10), 'RANGE_NOT_SATISFIABLE', 416);
      await expectCode(client.read(cap, { range: { start: 5000, end: 6000 } }), 'RANGE_NOT_SATISFIABLE', 416);
    });

    it('should fail with UNRECOVERABLE for a well-formed cap whose shares exist nowhere', async () => {
      // A real cap with its key replaced: well-formed, but no server holds shares for it.
      const real = await client.upload(payload(1000));
      const missing = real.replace(/^URI:CHK:[a-z2-7]{26}:/, `URI:CHK:${'a'.repeat(26)}:`);
      const error = await expectCode(client.readAll(missing), 'UNRECOVERABLE', 410);
      expect(error.message).toContain('NoSharesError');
      expect(error.message).not.toContain('aaaaaaaaaaaaaaaa');
      expect((await client.check(missing)).healthy).toBe(false);
    });
  });

  describe('mutable files', () => {
    it('should create MDMF and SDMF files in the format asked for', async () => {
      const mdmf = await client.createMutable('MDMF', Buffer.from('mdmf content'));
      const sdmf = await client.createMutable('SDMF', Buffer.from('sdmf content'));
      expect(parseKnownCap(mdmf).kind).toBe('MDMF');
      expect(parseKnownCap(sdmf).kind).toBe('SSK');
      expect(await client.getNode(mdmf)).toMatchObject({ type: 'file', mutable: true, format: 'MDMF', size: 12 });
      expect((await client.readAll(sdmf)).toString()).toBe('sdmf content');
    });

    it('should overwrite a mutable file whole, which is the only way to shrink it', async () => {
      const cap = await client.createMutable('MDMF', Buffer.from('a long original content'));
      await client.overwriteMutable(cap, Buffer.from('short'));
      expect((await client.readAll(cap)).toString()).toBe('short');
    });

    it('should write at an offset and append at the end of an MDMF file', async () => {
      const cap = await client.createMutable('MDMF', Buffer.from('0123456789'));
      await client.writeMutableAt(cap, 3, Buffer.from('abc'));
      await client.writeMutableAt(cap, 10, Buffer.from('XYZ'), { currentSize: 10 });
      expect((await client.readAll(cap)).toString()).toBe('012abc6789XYZ');
    });

    it('should refuse an offset past the end of the file before sending the write', async () => {
      // Tahoe would fail an assertion for MDMF and silently write at EOF for SDMF.
      for (const format of ['MDMF', 'SDMF'] as const) {
        const cap = await client.createMutable(format, Buffer.from('abc'));
        await expectCode(client.writeMutableAt(cap, 10, Buffer.from('zz')), 'BAD_REQUEST');
        expect((await client.readAll(cap)).toString()).toBe('abc');
      }
    });

    it('should map an MDMF write past the end that reaches the grid to BAD_REQUEST', async () => {
      const cap = await client.createMutable('MDMF', Buffer.from('abc'));
      // A stale size hint lets the request through: this is the grid's own 500 assertion, mapped.
      await expectCode(client.writeMutableAt(cap, 10, Buffer.from('zz'), { currentSize: 100 }), 'BAD_REQUEST', 500);
    });

    it('should fail with READ_ONLY when writing through a read-only mutable cap', async () => {
      const cap = await client.createMutable('MDMF', Buffer.from('original'));
      const readonly = readOnlyCapOf(cap);
      expect((await client.getNode(cap)).roUri).toBe(readonly);
      await expectCode(client.overwriteMutable(readonly, Buffer.from('x')), 'READ_ONLY', 400);
      await expectCode(client.writeMutableAt(readonly, 0, Buffer.from('x')), 'READ_ONLY', 400);
      expect((await client.readAll(cap)).toString()).toBe('original');
    });
  });

  describe('metadata', () => {
    it('should describe a file by cap without edge metadata and by path with it', async () => {
      const cap = await client.upload(payload(2000));
      await client.link(root, 'file', cap);
      const byCap = await client.getNode(cap);
      expect(byCap).toMatchObject({ type: 'file', mutable: false, format: 'CHK', size: 2000, roUri: cap });
      expect(byCap.metadata).toBeUndefined();
      const byPath = await client.getChild(root, 'file');
      expect(byPath.metadata?.linkcrtime).toEqual(expect.any(Number));
      expect(byPath.metadata?.linkmotime).toEqual(expect.any(Number));
    });

    it('should list a directory with typed children, custom metadata and unknown entries', async () => {
      const file = await client.upload(payload(700));
      const sub = await client.mkdir({ format: 'MDMF' });
      await client.setChildren(root, {
        data: { type: 'file', roUri: file, metadata: { riverfs: { mode: 0o640, mtimeNs: '1700000000123456789' } } },
        sub: { type: 'directory', rwUri: sub, roUri: readOnlyCapOf(sub) },
        future: { type: 'unknown', roUri: 'ro.URI:NEW:abcdefgh:ijklmnop' },
      });
      const listing = await client.listDirectory(root);
      expect(listing).toMatchObject({ type: 'directory', mutable: true, rwUri: root, format: 'SDMF' });
      expect([...listing.children.keys()].sort()).toEqual(['data', 'future', 'sub']);
      expect(listing.children.get('data')).toMatchObject({ type: 'file', size: 700, roUri: file, format: 'CHK' });
      expect(listing.children.get('data')?.metadata?.custom).toEqual({
        riverfs: { mode: 0o640, mtimeNs: '1700000000123456789' },
      });
      expect(listing.children.get('sub')).toMatchObject({ type: 'directory', format: 'MDMF', rwUri: sub });
      expect(listing.children.get('future')).toMatchObject({ type: 'unknown', roUri: 'ro.URI:NEW:abcdefgh:ijklmnop' });
    });

    it('should show only read caps through a read-only directory cap', async () => {
      const mutable = await client.createMutable('MDMF', Buffer.from('m'));
      await client.link(root, 'm', mutable);
      const listing = await client.listDirectory(readOnlyCapOf(root));
      expect(listing.rwUri).toBeUndefined();
      expect(listing.children.get('m')).toMatchObject({ roUri: readOnlyCapOf(mutable) });
      expect(listing.children.get('m')?.rwUri).toBeUndefined();
    });

    it('should fail with NOT_FOUND for a missing child', async () => {
      await expectCode(client.getChild(root, 'nope'), 'NOT_FOUND', 404);
      await expectCode(client.unlink(root, 'nope'), 'NOT_FOUND', 404);
    });
  });

  describe('directories', () => {
    it('should create unlinked directories in SDMF by default and MDMF on request', async () => {
      expect(parseKnownCap(await client.mkdir()).kind).toBe('DIR2');
      expect(parseKnownCap(await client.mkdir({ format: 'MDMF' })).kind).toBe('DIR2-MDMF');
    });

    it('should create a linked directory and refuse an existing name unless replace is asked for', async () => {
      const first = await client.mkdirChild(root, 'sub');
      await client.link(first, 'keep', await client.upload(payload(100)));
      await expectCode(client.mkdirChild(root, 'sub'), 'ALREADY_EXISTS', 409);
      expect((await client.getChild(root, 'sub')).rwUri).toBe(first);
      const second = await client.mkdirChild(root, 'sub', { replace: true, format: 'MDMF' });
      expect(parseKnownCap(second).kind).toBe('DIR2-MDMF');
      expect((await client.getChild(root, 'sub')).rwUri).toBe(second);
    });

    it('should create directories with their children in one request', async () => {
      const file = await client.upload(payload(100));
      const unlinked = await client.mkdirWithChildren({ a: { roUri: file, metadata: { k: 1 } } });
      // Tahoe ignores format= on the unlinked form: always SDMF.
      expect(parseKnownCap(unlinked).kind).toBe('DIR2');
      const unlinkedListing = await client.listDirectory(unlinked);
      expect(unlinkedListing.children.get('a')?.metadata?.custom).toEqual({ k: 1 });
      const linked = await client.mkdirChildWithChildren(root, 'made', { b: { roUri: file } }, { format: 'MDMF' });
      expect(parseKnownCap(linked).kind).toBe('DIR2-MDMF');
      expect((await client.listDirectory(linked)).children.get('b')).toMatchObject({ roUri: file });
      await expectCode(client.mkdirChildWithChildren(root, 'made', {}), 'ALREADY_EXISTS', 409);
    });

    it('should link a cap under a name and replace it only when asked', async () => {
      const one = await client.upload(payload(100));
      const two = await client.upload(payload(100));
      await client.link(root, 'f', one);
      await expectCode(client.link(root, 'f', two), 'ALREADY_EXISTS', 409);
      await client.link(root, 'f', two, { replace: true });
      expect((await client.getChild(root, 'f')).roUri).toBe(two);
      await client.mkdirChild(root, 'd');
      await expectCode(client.link(root, 'd', one, { replace: 'only-files' }), 'ALREADY_EXISTS', 409);
      await client.link(root, 'f', one, { replace: 'only-files' });
      expect((await client.getChild(root, 'f')).roUri).toBe(one);
    });

    it('should set several children in one publish, keeping metadata when an entry has none', async () => {
      const a = await client.upload(payload(100));
      const b = await client.upload(payload(100));
      await client.setChildren(root, { a: { roUri: a, metadata: { riverfs: { mode: 1 } } }, b: { roUri: b } });
      await client.setChildren(root, { a: { roUri: b } }, { replace: true });
      const listing = await client.listDirectory(root);
      expect(listing.children.get('a')).toMatchObject({ roUri: b });
      expect(listing.children.get('a')?.metadata?.custom).toEqual({ riverfs: { mode: 1 } });
      await expectCode(client.setChildren(root, { b: { roUri: a }, c: { roUri: a } }), 'ALREADY_EXISTS', 409);
      // The batch is atomic: the refused entry did not let the other one through.
      expect((await client.listDirectory(root)).children.has('c')).toBe(false);
    });

    it('should round-trip awkward names through link, listing, lookup, rename and unlink', async () => {
      const cap = await client.upload(payload(100));
      const names = [
        'spaces in name',
        'q?h#p%20+&=;',
        'back\\slash',
        '.',
        '..',
        '__proto__',
        'ünïcödé 日本語 🎉',
        'quote\'s "dq"',
        'x'.repeat(200),
      ];
      for (const name of names) {
        await client.link(root, name, cap);
      }
      const listing = await client.listDirectory(root);
      expect([...listing.children.keys()].sort()).toEqual([...names].sort());
      for (const name of names) {
        expect((await client.getChild(root, name)).roUri).toBe(cap);
      }
      await client.rename(root, 'q?h#p%20+&=;', 'renamed?#%');
      expect((await client.getChild(root, 'renamed?#%')).roUri).toBe(cap);
      for (const name of names.filter((n) => n !== 'q?h#p%20+&=;')) {
        expect(await client.unlink(root, name)).toBe(cap);
      }
      expect([...(await client.listDirectory(root)).children.keys()]).toEqual(['renamed?#%']);
    });

    it('should store names NFC-normalised, as Tahoe does', async () => {
      const cap = await client.upload(payload(100));
      await client.link(root, 'e\u0301', cap);
      const listing: TahoeDirectoryListing = await client.listDirectory(root);
      expect([...listing.children.keys()]).toEqual(['\u00e9']);
    });

    it('should refuse empty names and names with a slash without sending anything', async () => {
      const cap = await client.upload(payload(100));
      await expectCode(client.link(root, '', cap), 'BAD_REQUEST');
      await expectCode(client.link(root, 'a/b', cap), 'BAD_REQUEST');
      await expectCode(client.setChildren(root, { 'a/b': { roUri: cap } }), 'BAD_REQUEST');
      await expectCode(client.link(root, '\ud800', cap), 'BAD_REQUEST');
      await expectCode(client.setChildren(root, { 'a\udc00': { roUri: cap } }), 'BAD_REQUEST');
      expect((await client.listDirectory(root)).children.size).toBe(0);
    });

    it('should unlink a child and return the cap it held', async () => {
      const cap = await client.upload(payload(100));
      await client.link(root, 'gone', cap);
      expect(await client.unlink(root, 'gone')).toBe(cap);
      await expectCode(client.getChild(root, 'gone'), 'NOT_FOUND');
    });

    it('should rename within a directory and relink across directories keeping metadata', async () => {
      const cap = await client.upload(payload(100));
      const other = await client.mkdir();
      await client.setChildren(root, { a: { roUri: cap, metadata: { riverfs: { uid: 7 } } }, b: { roUri: cap } });
      await client.rename(root, 'a', 'a2');
      await expectCode(client.rename(root, 'a2', 'b'), 'ALREADY_EXISTS', 409);
      await expectCode(client.rename(root, 'missing', 'x'), 'NOT_FOUND', 404);
      await client.relink(root, 'a2', other, 'moved');
      expect((await client.listDirectory(root)).children.has('a2')).toBe(false);
      expect((await client.getChild(other, 'moved')).metadata?.custom).toEqual({ riverfs: { uid: 7 } });
      await client.link(other, 'b', cap);
      await expectCode(client.relink(root, 'b', other), 'ALREADY_EXISTS', 409);
      await client.relink(root, 'b', other, 'b', { replace: true });
      expect((await client.listDirectory(root)).children.size).toBe(0);
    });

    it('should refuse relink and rename names with outer whitespace, which Tahoe would strip', async () => {
      const cap = await client.upload(payload(100));
      await client.link(root, ' padded ', cap);
      await client.link(root, 'padded', cap);
      await expectCode(client.rename(root, ' padded ', 'x'), 'BAD_REQUEST');
      await expectCode(client.relink(root, 'padded', root, 'y '), 'BAD_REQUEST');
      expect([...(await client.listDirectory(root)).children.keys()].sort()).toEqual([' padded ', 'padded']);
    });
  });

  describe('read-only and bad caps', () => {
    it('should fail with READ_ONLY for every kind of write through a read-only directory cap', async () => {
      const readonly = readOnlyCapOf(root);
      const cap = await client.upload(payload(100));
      await client.link(root, 'existing', cap);
      await expectCode(client.link(readonly, 'x', cap), 'READ_ONLY', 500);
      await expectCode(client.setChildren(readonly, { x: { roUri: cap } }), 'READ_ONLY', 500);
      await expectCode(client.mkdirChild(readonly, 'x'), 'READ_ONLY', 500);
      await expectCode(client.rename(readonly, 'existing', 'x'), 'READ_ONLY', 500);
      await expectCode(client.unlink(readonly, 'existing'), 'READ_ONLY');
      expect([...(await client.listDirectory(root)).children.keys()]).toEqual(['existing']);
    });

    it('should refuse malformed, verify and wrong-kind caps with BAD_CAP before sending', async () => {
      await expectCode(client.readAll('URI:CHK:garbage'), 'BAD_CAP');
      await expectCode(client.listDirectory('not a cap'), 'BAD_CAP');
      await expectCode(client.listDirectory(await client.upload(payload(100))), 'BAD_CAP');
      await expectCode(client.getNode('URI:NEW:abcdefgh:ijklmnop'), 'BAD_CAP');
      const { verifyUri } = await client.getNode(root);
      await expectCode(client.check(verifyUri!), 'BAD_CAP');
      await expectCode(client.link(root, 'x', 'garbage'), 'BAD_CAP');
    });

    it('should map the grid refusing a bare unknown cap in a link to BAD_CAP', async () => {
      // A cap of a future format is accepted only behind ro./imm.; bare, Tahoe answers 400 MustNotBeUnknownRWError.
      await expectCode(client.link(root, 'x', 'URI:NEWRW:aaaa'), 'BAD_CAP', 400);
      await client.link(root, 'y', 'ro.URI:NEWRO:bbbb');
      expect((await client.getChild(root, 'y')).roUri).toBe('ro.URI:NEWRO:bbbb');
    });

    it('should never put a raw cap in an error message', async () => {
      const cap = await client.upload(payload(100));
      const error = await expectCode(client.link(readOnlyCapOf(root), 'x', cap), 'READ_ONLY');
      for (const secret of [root, readOnlyCapOf(root), cap]) {
        expect(error.message).not.toContain(secret.split(':')[2]);
      }
    });
  });

  describe('check and manifest', () => {
    it('should check files and directories, LIT included', async () => {
      const cap = await client.upload(payload(1000));
      const result = await client.check(cap);
      expect(result).toMatchObject({ healthy: true, recoverable: true, countSharesGood: 3, countSharesNeeded: 2 });
      expect(result.storageIndex).toMatch(/^[a-z2-7]{26}$/);
      expect(await client.check(root)).toMatchObject({ healthy: true, countRecoverableVersions: 1 });
      expect(await client.check('URI:LIT:nbswy3dp')).toMatchObject({ healthy: true, storageIndex: '' });
      expect((await client.check(cap, { verify: true })).healthy).toBe(true);
    });

    it('should check and repair, reporting that a healthy file needed no repair', async () => {
      const cap = await client.upload(payload(1000));
      const result = await client.checkAndRepair(cap);
      expect(result).toMatchObject({
        repairAttempted: false,
        preRepair: { healthy: true },
        postRepair: { healthy: true },
      });
    });

    it('should stream a manifest of a tree as typed entries ending with stats', async () => {
      const file = await client.upload(payload(500));
      const sub = await client.mkdirChild(root, 'sub');
      await client.link(sub, 'file é', file);
      await client.link(root, 'lit', 'URI:LIT:nbswy3dp');
      const entries: ManifestEntry[] = [];
      for await (const entry of client.streamManifest(root)) {
        entries.push(entry);
      }
      const nodes = entries.filter((entry) => entry.type !== 'stats');
      expect(nodes).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: 'directory', path: [], cap: root }),
          expect.objectContaining({ type: 'directory', path: ['sub'], cap: sub }),
          expect.objectContaining({ type: 'file', path: ['sub', 'file é'], cap: file }),
          expect.objectContaining({ type: 'file', path: ['lit'], cap: 'URI:LIT:nbswy3dp' }),
        ]),
      );
      expect(nodes).toHaveLength(4);
      const last = entries[entries.length - 1];
      expect(last?.type).toBe('stats');
      expect(last?.type === 'stats' && last.stats['count-directories']).toBe(2);
    });

    it('should give the connection back when a manifest walk is abandoned early', async () => {
      const single = testTahoeClient({ concurrency: 1 });
      try {
        await client.mkdirChild(root, 'a');
        await client.mkdirChild(root, 'b');
        for await (const entry of single.streamManifest(root)) {
          expect(entry.type).toBe('directory');
          break;
        }
        // With one slot, a leaked one would make this wait forever; the signal turns that into a failure.
        const status = await single.gridStatus({ signal: AbortSignal.timeout(10_000) });
        expect(status.servers.length).toBeGreaterThan(0);
      } finally {
        await single.close();
      }
    });
  });

  describe('node status', () => {
    it('should report every storage server connected and the grid happy', async () => {
      const status = await client.gridStatus();
      expect(status.servers).toHaveLength(3);
      expect(status.connectedCount).toBe(3);
      expect(status.isHappy(3)).toBe(true);
      expect(status.isHappy(4)).toBe(false);
      expect(status.connectedIntroducers).toBe(1);
      expect(status.availableSpace).toBeGreaterThan(0);
      expect(status.servers.map((server) => server.nickname).sort()).toEqual(['storage1', 'storage2', 'storage3']);
    });

    it('should read the node statistics', async () => {
      await client.upload(payload(100));
      const stats = await client.statistics();
      expect(stats.counters['uploader.files_uploaded']).toBeGreaterThan(0);
      expect(stats.stats['node.uptime']).toBeGreaterThan(0);
    });
  });

  describe('client behaviour', () => {
    it('should log requests with every cap redacted', async () => {
      const lines: string[] = [];
      const logged = testTahoeClient({
        logger: { debug: (line) => lines.push(line), warn: (line) => lines.push(line) },
      });
      try {
        const cap = await logged.upload(payload(100));
        await logged.link(root, 'x', cap);
        await logged.relink(root, 'x', await logged.mkdir(), 'y');
        await expectCode(logged.getChild(root, 'x'), 'NOT_FOUND');
      } finally {
        await logged.close();
      }
      expect(lines.length).toBeGreaterThanOrEqual(5);
      expect(lines.join('\n')).toContain('<redacted:');
      expect(lines.join('\n')).not.toMatch(/URI(?::|%3A)[A-Z0-9-]+(?::|%3A)[a-z2-7]{10}/);
    });

    it('should run concurrent reads through the bounded pool without losing any', async () => {
      const data = payload(64 * 1024);
      const cap = await client.upload(data);
      const reads = await Promise.all(
        Array.from({ length: 12 }, (_, index) => client.readRange(cap, index * 4096, 4096)),
      );
      reads.forEach((chunk, index) => expect(chunk.equals(data.subarray(index * 4096, (index + 1) * 4096))).toBe(true));
    });
  });
});

/** A local HTTP server standing in for a Tahoe node, for behaviour no real node shows on demand. */
async function fakeServer(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function fakeClient(url: string, overrides: Partial<ConstructorParameters<typeof TahoeClient>[0]> = {}): TahoeClient {
  return new TahoeClient({
    url,
    connectTimeout: 2000,
    headersTimeout: 5000,
    bodyTimeout: 5000,
    concurrency: 4,
    retries: 2,
    retryBaseDelay: 10,
    ...overrides,
  });
}

const SOME_DIR = 'URI:DIR2:zauk2nekb77b6ea63cklotyrm4:fwbc2lal5s3ikzxxjc7gkvfg5gn4l5hxzqooikg7yqeigs5x456q';
const SOME_CHK = 'URI:CHK:iuj5q2kzv6a2adoxradm76ohry:vjxdsgmmssd2juettexqtietk7fgdbsuntpn43s7xu7zdmk3z6ha:2:3:1000';

describe('TahoeClient transport failures', () => {
  it('should fail with UNAVAILABLE when nothing listens on the port, after retrying reads', async () => {
    const server = await fakeServer(() => undefined);
    const url = server.url;
    await server.close();
    const client = fakeClient(url, { retries: 1 });
    try {
      const error = await expectCode(client.gridStatus(), 'UNAVAILABLE');
      expect(error.retryable).toBe(true);
      expect(error.status).toBeUndefined();
      await expectCode(client.upload(Buffer.from('x'.repeat(100))), 'UNAVAILABLE');
    } finally {
      await client.close();
    }
  });

  it('should fail with TRUNCATED_BODY when a fake server sends fewer bytes than its Content-Length', async () => {
    let requests = 0;
    const server = await fakeServer((_request, response) => {
      requests += 1;
      response.writeHead(200, { 'content-length': '1000', 'content-type': 'text/plain' });
      response.write(Buffer.alloc(400, 1));
      // Ends the connection mid-body, as Tahoe does when a download fails after streaming started.
      setImmediate(() => response.socket?.destroy());
    });
    const client = fakeClient(server.url, { retries: 2 });
    try {
      const result = await client.read(SOME_CHK);
      expect(result.contentLength).toBe(1000);
      const streamError = await failure(consume(result.stream));
      expect(streamError).toMatchObject({ code: 'TRUNCATED_BODY', retryable: true });
      expect(streamError.message).toContain('400 of 1000');
      requests = 0;
      await expectCode(client.readAll(SOME_CHK), 'TRUNCATED_BODY');
      // A buffered read is idempotent, so it was retried before giving up.
      expect(requests).toBe(3);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('should fail with TRUNCATED_BODY when a fake server ends a JSON body early', async () => {
    const server = await fakeServer((_request, response) => {
      response.writeHead(200, { 'content-length': '500' });
      response.write('{"servers": [');
      setImmediate(() => response.socket?.destroy());
    });
    const client = fakeClient(server.url, { retries: 0 });
    try {
      await expectCode(client.gridStatus(), 'TRUNCATED_BODY');
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('should fail with UNAVAILABLE when a fake server never sends headers', async () => {
    const server = await fakeServer(() => undefined);
    const client = fakeClient(server.url, { headersTimeout: 300, retries: 0 });
    try {
      const error = await expectCode(client.statistics(), 'UNAVAILABLE');
      expect(error.message).toContain('UND_ERR_HEADERS_TIMEOUT');
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('should retry idempotent reads but send a write only once against a fake server that drops connections', async () => {
    const seen: string[] = [];
    const server = await fakeServer((request, response) => {
      seen.push(`${request.method} ${request.headers.accept}`);
      request.resume();
      request.on('end', () => response.socket?.destroy());
    });
    const client = fakeClient(server.url, { retries: 2 });
    try {
      await expectCode(client.getNode(SOME_CHK), 'UNAVAILABLE');
      expect(seen).toEqual(['GET text/plain', 'GET text/plain', 'GET text/plain']);
      seen.length = 0;
      await expectCode(client.upload(Buffer.alloc(100)), 'UNAVAILABLE');
      await expectCode(client.mkdir(), 'UNAVAILABLE');
      expect(seen).toEqual(['PUT text/plain', 'POST text/plain']);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('should keep at most `concurrency` requests in flight against a fake server', async () => {
    let inFlight = 0;
    let peak = 0;
    const server = await fakeServer((_request, response) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      setTimeout(() => {
        inFlight -= 1;
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"counters": {}, "stats": {}}');
      }, 30);
    });
    const client = fakeClient(server.url, { concurrency: 2 });
    try {
      await Promise.all(Array.from({ length: 8 }, () => client.statistics()));
      expect(peak).toBe(2);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('should percent-encode caps and child names in request URLs, as a fake server records them', async () => {
    const urls: string[] = [];
    const server = await fakeServer((request, response) => {
      urls.push(request.url ?? '');
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end('["filenode", {"mutable": false, "format": "CHK", "size": 1}]');
    });
    const client = fakeClient(server.url);
    const dircap = SOME_DIR;
    try {
      await client.getChild(dircap, '..');
      await client.getChild(dircap, "é ?#%+!'()*");
      expect(urls).toEqual([
        '/uri/URI%3ADIR2%3Azauk2nekb77b6ea63cklotyrm4%3Afwbc2lal5s3ikzxxjc7gkvfg5gn4l5hxzqooikg7yqeigs5x456q/%2E%2E?t=json',
        '/uri/URI%3ADIR2%3Azauk2nekb77b6ea63cklotyrm4%3Afwbc2lal5s3ikzxxjc7gkvfg5gn4l5hxzqooikg7yqeigs5x456q/%C3%A9%20%3F%23%25%2B%21%27%28%29%2A?t=json',
      ]);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('should fail a manifest with UNRECOVERABLE where a fake server reports a walk stopped by an ERROR line', async () => {
    const server = await fakeServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.write(`{"path": [], "cap": "${SOME_DIR}", "type": "directory"}\n`);
      response.end('ERROR: UnrecoverableFileError(no recoverable versions)\nTraceback (most recent call last):\n');
    });
    const client = fakeClient(server.url);
    const seen: ManifestEntry[] = [];
    try {
      const error = await failure(
        (async () => {
          for await (const entry of client.streamManifest(SOME_DIR)) {
            seen.push(entry);
          }
        })(),
      );
      expect(error.code).toBe('UNRECOVERABLE');
      expect(seen).toEqual([{ type: 'directory', path: [], cap: SOME_DIR }]);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('should fail with UNAVAILABLE once closed', async () => {
    const client = testTahoeClient();
    await client.close();
    await expectCode(client.gridStatus(), 'UNAVAILABLE');
  });
});
