import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { MetadataStore } from '../metadata/metadata.store';
import { ROOT_INO } from '../metadata/metadata.types';
import { StateStore } from '../state/state-store';
import { GridStatusService } from '../status/grid-status.service';
import { redactCapsInText } from '../tahoe/cap.util';
import { MountStatus } from './mount-status';

/** The MountStatus readiness asks: FsOps's when a module exports one, else NoMountStatus. */
export const ACTIVE_MOUNT_STATUS = Symbol('ACTIVE_MOUNT_STATUS');

/** No check may hold a readiness probe longer than this. */
export const CHECK_TIMEOUT_MS = 3000;

function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // Connection errors can quote URLs; keep user names, hide passwords, and never show a cap.
  return redactCapsInText(text.replace(/\/\/([^:@/\s]*):[^@/\s]*@/g, '//$1:***@')).slice(0, 300);
}

async function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what} did not answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The parts readiness checks, each a terminus indicator that reports down (never throws) with a reason. */
@Injectable()
export class ReadinessIndicators {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly store: MetadataStore,
    private readonly state: StateStore,
    private readonly gridStatus: GridStatusService,
    @Inject(ACTIVE_MOUNT_STATUS) private readonly mount: MountStatus,
  ) {}

  /** The metadata database answers and holds the filesystem (its root inode). */
  async database(): Promise<HealthIndicatorResult<'database'>> {
    const indicator = this.indicators.check('database');
    try {
      await withTimeout(this.store.getInode(ROOT_INO), 'the metadata database');
      return indicator.up();
    } catch (error) {
      return indicator.down({ message: describe(error) });
    }
  }

  stateStore(): HealthIndicatorResult<'stateStore'> {
    const indicator = this.indicators.check('stateStore');
    const health = this.state.health();
    if (health.status === 'up') {
      return indicator.up({ backend: health.backend });
    }
    return indicator.down({
      backend: health.backend,
      state: health.status,
      message: `the state store is ${health.status}${health.lastError ? `: ${describe(health.lastError)}` : ''}`,
    });
  }

  /** The Tahoe node answers and enough storage servers are connected for uploads to succeed. */
  async grid(): Promise<HealthIndicatorResult<'grid'>> {
    const indicator = this.indicators.check('grid');
    try {
      const snapshot = await this.gridStatus.current({ maxAgeMs: 2000, timeoutMs: CHECK_TIMEOUT_MS });
      const details = { connected: snapshot.status.connectedCount, happy: snapshot.sharesHappy };
      return snapshot.happy
        ? indicator.up(details)
        : indicator.down({ ...details, message: `${details.connected} servers connected, ${details.happy} needed` });
    } catch (error) {
      return indicator.down({ message: describe(error) });
    }
  }

  async mountPoint(): Promise<HealthIndicatorResult<'mount'>> {
    const indicator = this.indicators.check('mount');
    if (!this.mount.expected) {
      return indicator.up({ expected: false, mounted: false });
    }
    try {
      const state = await withTimeout(Promise.resolve(this.mount.status()), 'the mount');
      return state.mounted
        ? indicator.up({ expected: true, mounted: true, mountpoint: state.mountpoint })
        : indicator.down({
            expected: true,
            mounted: false,
            mountpoint: state.mountpoint,
            message: state.detail ?? 'not mounted',
          });
    } catch (error) {
      return indicator.down({ expected: true, mounted: false, message: describe(error) });
    }
  }
}
