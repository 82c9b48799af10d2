import type { Clock } from './clock';
import { isStateError, StateError } from './state.errors';
import type { HeldLock, LockLease } from './state-store';

export interface LockKeeperOptions {
  clock: Clock;
  renewIntervalMs: number;
  renew(lease: LockLease): Promise<LockLease | null>;
  onRenewalError(error: unknown): void;
}

/**
 * Keeps one lease renewed while work runs under it, and decides when the holder must consider it lost.
 *
 * The lease is lost when a renewal says it is no longer held, or, when renewals keep failing (Redis
 * unreachable), as soon as the lease's own expiry has passed: the store may have let it go by then and
 * granted it to someone else, so the holder must not assume it still has it.
 */
export class LockKeeper implements HeldLock {
  private readonly controller = new AbortController();
  private current: LockLease;
  private renewTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    lease: LockLease,
    private readonly options: LockKeeperOptions,
  ) {
    this.current = lease;
  }

  get name(): string {
    return this.current.name;
  }

  get fencingToken(): number {
    return this.current.fencingToken;
  }

  get lease(): LockLease {
    return this.current;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get lost(): boolean {
    if (!this.controller.signal.aborted && this.options.clock.now() >= this.current.expiresAt) {
      // Checked here as well as by the timer, so a caller about to commit never races the timer.
      this.markLost('its lease expired before it could be renewed');
    }
    return this.controller.signal.aborted;
  }

  assertHeld(): void {
    if (this.lost) {
      throw this.controller.signal.reason as Error;
    }
  }

  start(): void {
    this.armExpiryTimer();
    this.scheduleRenewal(this.options.renewIntervalMs);
  }

  stop(reason?: StateError): void {
    this.stopped = true;
    clearTimeout(this.renewTimer);
    clearTimeout(this.expiryTimer);
    if (reason !== undefined && !this.controller.signal.aborted) {
      this.controller.abort(reason);
    }
  }

  private markLost(why: string): void {
    if (!this.controller.signal.aborted) {
      this.controller.abort(new StateError('LOCK_LOST', `lock "${this.current.name}" is no longer held: ${why}`));
    }
    clearTimeout(this.renewTimer);
    clearTimeout(this.expiryTimer);
  }

  private scheduleRenewal(delayMs: number): void {
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => void this.renewOnce(), delayMs);
    this.renewTimer.unref();
  }

  private async renewOnce(): Promise<void> {
    if (this.stopped || this.controller.signal.aborted) {
      return;
    }
    let renewed: LockLease | null;
    try {
      renewed = await this.options.renew(this.current);
    } catch (error) {
      if (this.stopped || this.controller.signal.aborted) {
        return;
      }
      if (isStateError(error, 'CLOSED')) {
        this.markLost('the state store was closed');
        return;
      }
      this.options.onRenewalError(error);
      // Retry sooner than usual: each failed try brings the lease closer to expiry.
      this.scheduleRenewal(Math.max(10, Math.floor(this.options.renewIntervalMs / 2)));
      return;
    }
    if (this.stopped || this.controller.signal.aborted) {
      return;
    }
    if (renewed === null) {
      this.markLost('the store no longer has it (expired, reaped or released)');
      return;
    }
    this.current = renewed;
    this.armExpiryTimer();
    this.scheduleRenewal(this.options.renewIntervalMs);
  }

  private armExpiryTimer(): void {
    clearTimeout(this.expiryTimer);
    const delay = Math.max(0, this.current.expiresAt - this.options.clock.now());
    this.expiryTimer = setTimeout(() => {
      if (this.stopped) {
        return;
      }
      if (this.options.clock.now() >= this.current.expiresAt) {
        this.markLost('its lease expired before it could be renewed');
      } else {
        // An injected clock may run slower than timers; look again when it could have passed.
        this.armExpiryTimer();
      }
    }, delay);
    this.expiryTimer.unref();
  }
}
