import { Inject, Injectable } from '@nestjs/common';
import { BlockCache } from '../cache/block-cache';
import { MetadataStore } from '../metadata/metadata.store';
import type { DirEntryRecord, InodeRecord, Timespec } from '../metadata/metadata.types';
import { type InodeCheck, TahoeCheckService } from '../lifecycle/tahoe-check.service';
import type { InodeCheckDto } from './dto/check.dto';
import { SyncJournal } from '../metadata/sync-journal';
import { capAccessOf, readOnlyCapOf, redactCap, redactCapsInText } from '../tahoe/cap.util';
import { CacheInspector } from './cache-inspector.service';
import type {
  ChildEntryDto,
  ChildrenPageDto,
  InodeDto,
  InodeSyncDto,
  InodeSyncWorkerDto,
  InodeWorkerState,
  TimespecDto,
} from './dto/inode.dto';
import { FsLookupService } from './fs-lookup.service';
import { ACTIVE_SYNC_CONTROL, syncQueueItemDto } from './sync-admin.service';
import { SyncControl, type SyncQueueItem } from './sync-control';

function timespec(time: Timespec): TimespecDto {
  return { sec: time.sec, nsec: time.nsec, iso: new Date(time.sec * 1000 + Math.floor(time.nsec / 1e6)).toISOString() };
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function showCap(cap: string | null, reveal: boolean): string | null {
  return cap === null ? null : reveal ? cap : redactCap(cap);
}

/**
 * The read cap of an inode: the one stored, else the one its write cap gives (computed offline; the root and every
 * directory published from here keep only their write cap), else none.
 */
function readCapOf(inode: InodeRecord): string | null {
  if (inode.readCap !== null || inode.writeCap === null || capAccessOf(inode.writeCap) !== 'write') {
    return inode.readCap;
  }
  try {
    return readOnlyCapOf(inode.writeCap);
  } catch {
    return null;
  }
}

function childEntry(entry: DirEntryRecord): ChildEntryDto {
  const name = entry.name.toString('utf8');
  const exact = Buffer.from(name, 'utf8').equals(entry.name);
  return {
    name,
    ...(exact ? {} : { nameBase64: entry.name.toString('base64') }),
    ino: entry.ino,
    type: entry.type,
    cookie: entry.cookie,
    size: entry.inode?.size ?? 0,
    mode: entry.inode?.mode ?? 0,
    nlink: entry.inode?.nlink ?? 0,
    syncState: entry.inode?.syncState ?? 'synced',
  };
}

/** What an operator looks for first: a failure, else work under way, else work waiting. */
function workerState(tasks: readonly SyncQueueItem[]): InodeWorkerState {
  for (const state of ['failed', 'running', 'pending'] as const) {
    if (tasks.some((task) => task.state === state)) {
      return state;
    }
  }
  return 'idle';
}

function checkView(check: InodeCheck | undefined): InodeCheckDto | null {
  return check === undefined ? null : { ...check, checkedAt: new Date(check.checkedAt).toISOString() };
}

/** Inode inspection for operators: attributes, names, sync state, cache presence, caps redacted unless revealed. */
@Injectable()
export class InodesService {
  constructor(
    private readonly store: MetadataStore,
    private readonly journal: SyncJournal,
    @Inject(ACTIVE_SYNC_CONTROL) private readonly control: SyncControl,
    private readonly cache: BlockCache,
    private readonly lookup: FsLookupService,
    private readonly inspector: CacheInspector,
    private readonly checks: TahoeCheckService,
  ) {}

  async byIno(ino: number, reveal: boolean): Promise<InodeDto> {
    return this.view(await this.store.getInode(ino), reveal);
  }

  async byPath(path: string, reveal: boolean): Promise<InodeDto> {
    return this.view(await this.lookup.resolve(path), reveal);
  }

  async children(ino: number, page: { after?: number; limit?: number }): Promise<ChildrenPageDto> {
    await this.lookup.directory(ino);
    const result = await this.store.readdir(ino, { after: page.after ?? 0, limit: page.limit ?? 100, plus: true });
    return { ino, entries: result.entries.map(childEntry), next: result.next };
  }

  private async view(inode: InodeRecord, reveal: boolean): Promise<InodeDto> {
    const cache = inode.type === 'file' ? this.inspector.inode(inode.ino) : null;
    const [paths, sync, check] = await Promise.all([
      this.lookup.pathsOf(inode),
      this.syncOf(inode),
      this.checks.lastCheck(inode.ino),
    ]);
    return {
      ino: inode.ino,
      type: inode.type,
      mode: inode.mode,
      modeOctal: inode.mode.toString(8).padStart(4, '0'),
      uid: inode.uid,
      gid: inode.gid,
      size: inode.size,
      nlink: inode.nlink,
      rdev: inode.rdev,
      parent: inode.parent,
      contentVersion: inode.contentVersion,
      times: { atime: timespec(inode.atime), mtime: timespec(inode.mtime), ctime: timespec(inode.ctime) },
      paths: paths.paths,
      pathsComplete: paths.complete,
      sync,
      cache:
        cache === null
          ? null
          : {
              blockSize: this.cache.blockSize,
              blockCount: Math.ceil(inode.size / this.cache.blockSize),
              ...cache,
            },
      caps: { writeCap: showCap(inode.writeCap, reveal), readCap: showCap(readCapOf(inode), reveal), revealed: reveal },
      check: checkView(check),
    };
  }

  private async syncOf(inode: InodeRecord): Promise<InodeSyncDto> {
    // The failure count and error live on the inode's row, so they outlast the worker's queue (a restart).
    const row = await this.journal.getSyncInode(inode.ino);
    return {
      state: inode.syncState,
      dataDirty: inode.dataDirty,
      attrDirty: inode.attrDirty,
      entriesDirty: inode.entriesDirty,
      dirtySince: isoOrNull(inode.dirtySince),
      syncedContentVersion: inode.syncedContentVersion,
      listedAt: isoOrNull(inode.listedAt),
      worker: this.workerOf(inode.ino),
      tries: row?.syncTries ?? 0,
      lastError: row === null || row.syncError === null ? null : redactCapsInText(row.syncError),
    };
  }

  private workerOf(ino: number): InodeSyncWorkerDto {
    if (!this.control.available) {
      return { state: 'unavailable', tasks: [] };
    }
    const tasks = this.control.tasksOf(ino);
    return { state: workerState(tasks), tasks: tasks.map(syncQueueItemDto) };
  }
}
