import os from 'node:os';
import { Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { packageVersion } from '../cli/package-version';
import { boundedStep, SHUTDOWN_STEP_MS } from '../common/lifecycle/bounded-step';
import type { MetadataStore } from './metadata.store';
import { DEFAULT_SESSION_TTL_MS } from './metadata.types';

/** Heartbeat period: a fifth of the default session TTL (60 s), so four beats in a row may fail. */
export const SESSION_HEARTBEAT_MS = 12_000;

export interface MetadataSessionOptions {
  /** Where this gateway mounts the filesystem, recorded in the session for operators. */
  mountpoint?: string;
  /** RiverFS version recorded in the session (default: the package version). */
  version?: string;
  /** Period of heartbeats and of reaping other gateways' expired sessions (default 12 s). */
  intervalMs?: number;
  /** How long the session survives without a heartbeat (default: the store's, 60 s). */
  ttlMs?: number;
}

/**
 * Keeps this gateway's session in the metadata database for as long as the application runs: opens it at
 * bootstrap (open handles are tracked against it), heartbeats it, reaps the sessions of gateways that died
 * (freeing the unlinked inodes only they kept open), and closes it at shutdown. Failures on the timer are
 * logged and tried again on the next beat: a database blip must not take the gateway down, and the session
 * survives several missed beats (a reaped one is re-registered by the next heartbeat).
 */
export class MetadataSessionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MetadataSessionService.name);
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private lastBeatAt = 0;
  private sid: number | null = null;

  constructor(
    private readonly store: MetadataStore,
    private readonly options: MetadataSessionOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? SESSION_HEARTBEAT_MS;
    const ttlMs = options.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    // With fewer than two beats per TTL one late beat lets another gateway reap this live session and
    // free the unlinked files it still has open.
    if (!(this.intervalMs > 0 && this.intervalMs * 2 <= ttlMs)) {
      throw new Error(
        `metadata session: a heartbeat every ${this.intervalMs} ms does not keep a ${ttlMs} ms session alive ` +
          '(at most half the TTL)',
      );
    }
  }

  /** The id of this gateway's session; null before bootstrap and after shutdown. */
  get sessionId(): number | null {
    return this.sid;
  }

  async onApplicationBootstrap(): Promise<void> {
    // Not caught: a gateway that cannot register itself must not start serving handles.
    this.sid = await this.store.openSession(
      {
        host: os.hostname(),
        pid: process.pid,
        ...(this.options.mountpoint === undefined ? {} : { mountpoint: this.options.mountpoint }),
        version: this.options.version ?? packageVersion(),
      },
      this.options.ttlMs === undefined ? {} : { ttlMs: this.options.ttlMs },
    );
    this.lastBeatAt = Date.now();
    this.logger.log(`Metadata session ${this.sid} opened`);
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    // A pending heartbeat must never be what keeps the process alive.
    this.timer.unref();
  }

  /**
   * One heartbeat and one reap. Never rejects. A tick that finds the previous one still running (a stalled
   * database) joins it instead of piling another transaction on top.
   */
  tick(): Promise<void> {
    this.inFlight ??= this.beat().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async beat(): Promise<void> {
    try {
      await this.store.heartbeat();
      this.lastBeatAt = Date.now();
    } catch (error) {
      const silentS = Math.round((Date.now() - this.lastBeatAt) / 1000);
      this.logger.warn(
        `Metadata session heartbeat failed (last success ${silentS} s ago), retrying in ` +
          `${Math.round(this.intervalMs / 1000)} s: ${(error as Error).message}`,
      );
    }
    try {
      const freed = await this.store.reapExpiredSessions();
      if (freed.length > 0) {
        this.logger.log(`Reaped expired gateway sessions, freeing ${freed.length} unlinked inode(s)`);
      }
    } catch (error) {
      this.logger.warn(`Reaping expired gateway sessions failed, retrying later: ${(error as Error).message}`);
    }
  }

  /**
   * Runs before MetadataModule's own shutdown hook (Nest calls a module's providers before the module) and
   * so before the connection closes. The heartbeat runs up to here: other modules' shutdown hooks may take
   * long (flushing uploads) while their open handles still need the session.
   */
  onApplicationShutdown(): Promise<void> {
    this.stopping ??= this.stop();
    return this.stopping;
  }

  private async stop(): Promise<void> {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    // Bounded: with the database unreachable a beat or the close may hang, and the shutdown must go on.
    const closed = await boundedStep(
      `closing metadata session ${this.sid}`,
      SHUTDOWN_STEP_MS,
      this.logger,
      async () => {
        await this.inFlight;
        await this.store.closeSession();
      },
    );
    if (closed.ok && this.sid !== null) {
      this.logger.log(`Metadata session ${this.sid} closed`);
    }
    this.sid = null;
  }
}
