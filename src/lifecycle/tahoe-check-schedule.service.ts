import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { type JobSnapshot, JobsService } from '../admin/jobs.service';
import { RIVERFS_CONFIG } from '../config/config.module';
import type { RiverFsConfig } from '../config/config.schema';
import { ROOT_INO } from '../metadata/metadata.types';
import { TahoeCheckLedger } from '../metadata/tahoe-check-ledger';
import { TahoeCheckService } from './tahoe-check.service';

export const CHECK_JOB = 'check';
/** How often the schedule looks whether a deep check is due (at most; sooner for a short interval). */
const SCHEDULE_TICK_MS = 60_000;

/**
 * The deep check on a schedule (`--tahoe-check-interval`, off by default): every interval, a `check` job over the
 * whole tree from the root, repairing when `--tahoe-check-repair` says so. When the last one ended is kept in the
 * database (TahoeCheckLedger), so a restart does not bring the next one forward; before the first, the first comes
 * one interval after the start. A run cut by a shutdown is run whole again when next due (each inode's result is
 * kept as it comes, so nothing checked is lost).
 */
@Injectable()
export class TahoeCheckScheduleService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('CheckSchedule');
  private current: JobSnapshot | undefined;
  private timer: NodeJS.Timeout | undefined;
  private bootedAt = Date.now();

  constructor(
    private readonly checks: TahoeCheckService,
    private readonly ledger: TahoeCheckLedger,
    private readonly jobs: JobsService,
    @Inject(RIVERFS_CONFIG) private readonly config: RiverFsConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.bootedAt = Date.now();
    const intervalMs = this.config.tahoeCheckInterval * 1000;
    if (intervalMs > 0) {
      this.timer = setInterval(() => void this.tick(), Math.min(SCHEDULE_TICK_MS, intervalMs));
      this.timer.unref();
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    if (this.current !== undefined && this.running()) {
      this.jobs.cancel(this.current.id);
    }
  }

  private running(): boolean {
    return this.jobs.isRunning(this.current?.id);
  }

  private async tick(): Promise<void> {
    if (this.running()) {
      return;
    }
    try {
      const last = (await this.ledger.lastScheduledCheckAt()) ?? this.bootedAt;
      if (Date.now() - last >= this.config.tahoeCheckInterval * 1000) {
        this.start();
      }
    } catch (error) {
      this.logger.warn(`check schedule: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private start(): void {
    const target = { ino: ROOT_INO, deep: true, repair: this.config.tahoeCheckRepair };
    this.current = this.jobs.start(CHECK_JOB, { ...target, scheduled: true }, async (context) => {
      const result = await this.checks.run(target, context);
      await this.ledger.recordScheduledCheck(Date.now());
      const unhealthy = Number(result.unhealthy);
      const summary =
        `scheduled deep check: ${String(result.checked)} caps, ${unhealthy} unhealthy` +
        (target.repair ? `, ${String(result.repaired)} repaired` : '');
      if (unhealthy > 0) {
        this.logger.warn(summary);
      } else {
        this.logger.log(summary);
      }
      return result;
    });
  }
}
