import os from 'node:os';
import path from 'node:path';
import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { liveProcessArgs } from '../grid/process.util';
import { ensureDataDirectoryId } from './data-directory-id';
import { dialectOf, openDataSource, runMigrations } from './data-source';
import {
  describeHolder,
  type LeaseClaim,
  type LeaseHolder,
  readLeaseHolder,
  releaseLease,
  renewLease,
  tryAcquireLease,
} from './filesystem-lease';

/** A mount refused because another gateway holds the filesystem lease. */
export class FilesystemLeaseHeldError extends Error {
  constructor(readonly holder: LeaseHolder) {
    super(
      `the filesystem in this database is mounted by another gateway (${describeHolder(holder)}); ` +
        'one gateway per database until several gateways are supported: stop that one, or wait until its lease ' +
        `expires (${new Date(holder.expiresAt).toISOString()} unless it renews it)`,
    );
    this.name = 'FilesystemLeaseHeldError';
  }
}

export interface FilesystemLeaseKeeperOptions {
  db: string;
  dataDir: string;
  ttlMs: number;
  /** Heartbeat period (default a quarter of the TTL, so three beats in a row may fail). */
  intervalMs?: number;
}

/** Attempts at a lease that is free but changes under us (expired, then taken by another starter). */
const ACQUIRE_ATTEMPTS = 3;
/** SQLite: attempts of one renewal that found the database locked, and the pause before the next one. */
const BUSY_ATTEMPTS = 10;
const BUSY_PAUSE_MS = 100;
/** Longest a release may take: a database that does not answer must not keep a stopping gateway alive. */
const RELEASE_TIMEOUT_MS = 5_000;

function isSqliteBusy(error: unknown): boolean {
  return /SQLITE_BUSY|database is locked/.test(String((error as Error)?.message ?? error));
}

/**
 * Another live `riverfs` process on this host started from the same data directory: a takeover "from the same data
 * directory" is meant for a restart after a crash, not for two processes sharing one cache.
 */
function isLiveSibling(holder: LeaseHolder): boolean {
  if (holder.host !== os.hostname() || holder.pid === process.pid) {
    return false;
  }
  const args = liveProcessArgs(holder.pid);
  return args !== undefined && args.some((arg) => arg.includes('riverfs'));
}

/**
 * Holds the filesystem lease for a mounting gateway (one gateway per database until several gateways are supported:
 * two gateways on one database each took the other's dirty inodes for their own). Beside the gateway sessions rather
 * than one of them: sessions are many by design (open handles, locks of several gateways) and stay when the lease
 * goes; the lease is taken before the application exists (a refused mount starts nothing: no grid, no sync worker)
 * and released after it closed (the last uploads run under it). It keeps a connection of its own for the same reason.
 */
export class FilesystemLeaseKeeper {
  private readonly logger = new Logger('FilesystemLease');
  private readonly timer: NodeJS.Timeout;
  private inFlight: Promise<void> | null = null;
  private lost = false;
  private released: Promise<void> | null = null;
  private readonly lostListeners: ((reason: string) => void)[] = [];

  private constructor(
    private readonly dataSource: DataSource,
    private readonly token: string,
    readonly claim: LeaseClaim,
    private readonly ttlMs: number,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => void this.beat(), intervalMs);
    this.timer.unref();
  }

  /** Takes the lease or throws FilesystemLeaseHeldError naming the holder. Applies pending migrations first. */
  static async acquire(options: FilesystemLeaseKeeperOptions): Promise<FilesystemLeaseKeeper> {
    const intervalMs = options.intervalMs ?? Math.floor(options.ttlMs / 4);
    if (!(intervalMs > 0 && intervalMs * 2 <= options.ttlMs)) {
      throw new Error(`filesystem lease: a heartbeat every ${intervalMs} ms does not keep a ${options.ttlMs} ms lease`);
    }
    const claim: LeaseClaim = {
      dataDirId: ensureDataDirectoryId(options.dataDir),
      host: os.hostname(),
      pid: process.pid,
      dataDir: path.resolve(options.dataDir),
    };
    // Two connections: runMigrations holds a named lock on one (MySQL) while it migrates on the other.
    const dataSource = await openDataSource(options.db, { poolSize: 2 });
    try {
      const applied = await runMigrations(dataSource);
      if (applied.length > 0) {
        new Logger('MetadataModule').log(`Applied ${applied.length} migration(s): ${applied.join(', ')}`);
      }
      for (let attempt = 1; ; attempt += 1) {
        const current = await readLeaseHolder(dataSource, Date.now());
        if (current !== null && current.dataDirId === claim.dataDirId && isLiveSibling(current)) {
          throw new FilesystemLeaseHeldError(current);
        }
        const result = await tryAcquireLease(dataSource, claim, { nowMs: Date.now(), ttlMs: options.ttlMs });
        if (result.acquired) {
          if (dialectOf(dataSource) === 'sqlite') {
            // From now on the gateway's own connection writes to this file too, from this event loop: SQLite's busy
            // handler would sleep synchronously, holding up the very transaction it waits for. Fail fast and retry
            // after a pause instead (renew()).
            await dataSource.query('PRAGMA busy_timeout = 0');
          }
          return new FilesystemLeaseKeeper(dataSource, result.token, claim, options.ttlMs, intervalMs);
        }
        if (result.holder !== null || attempt >= ACQUIRE_ATTEMPTS) {
          throw new FilesystemLeaseHeldError(
            result.holder ?? { ...claim, host: '?', pid: 0, dataDir: '?', since: 0, renewedAt: 0, expiresAt: 0 },
          );
        }
      }
    } catch (error) {
      await dataSource.destroy();
      throw error;
    }
  }

  /** False once another gateway took the lease over (this one missed its heartbeats for longer than the TTL). */
  get held(): boolean {
    return !this.lost && this.released === null;
  }

  /**
   * Called once when another gateway took the lease over. The mount stops then: two gateways serving one database
   * is what the lease exists to prevent, and this one can no longer tell which of its cached facts are still true.
   */
  onLost(listener: (reason: string) => void): void {
    this.lostListeners.push(listener);
  }

  /** One renewal; never rejects. A beat that finds the previous one still running joins it. */
  beat(): Promise<void> {
    this.inFlight ??= this.renew().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async renew(): Promise<void> {
    if (this.lost || this.released !== null) {
      return;
    }
    try {
      if (
        await this.retryWhileBusy(() =>
          renewLease(this.dataSource, this.token, { nowMs: Date.now(), ttlMs: this.ttlMs }),
        )
      ) {
        return;
      }
      this.lost = true;
      const holder = await readLeaseHolder(this.dataSource, Date.now()).catch(() => null);
      const reason =
        `this gateway lost the filesystem lease (its heartbeats stopped for longer than ${this.ttlMs / 1000} s)` +
        (holder === null ? '' : ` to ${describeHolder(holder)}`);
      this.logger.error(
        `${reason.charAt(0).toUpperCase()}${reason.slice(1)}: stopping; its dirty files stay in its cache and ` +
          'only it uploads them',
      );
      for (const listener of this.lostListeners) {
        listener(reason);
      }
    } catch (error) {
      this.logger.warn(`Renewing the filesystem lease failed, retrying: ${(error as Error).message}`);
    }
  }

  private async retryWhileBusy<T>(statement: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await statement();
      } catch (error) {
        if (!isSqliteBusy(error) || attempt >= BUSY_ATTEMPTS) {
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, BUSY_PAUSE_MS));
      }
    }
  }

  /** Stops the heartbeat, frees the lease (if still ours) and closes the connection. Idempotent. */
  release(): Promise<void> {
    if (this.released === null) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.logger.error(
            `Releasing the filesystem lease took longer than ${RELEASE_TIMEOUT_MS / 1000} s; giving up (it expires ` +
              `in at most ${this.ttlMs / 1000} s)`,
          );
          resolve();
        }, RELEASE_TIMEOUT_MS);
        timer.unref();
      });
      this.released = Promise.race([this.doRelease(), deadline]).finally(() => clearTimeout(timer));
    }
    return this.released;
  }

  private async doRelease(): Promise<void> {
    clearInterval(this.timer);
    await this.inFlight;
    try {
      await this.retryWhileBusy(() => releaseLease(this.dataSource, this.token, Date.now()));
    } catch (error) {
      this.logger.error(
        `Releasing the filesystem lease failed (it expires in at most ${this.ttlMs / 1000} s): ${(error as Error).message}`,
      );
    } finally {
      await this.dataSource.destroy();
    }
  }
}
