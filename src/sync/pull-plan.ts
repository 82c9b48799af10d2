import { yieldIfBusy } from '../common/event-loop/yield-if-busy';
import type { LocalContentGate } from '../cache/local-content-gate';
import { NAME_MAX, type Timespec } from '../metadata/metadata.types';
import type { RemoteChange, SyncChild, SyncInode, SyncJournal, SyncedEntry } from '../metadata/sync-journal';
import type { TahoeClient } from '../tahoe/tahoe.client';
import type { TahoeNode } from '../tahoe/tahoe.types';
import { SPECIAL_FILE_CAP, edgeHash, exactUtf8, remoteNodeOf } from './edge-metadata.util';
import { type RemoteEntry, addedName, replacesHardLink } from './pulled-name';
import { freeConflictName } from './conflict-name';

export interface RemoteEntryDeps {
  tahoe: Pick<TahoeClient, 'getNode' | 'readAll'>;
  /** Owner of entries whose edges carry no `riverfs` metadata: the mounting user. */
  defaultOwner: { uid: number; gid: number };
}

export interface PullPlanInput {
  remote: Map<string, RemoteEntry>;
  localChildren: SyncChild[];
  syncedEntries: SyncedEntry[];
  /** When the listing was fetched: conflict copies are named after it. */
  listedAt: number;
  /** Filled with the holds taken on files the plan replaces or removes. */
  held: Map<number, () => void>;
  /** A rebuild keeps the inode numbers the tree was published with. */
  keepInodeNumbers: boolean;
}

export interface PullPlanDeps {
  localContent: Pick<LocalContentGate, 'holdForRemoteChange'>;
  journal: Pick<SyncJournal, 'recordCap'>;
}

export interface PullPlan {
  changes: RemoteChange[];
  /** Names of the conflict copies the plan makes. */
  conflicts: string[];
  /** Local wins somewhere: the directory must be published after the changes are applied. */
  publishAfter: boolean;
}

/**
 * How names are matched between SQL and Tahoe: Tahoe keeps names in Unicode NFC, so a local name in another
 * normalisation is the same entry there. Names that are not UTF-8 cannot be in Tahoe at all.
 */
function matchKey(name: Buffer): string {
  const text = exactUtf8(name);
  return text === undefined ? `\0${name.toString('hex')}` : text.normalize('NFC');
}

function timeNow(): Timespec {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
}

/** The cap an entry is linked with in Tahoe, as far as this gateway knows (null: not uploaded yet). */
function localCapOf(inode: SyncInode): string | null {
  switch (inode.type) {
    case 'file':
    case 'dir':
    case 'symlink':
      return inode.writeCap;
    default:
      return SPECIAL_FILE_CAP;
  }
}

/**
 * Records Tahoe's edge as the synced one while the local entry stays: the next publish sees its own edge differ and
 * writes the local version over the remote one (local wins; the remote one is kept beside it where it mattered).
 */
function takeRemoteAsSynced(mine: SyncChild, entry: RemoteEntry): RemoteChange {
  return {
    kind: 'acknowledge',
    name: mine.name,
    child: mine.inode.ino,
    cap: entry.node.writeCap,
    metaHash: entry.hash,
  };
}

/**
 * A dirnode listing's children as a pull compares them: names Tahoe may hold but POSIX may not are left out, mutable
 * files' sizes and symlink targets fetched where the listing lacks them, every edge hashed.
 */
export async function readRemoteEntries(
  children: Map<string, TahoeNode>,
  deps: RemoteEntryDeps,
  signal?: AbortSignal,
): Promise<Map<string, RemoteEntry>> {
  const defaults = { ...deps.defaultOwner, now: timeNow() };
  const result = new Map<string, RemoteEntry>();
  for (const [name, child] of children) {
    // Hashing a huge listing's entries is all synchronous: let FUSE calls in between.
    await yieldIfBusy();
    const bytes = Buffer.from(name, 'utf8');
    if (
      bytes.length === 0 ||
      bytes.length > NAME_MAX ||
      name === '.' ||
      name === '..' ||
      name.includes('/') ||
      name.includes('\0')
    ) {
      continue;
    }
    const read = remoteNodeOf(child, defaults);
    if (read === undefined) {
      continue;
    }
    const { node, metadata } = read;
    if (child.type === 'file' && child.mutable && child.size === undefined) {
      // Listings often lack the size of a mutable file: the node itself knows it.
      const info = await deps.tahoe.getNode(node.writeCap, { signal });
      node.size = info.type === 'file' ? (info.size ?? 0) : 0;
    }
    if (node.type === 'symlink' && node.target === undefined) {
      // The target is also the file's content (see DirnodePublisher.capOf).
      node.target = await deps.tahoe.readAll(node.readCap, { signal });
    }
    result.set(name.normalize('NFC'), { name, bytes, node, metadata, hash: edgeHash(node.writeCap, metadata) });
  }
  return result;
}

/**
 * What a pull changes in one directory: Tahoe's listing (`remote`) compared with what was last synced and with SQL
 * (DESIGN.md §4). Files it replaces or removes are held against local writes in `held` (the caller releases them once
 * their old blocks are gone); one that has local content is a conflict instead (local wins).
 */
export async function planPull(input: PullPlanInput, deps: PullPlanDeps): Promise<PullPlan> {
  const { remote, localChildren, syncedEntries, listedAt, held, keepInodeNumbers } = input;
  const local = new Map(localChildren.map((child) => [matchKey(child.name), child]));
  const synced = new Map(syncedEntries.map((entry) => [matchKey(entry.name), entry]));
  const taken = new Set([...local.keys(), ...remote.keys()]);
  const changes: RemoteChange[] = [];
  const conflicts: string[] = [];
  let publishAfter = false;
  /** Holds a file against local writes while this pull replaces or removes it; false when it has local content. */
  const holdUnwritten = (ino: number): boolean => {
    if (held.has(ino)) {
      return true;
    }
    const release = deps.localContent.holdForRemoteChange(ino);
    if (release !== undefined) {
      held.set(ino, release);
    }
    return release !== undefined;
  };

  const keepAsConflict = (entry: RemoteEntry): void => {
    const name = freeConflictName(entry.name, listedAt, taken);
    conflicts.push(name);
    changes.push({ kind: 'add', name: Buffer.from(name, 'utf8'), node: entry.node, metaHash: null, publish: true });
  };

  for (const [key, entry] of remote) {
    const last = synced.get(key);
    const mine = local.get(key);
    const localName = mine?.name ?? last?.name ?? entry.bytes;
    const mineIsLast = mine !== undefined && last !== undefined && mine.inode.ino === last.child;
    const clean = mine !== undefined && mine.inode.syncState === 'synced';
    if (last !== undefined && entry.node.writeCap === last.cap) {
      if (entry.hash === last.metaHash) {
        continue;
      }
      // Same object, other attributes: taken when nothing local is waiting, else local wins at the next publish.
      if (mineIsLast && clean && entry.metadata !== null && mine.inode.type === entry.node.type) {
        changes.push(updateOf(mine, entry, false));
      } else {
        changes.push({
          kind: 'acknowledge',
          name: localName,
          child: last.child,
          cap: last.cap,
          metaHash: entry.hash,
        });
      }
      continue;
    }
    if (mine === undefined) {
      if (last !== undefined) {
        // Gone here (unlinked or renamed away) while it changed remotely: keep the remote version.
        keepAsConflict(entry);
        changes.push({
          kind: 'acknowledge',
          name: last.name,
          child: last.child,
          cap: entry.node.writeCap,
          metaHash: entry.hash,
        });
        publishAfter = true;
      } else {
        changes.push(addedName(entry, keepInodeNumbers));
      }
      continue;
    }
    const mineCap = localCapOf(mine.inode);
    if (mineCap === entry.node.writeCap) {
      // Tahoe already has what is here (a publish whose record was lost to a crash, or another gateway's).
      changes.push({
        kind: 'acknowledge',
        name: mine.name,
        child: mine.inode.ino,
        cap: mineCap,
        metaHash: entry.hash,
      });
      continue;
    }
    if (
      mineIsLast &&
      clean &&
      mineCap === last.cap &&
      (mine.inode.type === 'dir') === (entry.node.type === 'dir') &&
      (mine.inode.type !== 'file' || holdUnwritten(mine.inode.ino))
    ) {
      // Changed remotely only: new content for the same inode, or (a hard link) another file put under its name.
      if (mine.inode.type === entry.node.type && !replacesHardLink(mine.inode, entry)) {
        changes.push(updateOf(mine, entry, true));
      } else {
        changes.push({ kind: 'remove', name: mine.name, child: mine.inode.ino, changeSeq: mine.inode.changeSeq });
        changes.push(addedName(entry, keepInodeNumbers));
      }
      continue;
    }
    if (mine.inode.type === 'dir' && entry.node.type === 'dir' && mine.inode.writeCap === null && last === undefined) {
      // Made here and there under the same name, never published: one directory, the remote dirnode. Its entries
      // merge at its next pull and publish.
      await deps.journal.recordCap(mine.inode.ino, entry.node.writeCap, entry.node.readCap);
      changes.push(takeRemoteAsSynced(mine, entry));
      publishAfter = true;
      continue;
    }
    // Changed on both sides: local wins, the remote version is kept beside it.
    keepAsConflict(entry);
    changes.push(takeRemoteAsSynced(mine, entry));
    publishAfter = true;
  }

  for (const [key, last] of synced) {
    if (remote.has(key)) {
      continue;
    }
    const mine = local.get(key);
    if (
      mine !== undefined &&
      mine.inode.ino === last.child &&
      mine.inode.syncState === 'synced' &&
      localCapOf(mine.inode) === last.cap &&
      (mine.inode.type !== 'file' || holdUnwritten(mine.inode.ino))
    ) {
      changes.push({ kind: 'remove', name: mine.name, child: mine.inode.ino, changeSeq: mine.inode.changeSeq });
    } else {
      // Removed remotely, changed here (or already gone here): what is here is published again.
      changes.push({ kind: 'forget', name: last.name });
    }
  }
  return { changes, conflicts, publishAfter };
}

function updateOf(mine: SyncChild, entry: RemoteEntry, contentChanged: boolean): RemoteChange {
  return {
    kind: 'update',
    name: mine.name,
    child: mine.inode.ino,
    changeSeq: mine.inode.changeSeq,
    node: entry.node,
    contentChanged,
    metaHash: entry.hash,
  };
}
