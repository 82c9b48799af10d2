import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDataSource, runMigrations } from '../../src/metadata/data-source';
import { ROOT_INO } from '../../src/metadata/metadata.types';
import { SqlMetadataStore } from '../../src/metadata/sql-metadata.store';
import type { SyncJournal } from '../../src/metadata/sync-journal';
import { InProcessStateStore } from '../../src/state/in-process-state-store';
import { DirnodePublisher } from '../../src/sync/dirnode-publisher.service';
import { RootCapService } from '../../src/sync/root-cap.service';
import { TahoeClient } from '../../src/tahoe/tahoe.client';
import { TahoeError } from '../../src/tahoe/tahoe.errors';
import type { ChildSpec, LinkOptions, RequestControl } from '../../src/tahoe/tahoe.types';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { freshRootDircap, testTahoeUrl } from '../support/tahoe.helper';
import { tahoeTree } from '../support/tahoe-tree.helper';

const OWNER = { uid: 1000, gid: 1000, mode: 0o755 };
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** A dirnode mutation a publisher made: set_children (names) or unlink (one name), on a dirnode cap. */
interface Call {
  op: 'set' | 'unlink';
  cap: string;
  names: string;
}

/** Records every dirnode mutation, and can make unlinks fail as a crash between the two steps of a move would. */
class RecordingTahoeClient extends TahoeClient {
  /** set_children calls still to fail as an uncoordinated write (another writer raced), before reaching Tahoe. */
  uncoordinatedSetChildren = 0;
  /** Runs once after the next set_children reached Tahoe, while the publish that made it is still running. */
  afterNextSetChildren: (() => Promise<void>) | null = null;

  constructor(
    private readonly calls: Call[],
    private readonly failUnlinks: () => boolean,
  ) {
    super({
      url: testTahoeUrl(),
      connectTimeout: 5000,
      headersTimeout: 120_000,
      bodyTimeout: 60_000,
      concurrency: 4,
      retries: 2,
    });
  }

  override async setChildren(
    dircap: string,
    children: ReadonlyMap<string, ChildSpec> | Record<string, ChildSpec>,
    options?: LinkOptions,
  ): Promise<void> {
    const names = children instanceof Map ? [...children.keys()] : Object.keys(children);
    if (this.uncoordinatedSetChildren > 0) {
      this.uncoordinatedSetChildren -= 1;
      throw new TahoeError({ code: 'UNCOORDINATED_WRITE', operation: 'setChildren', detail: 'injected' });
    }
    this.calls.push({ op: 'set', cap: dircap, names: names.sort().join(',') });
    await super.setChildren(dircap, children, options);
    const after = this.afterNextSetChildren;
    this.afterNextSetChildren = null;
    await after?.();
  }

  override async unlink(dircap: string, name: string, options?: RequestControl): Promise<string> {
    if (this.failUnlinks()) {
      throw new TahoeError({ code: 'UNAVAILABLE', operation: 'unlink', detail: 'injected' });
    }
    this.calls.push({ op: 'unlink', cap: dircap, names: name });
    return super.unlink(dircap, name, options);
  }
}

describe('DirnodePublisher on SQLite and the test grid', () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-publisher-'));
  const url = `sqlite:${path.join(directory, 'metadata.sqlite')}`;
  const client = testTahoeClient();
  const state = new InProcessStateStore();
  let store: SqlMetadataStore;
  let journal: SyncJournal;
  let rootCap: string;
  const recorded: Call[] = [];
  let failUnlinks = false;
  const recording = new RecordingTahoeClient(recorded, () => failUnlinks);
  let publisher: DirnodePublisher;
  /** Directories made by the tests (the root included), to name dirnode caps by inode number. */
  const dirs: number[] = [ROOT_INO];

  beforeAll(async () => {
    await runMigrations(url);
    store = new SqlMetadataStore(await openDataSource(url));
    await store.initFilesystem({ uid: 0, gid: 0, mode: 0o755 });
    journal = store.syncJournal();
    rootCap = await freshRootDircap();
    const rootCaps = new RootCapService(
      { meta: store, journal, tahoe: recording, state, logger: quiet },
      { configuredCap: rootCap, dataDir: directory, createTimeoutMs: 10_000 },
    );
    await rootCaps.resolveAtStart();
    publisher = new DirnodePublisher({
      journal,
      tahoe: recording,
      state,
      rootCap: rootCaps,
      logger: quiet,
      events: store.events,
      lockTtlMs: 30_000,
      lockWaitMs: 30_000,
    });
  });

  beforeEach(() => {
    recorded.length = 0;
    failUnlinks = false;
  });

  afterAll(async () => {
    await store.close();
    await state.close();
    await client.close();
    await recording.close();
    fs.rmSync(directory, { recursive: true, force: true });
  });

  async function publish(dir: number): Promise<void> {
    await publisher.publish(dir);
  }

  async function mkdir(name: string, parent = ROOT_INO): Promise<number> {
    const { ino } = await store.mkdir(parent, name, OWNER);
    dirs.push(ino);
    return ino;
  }

  /** The calls recorded since the last take, as `set <dir-ino> <names>` / `unlink <dir-ino> <name>`. */
  async function takeCalls(): Promise<string[]> {
    const inoOf = new Map<string, number>();
    for (const ino of dirs) {
      const cap = ino === ROOT_INO ? rootCap : (await journal.getSyncInode(ino))?.writeCap;
      if (cap) {
        inoOf.set(cap, ino);
      }
    }
    const calls = recorded.map((call) => `${call.op} ${inoOf.get(call.cap) ?? '?'} ${call.names}`);
    recorded.length = 0;
    return calls;
  }

  async function uploadEmpty(ino: number): Promise<void> {
    const inode = (await journal.getSyncInode(ino))!;
    expect(await journal.recordUpload(ino, inode.contentVersion, 'URI:LIT:', 'URI:LIT:')).toBe(true);
  }

  it('should link a moved file at its new place before unlinking it, leaving a duplicate (never a loss) on a crash', async () => {
    const from = await mkdir('from');
    const to = await mkdir('to');
    const file = await store.create(from, 'moving', { ...OWNER, mode: 0o644 });
    await uploadEmpty(file.ino);
    await publish(ROOT_INO);
    await publish(from);
    await publish(to);
    expect((await tahoeTree(client, rootCap)).has('from/moving')).toBe(true);

    await store.rename(from, 'moving', to, 'moved');
    await takeCalls();
    failUnlinks = true;
    // Only the source is asked for: it publishes the destination first, then fails to unlink (the "crash").
    await expect(publisher.publish(from)).rejects.toThrow(/injected/);
    expect(await takeCalls()).toEqual([`set ${to} moved`]);
    const duplicated = await tahoeTree(client, rootCap);
    expect(duplicated.has('to/moved') && duplicated.has('from/moving')).toBe(true);

    failUnlinks = false;
    await publish(from);
    expect(await takeCalls()).toEqual([`unlink ${from} moving`]);
    const tree = await tahoeTree(client, rootCap);
    expect(tree.has('from/moving')).toBe(false);
    expect(tree.get('to/moved')?.riverfs).toMatchObject({ type: 'file', ino: file.ino });
  });

  it('should change nothing in Tahoe when published again (idempotent)', async () => {
    const dir = await mkdir('stable');
    for (const name of ['a', 'b', 'c']) {
      await uploadEmpty((await store.create(dir, name, { ...OWNER, mode: 0o600 })).ino);
    }
    await publish(ROOT_INO);
    await publish(dir);
    // A new directory's first version is made with its entries (mkdir-with-children): no set_children on it.
    expect((await takeCalls()).filter((call) => call.startsWith(`set ${dir} `))).toEqual([]);
    const tree = await tahoeTree(client, rootCap);
    expect(['stable/a', 'stable/b', 'stable/c'].every((name) => tree.has(name))).toBe(true);

    await publish(ROOT_INO);
    await publish(dir);
    expect(await takeCalls()).toEqual([]);
    expect((await journal.getSyncInode(dir))?.entriesDirty).toBe(false);
    for (const child of await journal.children(dir)) {
      expect(child.inode.syncState).toBe('synced');
    }
  });

  it('should publish all changes of a directory in one set_children, and an attribute change as a republish', async () => {
    const dir = await mkdir('batch');
    await publish(ROOT_INO);
    const inos: number[] = [];
    for (let index = 0; index < 5; index += 1) {
      const file = await store.create(dir, `f${index}`, { ...OWNER, mode: 0o644 });
      await uploadEmpty(file.ino);
      inos.push(file.ino);
    }
    const sub = await mkdir('sub', dir);
    await takeCalls();
    await publish(dir);
    expect(await takeCalls()).toEqual([`set ${dir} f0,f1,f2,f3,f4,sub`]);

    await store.setattr(inos[2], { mode: 0o600 });
    await publish(dir);
    expect(await takeCalls()).toEqual([`set ${dir} f2`]);
    expect((await tahoeTree(client, rootCap)).get('batch/f2')?.riverfs).toMatchObject({ mode: 0o600 });
    expect((await journal.getSyncInode(sub))?.writeCap).toMatch(/^URI:DIR2:/);
  });

  it('should stop unlinking when its budget is spent, leave the rest for a later run, and unlink nothing of a directory gone meanwhile', async () => {
    const dir = await mkdir('emptied');
    const names = ['r0', 'r1', 'r2', 'r3'];
    for (const name of names) {
      await uploadEmpty((await store.create(dir, name, { ...OWNER, mode: 0o644 })).ino);
    }
    await publish(ROOT_INO);
    await publish(dir);
    for (const name of names) {
      await store.unlink(dir, name);
    }
    await takeCalls();
    // A budget of 0 still unlinks one name per run, so every run makes progress.
    const first = await publisher.publish(dir, undefined, undefined, { unlinkBudgetMs: 0 });
    expect(first).toMatchObject({ unlinked: 1, deferred: 3, clean: false });
    const calls = await takeCalls();
    expect(calls).toHaveLength(1);
    expect(names.map((name) => `unlink ${dir} ${name}`)).toContain(calls[0]);
    expect((await journal.getSyncInode(dir))?.entriesDirty).toBe(true);

    // rm -rf goes on: the directory itself goes before the next run, which then unlinks only its name in the root.
    await store.rmdir(ROOT_INO, 'emptied');
    expect(await publisher.publish(dir, undefined, undefined, { unlinkBudgetMs: 0 })).toBeNull();
    await publish(ROOT_INO);
    expect(await takeCalls()).toEqual([`unlink ${ROOT_INO} emptied`]);
    expect([...(await tahoeTree(client, rootCap)).keys()].some((name) => name.startsWith('emptied'))).toBe(false);
  });

  it('should read back every published entry of a directory across pages, whatever the byte order of the names', async () => {
    const dir = await mkdir('paged');
    const names = Array.from({ length: 2345 }, (_, index) => Buffer.from(`e${(index * 7919) % 2345}\u00e9`));
    names.push(Buffer.from([0xff, 0x00, 0x01]), Buffer.from([0x00]));
    await journal.recordPublished(
      dir,
      names.map((name) => ({ name, child: null, cap: 'URI:LIT:', metaHash: 'x' })),
    );
    try {
      const read = await journal.syncedEntries(dir);
      expect(read).toHaveLength(names.length);
      expect(new Set(read.map((entry) => entry.name.toString('hex')))).toEqual(
        new Set(names.map((name) => name.toString('hex'))),
      );
    } finally {
      // These names were never in Tahoe: left recorded, the next publish of the root (which creates this directory's
      // dirnode) would unlink all 2,347 of them one by one (93 s, measured), in whichever test came next.
      await journal.forgetDirectory(dir);
      await store.rmdir(ROOT_INO, 'paged');
    }
  });

  it('should apply a set_children again after an uncoordinated write (injected: no real part races on demand)', async () => {
    const dir = await mkdir('raced');
    await publish(ROOT_INO);
    const file = await store.create(dir, 'after-race', { ...OWNER, mode: 0o644 });
    await uploadEmpty(file.ino);
    await takeCalls();
    recording.uncoordinatedSetChildren = 2;
    await publish(dir);
    expect(recording.uncoordinatedSetChildren).toBe(0);
    expect(await takeCalls()).toEqual([`set ${dir} after-race`]);
    expect((await tahoeTree(client, rootCap)).has('raced/after-race')).toBe(true);
    expect((await journal.getSyncInode(dir))?.entriesDirty).toBe(false);
  });
  // ---- another writer between our last sync and this publish (issue 12: conflict copies on publish) -------------

  /** A file in `dir` whose content is `text` (uploaded now), published. */
  async function publishedFile(dir: number, name: string, text: string): Promise<number> {
    const file = await store.create(dir, name, { ...OWNER, mode: 0o644 });
    const cap = await client.upload(Buffer.from(text));
    expect(await journal.recordUpload(file.ino, (await journal.getSyncInode(file.ino))!.contentVersion, cap, cap)).toBe(
      true,
    );
    await publish(dir);
    return file.ino;
  }

  /** A new local version of a file: `text` uploaded as its content, as the uploader does after a write. */
  async function rewrite(ino: number, text: string): Promise<void> {
    await journal.markDirty(ino, { data: true });
    const cap = await client.upload(Buffer.from(text));
    expect(await journal.recordUpload(ino, (await journal.getSyncInode(ino))!.contentVersion, cap, cap)).toBe(true);
  }

  /** What another Tahoe client does: link `text` as `name` in the dirnode, over whatever is there. */
  async function otherWriterLinks(dir: number, name: string, text: string): Promise<void> {
    const cap = await client.upload(Buffer.from(text));
    await client.setChildren(
      (await journal.getSyncInode(dir))!.writeCap!,
      { [name]: { type: 'file', roUri: cap } },
      { replace: true },
    );
  }

  /** The dirnode's entries by name, each with its content (files) or `<dir>`. */
  async function contentsInTahoe(dir: number): Promise<Map<string, string>> {
    const listing = await client.listDirectory((await journal.getSyncInode(dir))!.writeCap!);
    const result = new Map<string, string>();
    for (const [name, node] of listing.children) {
      result.set(name, node.type === 'file' ? (await client.readAll(node.roUri!)).toString() : '<dir>');
    }
    return result;
  }

  it('should keep the version another writer linked since the last sync as a conflict copy, publish its own, and know the copy', async () => {
    const dir = await mkdir('contested');
    await publish(ROOT_INO);
    const ino = await publishedFile(dir, 'notes.txt', 'version 1 (ours, synced)');
    await otherWriterLinks(dir, 'notes.txt', 'version 2 (theirs)');
    await rewrite(ino, 'version 3 (ours)');

    const result = await publisher.publish(dir);
    expect(result?.conflicts).toHaveLength(1);
    const [copy] = result!.conflicts;
    expect(copy).toMatch(/^notes\.txt\.conflict-\d{8}T\d{6}Z$/);
    expect(await contentsInTahoe(dir)).toEqual(
      new Map([
        ['notes.txt', 'version 3 (ours)'],
        [copy, 'version 2 (theirs)'],
      ]),
    );
    // The database knows the copy: a directory entry, published, which no later publish removes.
    const children = await journal.children(dir);
    expect(children.map((child) => child.name.toString()).sort()).toEqual(['notes.txt', copy].sort());
    await publish(dir);
    await publish(dir);
    expect((await contentsInTahoe(dir)).get(copy)).toBe('version 2 (theirs)');
    expect((await journal.getSyncInode(dir))?.entriesDirty).toBe(false);
  });

  it('should not mark a file synced by a publish of its old cap that ran while its new upload was recorded (the interleaving placed by a hook)', async () => {
    const dir = await mkdir('raced-upload');
    await publish(ROOT_INO);
    const ino = await publishedFile(dir, 'data.bin', 'version 1');
    // A write: the file is dirty and its size changed, so the next publish rewrites its edge (still the old cap).
    await journal.markDirty(ino, { data: true });
    await store.setattr(ino, { size: 9 });
    const newCap = await client.upload(Buffer.from('version 2'));
    // The upload of the new content ends while that publish runs: between its set_children and its bookkeeping.
    recording.afterNextSetChildren = async () => {
      const version = (await journal.getSyncInode(ino))!.contentVersion;
      expect(await journal.recordUpload(ino, version, newCap, newCap)).toBe(true);
    };
    await publish(dir);
    expect(recording.afterNextSetChildren).toBeNull();
    expect((await contentsInTahoe(dir)).get('data.bin')).toBe('version 1');
    expect((await journal.getSyncInode(ino))?.syncState).not.toBe('synced');

    await publish(dir);
    expect((await contentsInTahoe(dir)).get('data.bin')).toBe('version 2');
    expect((await journal.getSyncInode(ino))?.syncState).toBe('synced');
  });

  it('should make no conflict copy, and re-read once, when the entry is still what was last synced', async () => {
    const dir = await mkdir('uncontested');
    await publish(ROOT_INO);
    const ino = await publishedFile(dir, 'plain.txt', 'first');
    await rewrite(ino, 'second');
    const result = await publisher.publish(dir);
    expect(result).toMatchObject({ published: 1, conflicts: [] });
    expect(result?.recheckMs).toEqual(expect.any(Number));
    expect(result?.raceWindowMs).toEqual(expect.any(Number));
    expect(await contentsInTahoe(dir)).toEqual(new Map([['plain.txt', 'second']]));
    expect((await journal.children(dir)).map((child) => child.name.toString())).toEqual(['plain.txt']);
  });

  it('should keep what another writer linked under a name it unlinks, and publish over a name another writer removed', async () => {
    const dir = await mkdir('removing');
    await publish(ROOT_INO);
    await publishedFile(dir, 'going', 'ours, about to go');
    const kept = await publishedFile(dir, 'staying', 'ours, synced');
    await otherWriterLinks(dir, 'going', 'theirs, replaced it');
    await client.unlink((await journal.getSyncInode(dir))!.writeCap!, 'staying');
    await store.unlink(dir, 'going');
    await rewrite(kept, 'ours, changed');

    const result = await publisher.publish(dir);
    expect(result?.conflicts).toHaveLength(1);
    const [copy] = result!.conflicts;
    expect(copy).toMatch(/^going\.conflict-/);
    // Theirs removed `staying` while we changed it: ours wins (their removal lost nothing).
    expect(await contentsInTahoe(dir)).toEqual(
      new Map([
        ['staying', 'ours, changed'],
        [copy, 'theirs, replaced it'],
      ]),
    );
  });

  it('should not unlink a name another writer already removed', async () => {
    const dir = await mkdir('removed-twice');
    await publish(ROOT_INO);
    await publishedFile(dir, 'doomed', 'ours');
    await client.unlink((await journal.getSyncInode(dir))!.writeCap!, 'doomed');
    await store.unlink(dir, 'doomed');
    await takeCalls();
    expect(await publisher.publish(dir)).toMatchObject({ unlinked: 1, conflicts: [], clean: true });
    expect(await takeCalls()).toEqual([]);
    expect(await journal.syncedEntries(dir)).toEqual([]);
  });

  it("should keep another writer's directory made under the same name as a conflict copy, with its entries", async () => {
    const dir = await mkdir('both-made');
    await publish(ROOT_INO);
    await publishedFile(dir, 'marker', 'x');
    const theirs = await client.mkdir();
    await client.setChildren(theirs, { 'their-file': { type: 'file', roUri: await client.upload(Buffer.from('t')) } });
    await client.setChildren((await journal.getSyncInode(dir))!.writeCap!, {
      x: { type: 'directory', rwUri: theirs },
    });
    const ours = await mkdir('x', dir);
    await uploadEmpty((await store.create(ours, 'our-file', { ...OWNER, mode: 0o644 })).ino);

    const result = await publisher.publish(dir);
    expect(result?.conflicts).toHaveLength(1);
    const [copy] = result!.conflicts;
    await publish(ours);
    const tree = await tahoeTree(client, rootCap);
    expect(tree.has('both-made/x/our-file')).toBe(true);
    expect(tree.get(`both-made/${copy}`)?.cap).toBe(theirs);
    expect(tree.has(`both-made/${copy}/their-file`)).toBe(true);
    const copyInode = (await journal.children(dir)).find((child) => child.name.toString() === copy)?.inode;
    expect(copyInode).toMatchObject({ type: 'dir', writeCap: theirs });
  });
});
