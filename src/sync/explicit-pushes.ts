import type { JobContext } from '../admin/jobs.service';
import type { SyncResult } from '../admin/sync-control';
import { FsError } from '../common/errors/fs-error';
import { ROOT_INO } from '../metadata/metadata.types';
import type { SyncInode, SyncJournal } from '../metadata/sync-journal';
import { redactCapsInText } from '../tahoe/cap.util';
import type { SyncTaskKind } from './sync-queue';
import type { UpstreamOutcome } from './tahoe-sync.worker';

export interface ExplicitPushesDeps {
  journal: SyncJournal;
  /** One push of an inode through the worker's hooks (see TahoeSyncWorker.push); null when there was nothing to do. */
  push: (kind: SyncTaskKind, ino: number, explicit: boolean) => Promise<UpstreamOutcome | null>;
}

/** Attempts of an explicit flush when the file keeps changing under it. */
const EXPLICIT_ATTEMPTS = 5;
const DIRTY_PAGE = 2000;

function message(error: unknown): string {
  return redactCapsInText(error instanceof Error ? error.message : String(error));
}

/**
 * The explicit half of upstream sync: pushes that a caller waits for (writethrough's sync point, `riverfs flush`, the
 * admin API's flush and sync jobs), as opposed to the background queue. Each uploads what is dirty now and publishes
 * every directory up to the root itself, through the same per-inode push as the queue (so the two never run the same
 * inode at once), and reports what could not be pushed.
 */
export class ExplicitPushes {
  constructor(private readonly deps: ExplicitPushesDeps) {}

  /** Pushes each of `targets` (files first is the caller's order); rejects listing what could not be pushed. */
  async pushAll(targets: SyncInode[]): Promise<void> {
    const failures: string[] = [];
    for (const inode of targets) {
      try {
        await this.flushOne(inode);
      } catch (error) {
        failures.push(`inode ${inode.ino}: ${message(error)}`);
      }
    }
    if (failures.length > 0) {
      throw new FsError(
        'EIO',
        `${failures.length} of ${targets.length} inode(s) could not be pushed: ${failures.slice(0, 5).join('; ')}`,
      );
    }
  }

  /** A file: upload and link everywhere; a directory: publish it and its parent up to the root; else its links. */
  async flushOne(inode: SyncInode): Promise<{ bytes: number }> {
    if (inode.type === 'file') {
      return this.flushFile(inode.ino);
    }
    if (inode.type === 'dir') {
      await this.publishUp(inode.ino);
      if (inode.ino !== ROOT_INO && inode.parent !== null) {
        await this.publishUp(inode.parent);
      }
      return { bytes: 0 };
    }
    for (const link of await this.deps.journal.linksOf(inode.ino)) {
      await this.publishUp(link.parent);
    }
    return { bytes: 0 };
  }

  /** Uploads a file (when dirty) and publishes every directory that links it, up to the root. */
  async flushFile(ino: number): Promise<{ bytes: number }> {
    let bytes = 0;
    for (let attempt = 1; ; attempt += 1) {
      const inode = await this.deps.journal.getSyncInode(ino);
      if (inode === null || inode.nlink === 0 || inode.type !== 'file') {
        return { bytes };
      }
      if (inode.syncState === 'synced') {
        return { bytes };
      }
      if (inode.dataDirty || inode.writeCap === null) {
        const outcome = await this.deps.push('upload', ino, true);
        if (outcome?.status === 'postponed') {
          if (attempt >= EXPLICIT_ATTEMPTS) {
            throw new FsError('EIO', `inode ${ino} kept changing while it was uploaded (${outcome.reason})`);
          }
          continue;
        }
        if (outcome?.status === 'pushed') {
          bytes += outcome.bytes;
        }
      }
      for (const link of await this.deps.journal.linksOf(ino)) {
        await this.publishUp(link.parent);
      }
      const after = await this.deps.journal.getSyncInode(ino);
      if (after === null || after.syncState === 'synced' || after.nlink === 0) {
        return { bytes };
      }
      if (attempt >= EXPLICIT_ATTEMPTS) {
        throw new FsError(
          'EIO',
          `inode ${ino} is still not in sync with Tahoe${after.syncError ? `: ${after.syncError}` : ''}`,
        );
      }
    }
  }

  /** Publishes a directory, then each ancestor whose link to it is not published yet. */
  async publishUp(dir: number): Promise<void> {
    let current: number | null = dir;
    for (let depth = 0; current !== null && depth < 10_000; depth += 1) {
      const outcome = await this.deps.push('publish', current, true);
      const publish = outcome?.status === 'pushed' ? outcome.publish : null;
      if (!publish) {
        return;
      }
      if (publish.deferred > 0) {
        // A moved child waits for its new place; one more run unlinks the old one.
        await this.deps.push('publish', current, true);
      }
      if (!publish.parentNeedsPublish) {
        return;
      }
      current = (await this.deps.journal.getSyncInode(current))?.parent ?? null;
    }
  }

  /** Every dirty inode, files first (their uploads are what the directories then link). */
  async allDirty(): Promise<SyncInode[]> {
    const result: SyncInode[] = [];
    for (let after = 0; ;) {
      const page = await this.deps.journal.listDirty({ afterIno: after, limit: DIRTY_PAGE });
      result.push(...page);
      if (page.length < DIRTY_PAGE) {
        break;
      }
      after = page[page.length - 1].ino;
    }
    return [...result.filter((inode) => inode.type === 'file'), ...result.filter((inode) => inode.type !== 'file')];
  }

  /** Dirty inodes in a directory's tree (the directory included), filtered, files first. */
  async dirtyBelow(dir: number, keep: (inode: SyncInode) => boolean): Promise<SyncInode[]> {
    const found: SyncInode[] = [];
    const root = await this.deps.journal.getSyncInode(dir);
    if (root !== null && root.syncState !== 'synced' && keep(root)) {
      found.push(root);
    }
    const pending = [dir];
    while (pending.length > 0) {
      const current = pending.pop()!;
      for (const child of await this.deps.journal.children(current)) {
        if (child.inode.type === 'dir') {
          pending.push(child.inode.ino);
        }
        if (child.inode.syncState !== 'synced' && keep(child.inode)) {
          found.push(child.inode);
        }
      }
    }
    const unique = [...new Map(found.map((inode) => [inode.ino, inode])).values()];
    return [...unique.filter((inode) => inode.type === 'file'), ...unique.filter((inode) => inode.type !== 'file')];
  }

  /** The directory a pull of `ino` lists: itself, or the directory a file is linked in (the root for everything). */
  async pullTarget(ino: number | null): Promise<number> {
    if (ino === null) {
      return ROOT_INO;
    }
    const inode = await this.deps.journal.getSyncInode(ino);
    if (inode === null) {
      throw new FsError('ENOENT', `no inode ${ino}`);
    }
    if (inode.type === 'dir') {
      return ino;
    }
    const [link] = await this.deps.journal.linksOf(ino);
    if (link === undefined) {
      throw new FsError('ENOENT', `inode ${ino} has no name to pull`);
    }
    return link.parent;
  }

  /** The dirty inodes `keep` selects: everything, or one inode (a directory: its whole tree). */
  async targets(ino: number | null, keep: (inode: SyncInode) => boolean): Promise<SyncInode[]> {
    if (ino === null) {
      return (await this.allDirty()).filter(keep);
    }
    const inode = await this.deps.journal.getSyncInode(ino);
    if (inode === null) {
      throw new FsError('ENOENT', `no inode ${ino}`);
    }
    return inode.type === 'dir' ? this.dirtyBelow(ino, keep) : keep(inode) ? [inode] : [];
  }

  /** Pushes `targets` for an admin job, with its progress and cancellation. */
  async runForJob(targets: SyncInode[], job: JobContext): Promise<SyncResult> {
    job.progress({ done: 0, total: targets.length, unit: 'inodes' });
    const result: SyncResult = { directories: 0, files: 0, bytes: 0 };
    const failures: string[] = [];
    for (const [index, inode] of targets.entries()) {
      job.throwIfCancelled();
      try {
        const { bytes } = await this.flushOne(inode);
        result.bytes += bytes;
        if (inode.type === 'dir') {
          result.directories += 1;
        } else {
          result.files += 1;
        }
      } catch (error) {
        failures.push(`inode ${inode.ino}: ${message(error)}`);
      }
      job.progress({ done: index + 1, message: `inode ${inode.ino}` });
    }
    if (failures.length > 0) {
      throw new FsError(
        'EIO',
        `${failures.length} of ${targets.length} inode(s) could not be pushed: ${failures.slice(0, 5).join('; ')}`,
      );
    }
    return result;
  }
}
