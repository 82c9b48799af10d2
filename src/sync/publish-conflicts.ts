import type { RemoteChange, RemoteNode, SyncedEntry } from '../metadata/sync-journal';
import type { Timespec } from '../metadata/metadata.types';
import type { TahoeClient } from '../tahoe/tahoe.client';
import type { ChildSpec, TahoeNode } from '../tahoe/tahoe.types';
import { freeConflictName } from './conflict-name';
import { edgeHash, exactUtf8, remoteNodeOf, tahoeName } from './edge-metadata.util';

/** An edge a publish is about to write: its name here and in Tahoe, and the cap it will link. */
export interface OutgoingEdge {
  name: Buffer;
  tahoeName: string;
  cap: string;
}

export interface PublishCheckInput {
  /** The dirnode's children as Tahoe holds them now (the re-read, under the dirnode lock). */
  listing: ReadonlyMap<string, TahoeNode>;
  /** When the listing arrived: the conflict copies' timestamp. */
  listedAt: number;
  /** Edges about to be added or replaced. */
  changes: readonly OutgoingEdge[];
  /** Published edges about to be unlinked. */
  removals: readonly SyncedEntry[];
  /** What this gateway last published in the dirnode, by the name's hex. */
  synced: ReadonlyMap<string, SyncedEntry>;
  /** Every local entry's name (the conflict names must not take one). */
  localNames: readonly Buffer[];
  /** Owner of entries whose edge carries no `riverfs` metadata. */
  defaultOwner: { uid: number; gid: number };
}

/** What the re-read found: nothing to do, or the other writers' versions to keep before the publish goes on. */
export interface PublishCheck {
  /**
   * For SyncJournal.applyRemote: each version another writer linked since our last sync, added as a conflict copy
   * (to publish with the rest), and an acknowledgement that Tahoe now holds that version under the contested name.
   */
  changes: RemoteChange[];
  /** The conflict copies' names. */
  conflicts: string[];
  /**
   * Versions RiverFS cannot represent locally (a cap of a kind this Tahoe client does not know), linked under their
   * conflict names as they are: kept in Tahoe, and a later pull decides what the mount shows of them.
   */
  rawCopies: Map<string, ChildSpec>;
  /** Removals (by the name's hex) that Tahoe no longer holds: nothing to unlink. */
  goneRemotely: Set<string>;
}

function hexKey(name: Buffer): string {
  return name.toString('hex');
}

/** The cap an entry of a listing is linked with, as the publisher records caps (SyncedEntry.cap). */
function remoteCapOf(node: TahoeNode): string | undefined {
  return node.type === 'directory' ? (node.rwUri ?? node.roUri) : (node.roUri ?? node.rwUri);
}

function timeNow(): Timespec {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
}

/**
 * The check a publish makes under the dirnode lock before it replaces or removes entries (DESIGN.md §6, issue 12):
 * an entry whose cap in Tahoe is neither what this gateway last synced nor what it is about to link was changed by
 * another writer (another gateway with its own database, any other Tahoe client). That version is kept as
 * `NAME.conflict-<timestamp>` and the publish then goes on: ours under NAME, theirs under the conflict name.
 *
 * An entry another writer removed is published again (ours wins; nothing of theirs is lost, since they removed it).
 * Attributes another writer changed on the same cap are overwritten by ours: the content is the same.
 */
export async function checkBeforePublish(
  input: PublishCheckInput,
  tahoe: Pick<TahoeClient, 'getNode' | 'readAll'>,
  signal?: AbortSignal,
): Promise<PublishCheck> {
  const check: PublishCheck = { changes: [], conflicts: [], rawCopies: new Map(), goneRemotely: new Set() };
  let taken: Set<string> | undefined;
  const keep = async (name: string, node: TahoeNode, cap: string): Promise<string> => {
    taken ??= new Set([
      ...input.listing.keys(),
      ...input.localNames.flatMap((local) => {
        const text = exactUtf8(local);
        return text === undefined ? [] : [text.normalize('NFC')];
      }),
    ]);
    const copyName = freeConflictName(name, input.listedAt, taken);
    check.conflicts.push(copyName);
    const read = remoteNodeOf(node, { ...input.defaultOwner, now: timeNow() });
    if (read === undefined) {
      check.rawCopies.set(copyName, { type: 'unknown', rwUri: node.rwUri, roUri: node.roUri });
      return edgeHash(cap, null);
    }
    check.changes.push({
      kind: 'add',
      name: Buffer.from(copyName, 'utf8'),
      node: await completeNode(read.node, node, tahoe, signal),
      metaHash: null,
      publish: true,
    });
    return edgeHash(cap, read.metadata);
  };

  for (const edge of input.changes) {
    const remote = input.listing.get(edge.tahoeName.normalize('NFC'));
    const remoteCap = remote === undefined ? undefined : remoteCapOf(remote);
    if (remote === undefined || remoteCap === undefined) {
      // Absent (never there, or another writer removed it): ours is linked, nothing of theirs is lost.
      continue;
    }
    const last = input.synced.get(hexKey(edge.name));
    if (remoteCap === last?.cap || remoteCap === edge.cap) {
      continue;
    }
    const metaHash = await keep(edge.tahoeName, remote, remoteCap);
    check.changes.push({ kind: 'acknowledge', name: edge.name, child: last?.child ?? null, cap: remoteCap, metaHash });
  }

  for (const removal of input.removals) {
    const name = tahoeName(removal.name);
    if (name === undefined) {
      continue;
    }
    const remote = input.listing.get(name.normalize('NFC'));
    const remoteCap = remote === undefined ? undefined : remoteCapOf(remote);
    if (remote === undefined || remoteCap === undefined) {
      check.goneRemotely.add(hexKey(removal.name));
      continue;
    }
    if (remoteCap === removal.cap) {
      continue;
    }
    // Replaced by another writer while it went here: theirs is kept, then the name is unlinked as planned.
    const metaHash = await keep(name, remote, remoteCap);
    check.changes.push({ kind: 'acknowledge', name: removal.name, child: removal.child, cap: remoteCap, metaHash });
  }
  return check;
}

/** What a listing's entry may lack: a mutable file's size, a symlink's target (also the file's content). */
async function completeNode(
  node: RemoteNode,
  listed: TahoeNode,
  tahoe: Pick<TahoeClient, 'getNode' | 'readAll'>,
  signal?: AbortSignal,
): Promise<RemoteNode> {
  if (listed.type === 'file' && listed.mutable && listed.size === undefined) {
    const info = await tahoe.getNode(node.writeCap, { signal });
    node.size = info.type === 'file' ? (info.size ?? 0) : 0;
  }
  if (node.type === 'symlink' && node.target === undefined) {
    node.target = await tahoe.readAll(node.readCap, { signal });
  }
  return node;
}
