import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { type JobContext, type JobSnapshot, JobsService } from '../admin/jobs.service';
import { RIVERFS_CONFIG } from '../config/config.module';
import type { RiverFsConfig } from '../config/config.schema';
import { MetadataStore } from '../metadata/metadata.store';
import { ROOT_INO } from '../metadata/metadata.types';
import { type LeaseRenewalProgress, type ReferencedCap, TahoeLeaseLedger } from '../metadata/tahoe-lease-ledger';
import { RiverFsMetrics } from '../metrics/riverfs-metrics.service';
import { redactCapsInText } from '../tahoe/cap.util';
import { TahoeClient } from '../tahoe/tahoe.client';

export const LEASE_RENEWAL_JOB = 'lease-renewal';
/** Caps handled between two writes of the durable cursor: at most this many are renewed twice after a crash. */
const BATCH = 50;
/** Renewals in flight at once (each is one request per storage server). */
const CONCURRENCY = 4;
/** A run left unfinished by a restart resumes this long after start-up; a first run ever waits longer. */
const RESUME_DELAY_MS = 10_000;
const FIRST_RUN_DELAY_MS = 10 * 60_000;
/** How often the schedule looks whether a run is due. */
const SCHEDULE_TICK_MS = 60_000;
/** Failures listed in a job's result (the count is always complete). */
const FAILURES_LISTED = 20;

export interface RenewalFailure {
  ino: number;
  reason: string;
}

/**
 * Renews the Tahoe lease of every cap the filesystem references (the root dirnode, every directory and file that
 * reached Tahoe) with `t=check&add-lease=true`, as an admin job on a schedule or on request. The walk goes by inode
 * number and its cursor is durable (TahoeLeaseLedger), so a run cut by a restart resumes where it was. A cap whose
 * check finds fewer good shares than needed, or that no server answers for, is a failure: counted, listed in the
 * job's result, logged, and in /metrics; the run carries on with the next.
 */
@Injectable()
export class TahoeLeaseRenewalService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('LeaseRenewal');
  private current: JobSnapshot | undefined;
  private timer: NodeJS.Timeout | undefined;
  private bootedAt = Date.now();

  constructor(
    private readonly ledger: TahoeLeaseLedger,
    private readonly store: MetadataStore,
    private readonly tahoe: TahoeClient,
    private readonly jobs: JobsService,
    @Inject(RIVERFS_CONFIG) private readonly config: RiverFsConfig,
    @Optional() private readonly metrics?: RiverFsMetrics,
  ) {}

  onApplicationBootstrap(): void {
    this.bootedAt = Date.now();
    this.metrics?.bindLeaseRenewal(() => this.ledger.read());
    if (this.config.tahoeLeaseRenewal > 0) {
      this.timer = setInterval(() => void this.tick(), Math.min(SCHEDULE_TICK_MS, RESUME_DELAY_MS));
      this.timer.unref();
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    if (this.current !== undefined && this.running()) {
      // Cancelled, the run keeps its durable cursor: the next start resumes it.
      this.jobs.cancel(this.current.id);
    }
  }

  status(): Promise<LeaseRenewalProgress> {
    return this.ledger.read();
  }

  /** Starts a run (resuming an unfinished one), or answers the run in progress. */
  start(): JobSnapshot {
    if (this.current !== undefined && this.running()) {
      return this.jobs.get(this.current.id);
    }
    this.current = this.jobs.start(LEASE_RENEWAL_JOB, {}, (context) => this.run(context));
    return this.current;
  }

  private running(): boolean {
    return this.jobs.isRunning(this.current?.id);
  }

  private async tick(): Promise<void> {
    if (this.running()) {
      return;
    }
    try {
      const progress = await this.ledger.read();
      const now = Date.now();
      const due =
        progress.runStartedAt !== null
          ? now - this.bootedAt >= RESUME_DELAY_MS
          : progress.lastCompleteAt === null
            ? now - this.bootedAt >= FIRST_RUN_DELAY_MS
            : now - progress.lastCompleteAt >= this.config.tahoeLeaseRenewal * 1000;
      if (due) {
        this.start();
      }
    } catch (error) {
      this.logger.warn(`lease renewal schedule: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private async run(context: JobContext): Promise<Record<string, unknown>> {
    let progress = await this.ledger.read();
    const resumed = progress.runStartedAt !== null;
    if (!resumed) {
      progress = { ...progress, runStartedAt: Date.now(), cursor: 0, renewed: 0, failed: 0 };
      await this.ledger.write(progress);
    }
    const resumedFrom = progress.cursor;
    const doneBefore = progress.renewed + progress.failed;
    const failures: RenewalFailure[] = [];
    let renewedNow = 0;
    context.progress({ unit: 'caps', done: doneBefore, total: await this.ledger.countCaps(), message: null });
    const rootCap = (await this.store.getSettings()).rootCap;
    for (;;) {
      context.throwIfCancelled();
      const batch = await this.ledger.capsAfter(progress.cursor, BATCH);
      // The root's cap lives in the settings until its row has one.
      if (progress.cursor < ROOT_INO && rootCap !== null && !batch.some((item) => item.ino === ROOT_INO)) {
        batch.unshift({ ino: ROOT_INO, type: 'dir', cap: rootCap });
      }
      if (batch.length === 0) {
        break;
      }
      const outcomes = await this.renewAll(batch, context.signal);
      context.throwIfCancelled();
      for (const [index, outcome] of outcomes.entries()) {
        if (outcome === undefined) {
          progress.renewed += 1;
          renewedNow += 1;
        } else {
          progress.failed += 1;
          const failure = { ino: batch[index].ino, reason: outcome };
          if (failures.length < FAILURES_LISTED) {
            failures.push(failure);
          }
          this.logger.warn(`lease of inode ${failure.ino} not renewed: ${failure.reason}`);
        }
        this.metrics?.countLeaseRenewal(outcome === undefined ? 'renewed' : 'failed');
      }
      progress.cursor = batch[batch.length - 1].ino;
      await this.ledger.write(progress);
      context.progress({ done: progress.renewed + progress.failed });
    }
    const finished: LeaseRenewalProgress = {
      runStartedAt: null,
      cursor: 0,
      renewed: 0,
      failed: 0,
      lastCompleteAt: Date.now(),
      lastCompleteRenewed: progress.renewed,
      lastCompleteFailed: progress.failed,
    };
    await this.ledger.write(finished);
    const summary = `renewed the leases of ${progress.renewed} caps${progress.failed > 0 ? `, ${progress.failed} failed` : ''}`;
    if (progress.failed > 0) {
      this.logger.warn(summary);
    } else {
      this.logger.log(summary);
    }
    return {
      renewed: progress.renewed,
      failed: progress.failed,
      resumed,
      resumedFrom,
      doneBefore,
      renewedNow,
      failures,
    };
  }

  /** Per cap: undefined when renewed, else why not. */
  private async renewAll(batch: ReferencedCap[], signal: AbortSignal): Promise<(string | undefined)[]> {
    const outcomes: (string | undefined)[] = new Array<string | undefined>(batch.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < batch.length && !signal.aborted) {
        const index = next;
        next += 1;
        outcomes[index] = await this.renew(batch[index].cap, signal);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, batch.length) }, worker));
    return outcomes;
  }

  private async renew(cap: string, signal: AbortSignal): Promise<string | undefined> {
    if (cap.startsWith('URI:LIT:')) {
      return undefined; // the data is in the cap: no shares, no lease
    }
    try {
      const result = await this.tahoe.check(cap, { addLease: true, signal });
      const good = result.countSharesGood ?? 0;
      const needed = result.countSharesNeeded ?? 1;
      if (result.recoverable === false || good < needed) {
        return `only ${good} good shares of ${needed} needed were found: too few servers hold it (unrecoverable)`;
      }
      return undefined;
    } catch (error) {
      if (signal.aborted) {
        throw error;
      }
      return redactCapsInText(error instanceof Error ? error.message : String(error));
    }
  }
}
