import type { SyncedEntry } from '../metadata/sync-journal';
import type { TahoeNode } from '../tahoe/tahoe.types';
import { type PublishCheckInput, checkBeforePublish } from './publish-conflicts';

const OURS = 'URI:CHK:aaaa:aaaa:2:3:10';
const SYNCED = 'URI:CHK:bbbb:bbbb:2:3:20';
const THEIRS = 'URI:CHK:cccc:cccc:2:3:30';
const LISTED_AT = Date.UTC(2026, 11, 6, 4, 15, 0);
const STAMP = '20261206T041500Z';

/** Nothing here is fetched: every listed file has its size, and no entry is a symlink. */
const noFetch = {
  getNode: () => Promise.reject(new Error('not expected')),
  readAll: () => Promise.reject(new Error('not expected')),
};

function file(cap: string): TahoeNode {
  return { type: 'file', mutable: false, roUri: cap, size: 30 };
}

function synced(name: string, cap: string, child: number | null = 7): SyncedEntry {
  return { parent: 1, name: Buffer.from(name), child, cap, metaHash: 'h', syncedAt: 0 };
}

function input(overrides: Partial<PublishCheckInput>): PublishCheckInput {
  return {
    listing: new Map(),
    listedAt: LISTED_AT,
    changes: [],
    removals: [],
    synced: new Map(),
    localNames: [],
    defaultOwner: { uid: 1000, gid: 1000 },
    ...overrides,
  };
}

function edge(name: string, cap = OURS): PublishCheckInput['changes'][number] {
  return { name: Buffer.from(name), tahoeName: name, cap };
}

function syncedMap(...entries: SyncedEntry[]): Map<string, SyncedEntry> {
  return new Map(entries.map((entry) => [entry.name.toString('hex'), entry]));
}

describe('checkBeforePublish', () => {
  it('should find nothing when Tahoe holds what was last synced, ours already, or nothing under the name', async () => {
    const check = await checkBeforePublish(
      input({
        listing: new Map([
          ['same', file(SYNCED)],
          ['already', file(OURS)],
        ]),
        changes: [edge('same'), edge('already'), edge('removed-remotely')],
        synced: syncedMap(synced('same', SYNCED), synced('already', SYNCED), synced('removed-remotely', SYNCED)),
      }),
      noFetch,
    );
    expect(check).toEqual({ changes: [], conflicts: [], rawCopies: new Map(), goneRemotely: new Set() });
  });

  it("should keep another writer's version as a conflict copy and acknowledge it under the name", async () => {
    const check = await checkBeforePublish(
      input({
        listing: new Map([
          ['doc', file(THEIRS)],
          [`doc.conflict-${STAMP}`, file(SYNCED)],
          ['new', file(THEIRS)],
        ]),
        changes: [edge('doc'), edge('new')],
        synced: syncedMap(synced('doc', SYNCED)),
        localNames: [Buffer.from(`new.conflict-${STAMP}`)],
      }),
      noFetch,
    );
    // The first free name: one in Tahoe and one local are taken already.
    expect(check.conflicts).toEqual([`doc.conflict-${STAMP}-2`, `new.conflict-${STAMP}-2`]);
    expect(check.changes).toMatchObject([
      { kind: 'add', name: Buffer.from(`doc.conflict-${STAMP}-2`), publish: true, node: { writeCap: THEIRS } },
      { kind: 'acknowledge', name: Buffer.from('doc'), child: 7, cap: THEIRS },
      { kind: 'add', name: Buffer.from(`new.conflict-${STAMP}-2`), publish: true, node: { writeCap: THEIRS } },
      // Never synced here: no child of ours is recorded as what Tahoe holds.
      { kind: 'acknowledge', name: Buffer.from('new'), child: null, cap: THEIRS },
    ]);
  });

  it('should unlink only what is still ours: a name gone needs no unlink, a name replaced keeps theirs first', async () => {
    const check = await checkBeforePublish(
      input({
        listing: new Map([
          ['ours', file(SYNCED)],
          ['replaced', file(THEIRS)],
        ]),
        removals: [synced('ours', SYNCED), synced('replaced', SYNCED, 8), synced('gone', SYNCED)],
      }),
      noFetch,
    );
    expect(check.goneRemotely).toEqual(new Set([Buffer.from('gone').toString('hex')]));
    expect(check.conflicts).toEqual([`replaced.conflict-${STAMP}`]);
    expect(check.changes).toMatchObject([
      { kind: 'add', node: { writeCap: THEIRS } },
      { kind: 'acknowledge', name: Buffer.from('replaced'), child: 8, cap: THEIRS },
    ]);
  });

  it('should link a version of a kind RiverFS cannot represent as it is, under its conflict name', async () => {
    const unknown: TahoeNode = { type: 'unknown', roUri: 'imm.URI:NEW-KIND:xyz' };
    const check = await checkBeforePublish(
      input({ listing: new Map([['odd', unknown]]), changes: [edge('odd')] }),
      noFetch,
    );
    expect(check.rawCopies).toEqual(
      new Map([[`odd.conflict-${STAMP}`, { type: 'unknown', rwUri: undefined, roUri: 'imm.URI:NEW-KIND:xyz' }]]),
    );
    expect(check.changes).toMatchObject([{ kind: 'acknowledge', cap: 'imm.URI:NEW-KIND:xyz' }]);
  });
});
