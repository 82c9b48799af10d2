import { Inject, Injectable } from '@nestjs/common';
import { ROOT_INO } from '../metadata/metadata.types';
import { redactCapsInText } from '../tahoe/cap.util';
import type { SyncQueueDto, SyncQueueItemDto } from './dto/sync.dto';
import type { SyncDto, TargetDto, WaitableTargetDto, WarmupDto } from './dto/target.dto';
import { FsLookupService } from './fs-lookup.service';
import { type JobSnapshot, JobsService } from './jobs.service';
import { SyncControl, type SyncQueueItem, syncUnavailable } from './sync-control';

/** The SyncControl the admin API uses: the sync worker's when a module exports one, else the stand-in. */
export const ACTIVE_SYNC_CONTROL = Symbol('ACTIVE_SYNC_CONTROL');

export interface StartedJob {
  job: JobSnapshot;
  /** True when the answer waited and the job has ended. */
  ended: boolean;
}

const DEFAULT_WAIT_SECONDS = 300;

/** A queue item as the API shows it (the queue and the inode view); caps redacted whoever implements the port. */
export function syncQueueItemDto(item: SyncQueueItem): SyncQueueItemDto {
  return {
    ...item,
    since: new Date(item.since).toISOString(),
    lastError: item.lastError === null ? null : redactCapsInText(item.lastError),
    nextAttemptAt: item.nextAttemptAt === null ? null : new Date(item.nextAttemptAt).toISOString(),
  };
}

/** Flush, forced sync, warmup and the sync queue: targets resolved here, the work done by SyncControl in a job. */
@Injectable()
export class SyncAdminService {
  constructor(
    @Inject(ACTIVE_SYNC_CONTROL) private readonly control: SyncControl,
    private readonly jobs: JobsService,
    private readonly lookup: FsLookupService,
  ) {}

  get available(): boolean {
    return this.control.available;
  }

  async flush(request: WaitableTargetDto): Promise<StartedJob> {
    const target = await this.target(request);
    return this.run(request, 'flush', target.params, (context) =>
      this.control.flush({ ino: target.ino }, context).then((result) => ({ ...result })),
    );
  }

  async sync(request: SyncDto): Promise<StartedJob> {
    const target = await this.target(request);
    const direction = request.direction ?? 'both';
    return this.run(request, 'sync', { ...target.params, direction }, (context) =>
      this.control.sync({ ino: target.ino, direction }, context).then((result) => ({ ...result })),
    );
  }

  async warmup(request: WarmupDto): Promise<StartedJob> {
    const target = await this.target(request);
    const recursive = request.recursive ?? true;
    return this.run(request, 'warmup', { ...target.params, recursive }, (context) =>
      this.control.warmup({ ino: target.ino ?? ROOT_INO, recursive }, context).then((result) => ({ ...result })),
    );
  }

  async queue(offset: number, limit: number): Promise<SyncQueueDto> {
    this.assertAvailable();
    const page = await this.control.queue({ offset, limit });
    return {
      items: page.items.map(syncQueueItemDto),
      total: page.total,
      depth: page.depth,
      oldestDirtyAgeSeconds: page.oldestDirtyAgeSeconds,
      scannedAt: page.scannedAt === null ? null : new Date(page.scannedAt).toISOString(),
    };
  }

  private assertAvailable(): void {
    if (!this.control.available) {
      throw syncUnavailable();
    }
  }

  /** Checked before anything else, so that an unavailable sync is a 503 even for a target that does not exist. */
  private async target(request: TargetDto): Promise<{ ino: number | null; params: Record<string, unknown> }> {
    this.assertAvailable();
    if (request.path !== undefined) {
      const inode = await this.lookup.resolve(request.path);
      return { ino: inode.ino, params: { path: request.path, ino: inode.ino } };
    }
    if (request.ino !== undefined) {
      // Fails with ENOENT (404) now rather than inside the job.
      await this.lookup.inode(request.ino);
      return { ino: request.ino, params: { ino: request.ino } };
    }
    return { ino: null, params: { ino: null } };
  }

  private async run(
    request: WaitableTargetDto,
    kind: string,
    params: Record<string, unknown>,
    work: Parameters<JobsService['start']>[2],
  ): Promise<StartedJob> {
    const job = this.jobs.start(kind, params, work);
    if (request.wait !== true) {
      return { job, ended: false };
    }
    const waited = await this.jobs.wait(job.id, (request.waitSeconds ?? DEFAULT_WAIT_SECONDS) * 1000);
    return { job: waited, ended: waited.finishedAt !== null };
  }
}
