import type { LoggerService } from '@nestjs/common';
import { KeyedMutex } from '../cache/keyed-mutex';
import type { MetadataEvents } from '../metadata/metadata-events';
import { ROOT_INO } from '../metadata/metadata.types';
import type { PublishedEntry, SyncChild, SyncedEntry, SyncInode, SyncJournal } from '../metadata/sync-journal';
import type { StateStore } from '../state/state-store';
import { readOnlyCapOf } from '../tahoe/cap.util';
import type { TahoeClient } from '../tahoe/tahoe.client';
import { isTahoeError } from '../tahoe/tahoe.errors';
import type { ChildSpec } from '../tahoe/tahoe.types';
import {
  EDGE_METADATA_KEY,
  type RiverFsEdgeMetadata,
  SPECIAL_FILE_CAP,
  edgeHash,
  edgeMetadata,
  tahoeName,
} from './edge-metadata.util';
import { checkBeforePublish } from './publish-conflicts';
import { namesChangedBy } from './pulled-name';
import type { RootCapService } from './root-cap.service';

export interface DirnodePublisherDeps {
  journal: SyncJournal;
  tahoe: TahoeClient;
  state: StateStore;
  rootCap: RootCapService;
  logger: LoggerService;
  lockTtlMs: number;
  lockWaitMs: number;
  /** Where a publish that kept conflict copies announces the entries it added (remoteApplied). */
  events: MetadataEvents;
  /** Owner of a conflict copy whose edge carries no `riverfs` metadata (another Tahoe client's): the mounting user. */
  defaultOwner?: { uid: number; gid: number };
}

export interface PublishOptions {
  /**
   * Stop unlinking after this long (the rest is `deferred`, for a later run). Tahoe has no batch unlink and rewrites
   * the whole dirnode for each one: during an `rm -rf` of a big directory, unlinking its entries one by one cost
   * O(N²), while a later run finds the directory gone and unlinks nothing but its own name.
   */
  unlinkBudgetMs?: number;
}

export interface PublishResult {
  dir: number;
  /** Edges added or changed (one set_children) and edges unlinked. */
  published: number;
  unlinked: number;
  /**
   * Removals left for later (never a loss): the child moved and is not linked at its new place yet, or the run's
   * unlink budget was spent.
   */
  deferred: number;
  /** Files named here whose content is not uploaded yet: linked by a later publish. */
  waiting: number[];
  /** Children whose name Tahoe cannot hold (not UTF-8): they stay dirty, with the reason as their sync error. */
  unrepresentable: number[];
  /** The directory's own dirnode was created by this publish (its parent must link it). */
  created: boolean;
  /** The directory's own edge in its parent needs publishing (its attributes changed, or it is new). */
  parentNeedsPublish: boolean;
  /** The directory's entries are in sync and its flags were cleared. */
  clean: boolean;
  /** Versions another writer linked since our last sync, kept under these names (see checkBeforePublish). */
  conflicts: string[];
  /**
   * Tahoe has no compare-and-swap for dirnodes: from the re-read's answer until the last mutation completed, another
   * writer's change to an entry we replace or remove is lost. This long (ms); null when nothing was re-read.
   */
  raceWindowMs: number | null;
  /** How long the re-read (one GET of the dirnode's listing) took; null when nothing was re-read. */
  recheckMs: number | null;
}

interface DesiredEdge {
  child: SyncChild;
  key: string;
  tahoeName: string;
  cap: string;
  metadata: RiverFsEdgeMetadata;
  hash: string;
}

/** A plan checked against the dirnode's listing re-read under its lock, with what the check found. */
interface CheckedPlan {
  plan: Plan;
  conflicts: string[];
  rawCopies: Map<string, ChildSpec>;
  goneRemotely: Set<string>;
  /** When the re-read's answer arrived; null when nothing was re-read. */
  listedAt: number | null;
  recheckMs: number | null;
}

interface Plan {
  dir: SyncInode;
  /** Null for a new directory: its dirnode is created by this publish, with the plan's changes as its first version. */
  dirCap: string | null;
  created: boolean;
  desired: DesiredEdge[];
  changes: DesiredEdge[];
  removals: SyncedEntry[];
  /** What was last published, by the name's hex. */
  synced: Map<string, SyncedEntry>;
  /** Every entry's name, those Tahoe cannot hold included. */
  localNames: Buffer[];
  waiting: number[];
  unrepresentable: SyncChild[];
}

const CLEAN_BATCH = 500;

/** Rounds of checking a plan against the re-read listing (each acknowledges what it found). */
const CHECK_ROUNDS = 4;

/** Attempts of one dirnode mutation that another writer raced (Tahoe's UncoordinatedWriteError). */
const UNCOORDINATED_ATTEMPTS = 4;

/**
 * Runs a dirnode mutation again when Tahoe reports an uncoordinated write: each attempt re-reads the dirnode and
 * applies the same change to what it now holds (set_children and unlink are read-modify-write inside Tahoe). The
 * dirnode lock rules out RiverFS gateways; what races is another kind of Tahoe client.
 */
async function retryUncoordinated<T>(mutation: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await mutation();
    } catch (error) {
      if (!isTahoeError(error, 'UNCOORDINATED_WRITE') || attempt >= UNCOORDINATED_ATTEMPTS) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt * (0.5 + Math.random())));
    }
  }
}

function nameKey(name: Buffer): string {
  return name.toString('hex');
}

/**
 * Reconciles a directory's dirnode with SQL, state-based (DESIGN.md §3): from the directory's children and what was
 * last published (`synced_entry`) it computes the difference, publishes every addition and change in one
 * set_children carrying the `riverfs` edge metadata, then unlinks what is gone. Dirnodes are created before they are
 * linked (children directories get theirs before their parent's publish names them); a file is linked only once its
 * content has a cap; a child that moved is linked at its new place before the old link is removed, so a crash leaves
 * a duplicate, never a loss. Every dirnode mutation holds the StateStore lock `dirnode:<ino>`. Running it again
 * changes nothing: it is idempotent, which is all crash recovery needs.
 */
export class DirnodePublisher {
  private readonly mutex = new KeyedMutex();

  constructor(private readonly deps: DirnodePublisherDeps) {}

  /**
   * Publishes directory `dir`. `chain` holds the directories whose publish is waiting on this one (a move cycle:
   * those are not published first). Null when the directory no longer exists (what was published for it is forgotten).
   */
  async publish(
    dir: number,
    signal?: AbortSignal,
    chain: ReadonlySet<number> = new Set(),
    options: PublishOptions = {},
  ): Promise<PublishResult | null> {
    const { journal } = this.deps;
    const first = await journal.getSyncInode(dir);
    if (first === null || first.type !== 'dir' || first.nlink === 0) {
      await this.forgetTree(dir);
      return null;
    }
    // Moved children first: their new parents link them before this directory unlinks them. New subdirectories
    // too: each is then created with its entries in one request (mkdir-with-children), not empty and then filled.
    for (const other of [
      ...(await this.destinationsToPublishFirst(first, chain)),
      ...(await this.newSubdirectories(first, chain)),
    ]) {
      await this.publish(other, signal, new Set([...chain, dir]), options);
    }
    return this.mutex.run(`dir:${dir}`, () =>
      this.deps.state.withLock(
        `dirnode:${dir}`,
        { ttlMs: this.deps.lockTtlMs, waitMs: this.deps.lockWaitMs },
        async (lock) => {
          const current = await journal.getSyncInode(dir);
          if (current === null || current.type !== 'dir' || current.nlink === 0) {
            return null;
          }
          const checked = await this.checkRemote(dir, await this.plan(current, signal), signal);
          const { plan } = checked;
          let published = 0;
          let mutatedAt: number | null = null;
          let dirCap = plan.dirCap;
          if (plan.changes.length > 0 || checked.rawCopies.size > 0 || dirCap === null) {
            const children = new Map<string, ChildSpec>(checked.rawCopies);
            for (const edge of plan.changes) {
              children.set(edge.tahoeName, this.childSpec(edge));
            }
            lock.assertHeld();
            if (dirCap === null) {
              dirCap = await this.createDirnode(current, children, signal);
            } else {
              const cap = dirCap;
              await retryUncoordinated(() => this.deps.tahoe.setChildren(cap, children, { replace: true, signal }));
            }
            mutatedAt = Date.now();
            await journal.recordPublished(
              dir,
              plan.changes.map((edge): PublishedEntry => ({
                name: edge.child.name,
                child: edge.child.inode.ino,
                cap: edge.cap,
                metaHash: edge.hash,
              })),
            );
            published = plan.changes.length;
          }
          let unlinked = 0;
          let deferred = 0;
          const unlinkUntil = options.unlinkBudgetMs === undefined ? Infinity : Date.now() + options.unlinkBudgetMs;
          for (const removal of plan.removals) {
            if ((unlinked > 0 && Date.now() >= unlinkUntil) || (await this.unpublishedMoves(dir, removal)) !== null) {
              deferred += 1;
              continue;
            }
            const name = tahoeName(removal.name);
            if (name !== undefined && dirCap !== null && !checked.goneRemotely.has(nameKey(removal.name))) {
              lock.assertHeld();
              const cap = dirCap;
              try {
                await retryUncoordinated(() => this.deps.tahoe.unlink(cap, name, { signal }));
                mutatedAt = Date.now();
              } catch (error) {
                // Already gone (an earlier run unlinked it and crashed before recording that): the state is right.
                if (!isTahoeError(error, 'NOT_FOUND')) {
                  throw error;
                }
              }
            }
            await journal.recordUnlinked(dir, [removal.name]);
            unlinked += 1;
            if (removal.child !== null && (await journal.getSyncInode(removal.child)) === null) {
              await this.forgetTree(removal.child);
            }
          }
          await this.clearChildren(plan.desired);
          for (const child of plan.unrepresentable) {
            await journal.markFailed(
              child.inode.ino,
              `the name ${JSON.stringify(child.name.toString('utf8'))} is not valid UTF-8, which Tahoe cannot store`,
              child.inode.syncTries + 1,
            );
          }
          const clean =
            deferred === 0 &&
            (await journal.markClean(dir, current.changeSeq, { entries: true, attr: dir === ROOT_INO }));
          return {
            dir,
            published,
            unlinked,
            deferred,
            waiting: plan.waiting,
            unrepresentable: plan.unrepresentable.map((child) => child.inode.ino),
            created: plan.created,
            parentNeedsPublish: dir !== ROOT_INO && (plan.created || current.attrDirty),
            clean,
            conflicts: checked.conflicts,
            raceWindowMs: checked.listedAt === null || mutatedAt === null ? null : mutatedAt - checked.listedAt,
            recheckMs: checked.recheckMs,
          };
        },
      ),
    );
  }

  /** The cap of a directory's dirnode, created now when it has none (a new directory). */
  async ensureDirnode(dir: SyncInode, signal?: AbortSignal): Promise<{ cap: string; created: boolean }> {
    if (dir.ino === ROOT_INO) {
      return { cap: await this.deps.rootCap.ensure(signal), created: false };
    }
    if (dir.writeCap !== null) {
      return { cap: dir.writeCap, created: false };
    }
    const made = await this.deps.tahoe.mkdir({ signal });
    // Two gateways may race here: the first cap recorded wins, the other dirnode is an unlinked orphan.
    const cap = await this.deps.journal.recordCap(dir.ino, made, readOnlyCapOf(made));
    return { cap, created: cap === made };
  }

  /**
   * Creates a new directory's dirnode holding `children` (its first version, one request) and records its cap. When
   * another gateway recorded a cap first, that one is the directory's: the children are set there, and ours is an
   * unlinked orphan.
   */
  private async createDirnode(
    dir: SyncInode,
    children: ReadonlyMap<string, ChildSpec>,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const made =
      children.size > 0
        ? await this.deps.tahoe.mkdirWithChildren(children, { signal })
        : await this.deps.tahoe.mkdir({ signal });
    const cap = await this.deps.journal.recordCap(dir.ino, made, readOnlyCapOf(made));
    if (cap !== made && children.size > 0) {
      await retryUncoordinated(() => this.deps.tahoe.setChildren(cap, children, { replace: true, signal }));
    }
    return cap;
  }

  /** Subdirectories that have no dirnode yet (and are not waiting on this directory's publish). */
  private async newSubdirectories(dir: SyncInode, chain: ReadonlySet<number>): Promise<number[]> {
    return (await this.deps.journal.unpublishedSubdirectories(dir.ino)).filter(
      (ino) => ino !== dir.ino && !chain.has(ino),
    );
  }

  /**
   * Re-reads the dirnode (one GET, under its lock) when the plan replaces or removes entries, right before the
   * mutations, and keeps what other writers linked since our last sync as conflict copies: they join the directory
   * here (the mount shows them, and no later publish removes them) and are published with the plan. A dirnode this
   * publish created is known to no other writer: not re-read.
   */
  private async checkRemote(dir: number, first: Plan, signal: AbortSignal | undefined): Promise<CheckedPlan> {
    const checked: CheckedPlan = {
      plan: first,
      conflicts: [],
      rawCopies: new Map(),
      goneRemotely: new Set(),
      listedAt: null,
      recheckMs: null,
    };
    if (first.dirCap === null || first.changes.length + first.removals.length === 0) {
      return checked;
    }
    const started = Date.now();
    const listing = await this.deps.tahoe.listDirectory(first.dirCap, { signal });
    checked.listedAt = Date.now();
    checked.recheckMs = checked.listedAt - started;
    const defaultOwner = this.deps.defaultOwner ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    // Planned again after conflict copies joined, the plan is checked again against the same listing: a name made
    // here meanwhile may be contested too. Each round acknowledges what it found, so a second finds only new names.
    for (let round = 1; ; round += 1) {
      if (round > CHECK_ROUNDS) {
        // Never expected: publishing now could overwrite what a round had still found; a later run checks again.
        throw new Error(`directory ${dir} kept changing while its publish checked it against Tahoe`);
      }
      const { plan } = checked;
      const check = await checkBeforePublish(
        {
          listing: listing.children,
          listedAt: checked.listedAt,
          changes: plan.changes.map((edge) => ({ name: edge.child.name, tahoeName: edge.tahoeName, cap: edge.cap })),
          removals: plan.removals,
          synced: plan.synced,
          localNames: [...plan.localNames, ...[...checked.rawCopies.keys()].map((name) => Buffer.from(name, 'utf8'))],
          defaultOwner,
        },
        this.deps.tahoe,
        signal,
      );
      checked.goneRemotely = check.goneRemotely;
      if (check.changes.length === 0) {
        return checked;
      }
      for (const [name, spec] of check.rawCopies) {
        checked.rawCopies.set(name, spec);
      }
      checked.conflicts.push(...check.conflicts);
      const applied = await this.deps.journal.applyRemote(dir, check.changes, { publishAfter: true });
      this.deps.events.publish('remoteApplied', {
        inos: [...new Set([dir, ...applied.changed])],
        names: namesChangedBy(dir, check.changes),
      });
      this.deps.logger.warn(
        `Directory ${dir} was changed in Tahoe by another writer since this gateway's last sync: their versions ` +
          `kept as ${check.conflicts.map((name) => JSON.stringify(name)).join(', ')}, ours published`,
      );
      checked.plan = await this.plan(plan.dir, signal);
    }
  }

  private async plan(dir: SyncInode, signal: AbortSignal | undefined): Promise<Plan> {
    const { journal } = this.deps;
    // A new directory's dirnode is made by the publish itself, with its first entries (see createDirnode).
    const dirCap = dir.ino === ROOT_INO ? await this.deps.rootCap.ensure(signal) : dir.writeCap;
    const created = dirCap === null;
    const children = await journal.children(dir.ino);
    const synced = new Map((await journal.syncedEntries(dir.ino)).map((entry) => [nameKey(entry.name), entry]));
    const desired: DesiredEdge[] = [];
    const waiting: number[] = [];
    const unrepresentable: SyncChild[] = [];
    for (const child of children) {
      const name = tahoeName(child.name);
      if (name === undefined) {
        unrepresentable.push(child);
        continue;
      }
      const cap = await this.capOf(child, signal);
      if (cap === null) {
        waiting.push(child.inode.ino);
        continue;
      }
      const metadata = edgeMetadata(child);
      desired.push({ child, key: nameKey(child.name), tahoeName: name, cap, metadata, hash: edgeHash(cap, metadata) });
    }
    const changes = desired.filter((edge) => {
      const last = synced.get(edge.key);
      if (last === undefined || last.cap !== edge.cap) {
        return true;
      }
      // A child with nothing to push keeps the edge Tahoe has: a pulled entry (a tree written by another Tahoe
      // client, or by a gateway with other inode numbers) is not rewritten just because its metadata is not ours.
      return last.metaHash !== edge.hash && edge.child.inode.syncState !== 'synced';
    });
    const present = new Set(children.map((child) => nameKey(child.name)));
    const removals = [...synced.values()].filter((entry) => !present.has(nameKey(entry.name)));
    const localNames = children.map((child) => child.name);
    return { dir, dirCap, created, desired, changes, removals, synced, localNames, waiting, unrepresentable };
  }

  /** The cap a child is linked with; null for a file whose content has not been uploaded yet. */
  private async capOf(child: SyncChild, signal: AbortSignal | undefined): Promise<string | null> {
    const { inode } = child;
    switch (inode.type) {
      case 'file':
        return inode.writeCap;
      case 'dir':
        return (await this.ensureDirnode(inode, signal)).cap;
      case 'symlink': {
        if (inode.writeCap !== null) {
          return inode.writeCap;
        }
        // The target as the file's content (a LIT cap up to 55 bytes): other Tahoe clients see a small file.
        const made = await this.deps.tahoe.upload(child.target ?? Buffer.alloc(0), { signal });
        return await this.deps.journal.recordCap(inode.ino, made, made);
      }
      default:
        return SPECIAL_FILE_CAP;
    }
  }

  private childSpec(edge: DesiredEdge): ChildSpec {
    const metadata = { [EDGE_METADATA_KEY]: edge.metadata };
    if (edge.child.inode.type === 'dir') {
      return { type: 'directory', rwUri: edge.cap, roUri: readOnlyCapOf(edge.cap), metadata };
    }
    return { type: 'file', roUri: edge.cap, metadata };
  }

  /**
   * Whether a published edge whose name is gone from SQL may be unlinked now: null (yes) when its child no longer
   * exists (or has no name Tahoe can hold) or is already linked elsewhere in Tahoe; else the directories that must
   * publish the moved child first.
   */
  private async unpublishedMoves(dir: number, removal: SyncedEntry): Promise<number[] | null> {
    const { journal } = this.deps;
    if (removal.child === null) {
      return null;
    }
    const links = (await journal.linksOf(removal.child)).filter((link) => tahoeName(link.name) !== undefined);
    if (links.length === 0) {
      return null;
    }
    const elsewhere = (await journal.syncedLinksOf(removal.child)).some(
      (entry) => !(entry.parent === dir && entry.name.equals(removal.name)),
    );
    return elsewhere ? null : [...new Set(links.map((link) => link.parent))];
  }

  private async destinationsToPublishFirst(dir: SyncInode, chain: ReadonlySet<number>): Promise<number[]> {
    const { journal } = this.deps;
    const synced = await journal.syncedEntries(dir.ino);
    if (synced.length === 0) {
      return [];
    }
    const present = new Set((await journal.childNames(dir.ino)).map(nameKey));
    const destinations = new Set<number>();
    for (const entry of synced) {
      if (present.has(nameKey(entry.name))) {
        continue;
      }
      for (const destination of (await this.unpublishedMoves(dir.ino, entry)) ?? []) {
        if (destination !== dir.ino && !chain.has(destination)) {
          destinations.add(destination);
        }
      }
    }
    return [...destinations];
  }

  /**
   * Clears the attribute flag of children whose every link is now published with their current cap and metadata
   * (one link: this directory's; hard links: all of them). A child left with no flag becomes `synced`.
   */
  private async clearChildren(desired: DesiredEdge[]): Promise<void> {
    const { journal } = this.deps;
    const clean: { ino: number; changeSeq: number; flags: { attr: true } }[] = [];
    for (const edge of desired) {
      const { inode } = edge.child;
      if (inode.syncState === 'synced') {
        continue;
      }
      if (inode.type !== 'dir' && inode.nlink > 1) {
        const links = await journal.linksOf(inode.ino);
        const published = await journal.syncedLinksOf(inode.ino);
        const complete = links.every((link) =>
          published.some(
            (entry) =>
              entry.parent === link.parent &&
              entry.name.equals(link.name) &&
              entry.cap === edge.cap &&
              entry.metaHash === edge.hash,
          ),
        );
        if (!complete) {
          continue;
        }
      }
      clean.push({ ino: inode.ino, changeSeq: inode.changeSeq, flags: { attr: true } });
    }
    // Batches of CLEAN_BATCH per transaction: one commit (an fsync) per child made a publish of N new entries cost
    // N commits; a bounded batch keeps MariaDB's row locks short.
    for (let start = 0; start < clean.length; start += CLEAN_BATCH) {
      await journal.markCleanMany(clean.slice(start, start + CLEAN_BATCH));
    }
  }

  /** Forgets what was published for a directory that no longer exists, and for its vanished subdirectories. */
  private async forgetTree(dir: number): Promise<void> {
    const { journal } = this.deps;
    const entries = await journal.syncedEntries(dir);
    await journal.forgetDirectory(dir);
    for (const entry of entries) {
      if (entry.child !== null && (await journal.getSyncInode(entry.child)) === null) {
        await this.forgetTree(entry.child);
      }
    }
  }
}
