import { randomBytes } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { FILESYSTEM_LEASE_NAME, FilesystemLeaseModel } from './entities';
import { retryTransient } from './metadata-txn.util';

/** Who asks for the lease: the gateway's host, process and data directory (its id decides, the path informs). */
export interface LeaseClaim {
  dataDirId: string;
  host: string;
  pid: number;
  dataDir: string;
}

/** The gateway that holds the lease, as recorded in the database. */
export interface LeaseHolder extends LeaseClaim {
  /** When it took the lease (ms since the epoch). */
  since: number;
  renewedAt: number;
  expiresAt: number;
}

export type LeaseAttempt = { acquired: true; token: string } | { acquired: false; holder: LeaseHolder | null };

/** The lease's rows and statements; every decision is one conditional UPDATE, atomic on SQLite and MySQL alike. */
type Db = DataSource | EntityManager;

/** "host example, pid 123, data directory /var/lib/riverfs, since 2026-12-06T04:00:00.000Z" */
export function describeHolder(holder: LeaseHolder): string {
  return (
    `host ${holder.host}, pid ${holder.pid}, data directory ${holder.dataDir}, ` +
    `since ${new Date(holder.since).toISOString()}`
  );
}

/** The current holder, or null when the lease is free (never taken, released, or expired at `nowMs`). */
export async function readLeaseHolder(db: Db, nowMs: number): Promise<LeaseHolder | null> {
  const row = await db
    .createQueryBuilder(FilesystemLeaseModel, 'l')
    .where('l.name = :name', { name: FILESYSTEM_LEASE_NAME })
    .getOne();
  if (row === null || row.token === null || row.expiresAt <= nowMs) {
    return null;
  }
  return {
    dataDirId: row.dataDirId ?? '',
    host: row.host ?? '?',
    pid: row.pid ?? 0,
    dataDir: row.dataDir ?? '?',
    since: row.since ?? 0,
    renewedAt: row.renewedAt,
    expiresAt: row.expiresAt,
  };
}

/**
 * Takes the lease when it is free (never taken, released, expired) or already held by the same data directory (a
 * restart after kill -9 must not wait out its own dead lease). Two claimants at the same instant cannot both win:
 * the row exists before either decides (INSERT … IGNORE), and the one UPDATE that decides re-checks its condition
 * on the latest committed row (InnoDB row lock; SQLite's single writer). The count of rows it changed says who won:
 * each attempt writes a fresh random token, so even MySQL (which counts only rows actually changed) reports 1.
 * Claimants inserting the missing row at once can deadlock on InnoDB's gap locks; the victim simply tries again.
 */
export function tryAcquireLease(
  db: Db,
  claim: LeaseClaim,
  options: { nowMs: number; ttlMs: number },
): Promise<LeaseAttempt> {
  return retryTransient(() => attemptLease(db, claim, options));
}

async function attemptLease(
  db: Db,
  claim: LeaseClaim,
  options: { nowMs: number; ttlMs: number },
): Promise<LeaseAttempt> {
  await db
    .createQueryBuilder()
    .insert()
    .into(FilesystemLeaseModel)
    .values({ name: FILESYSTEM_LEASE_NAME, renewedAt: 0, expiresAt: 0 })
    .orIgnore()
    .execute();
  const token = randomBytes(16).toString('hex');
  const { nowMs, ttlMs } = options;
  const result = await db
    .createQueryBuilder()
    .update(FilesystemLeaseModel)
    .set({ ...claim, token, since: nowMs, renewedAt: nowMs, expiresAt: nowMs + ttlMs })
    .where('name = :name', { name: FILESYSTEM_LEASE_NAME })
    .andWhere('(token IS NULL OR expires_at <= :nowMs OR data_dir_id = :dataDirId)', {
      nowMs,
      dataDirId: claim.dataDirId,
    })
    .execute();
  if (result.affected === 1) {
    return { acquired: true, token };
  }
  return { acquired: false, holder: await readLeaseHolder(db, nowMs) };
}

/**
 * Moves the expiry ahead while the lease is still this acquisition's (its token). False when it is not: another
 * gateway took it over (this one missed its beats past the TTL, or a second process started from this data
 * directory).
 */
export async function renewLease(db: Db, token: string, options: { nowMs: number; ttlMs: number }): Promise<boolean> {
  const result = await db
    .createQueryBuilder()
    .update(FilesystemLeaseModel)
    .set({ renewedAt: options.nowMs, expiresAt: options.nowMs + options.ttlMs })
    .where('name = :name', { name: FILESYSTEM_LEASE_NAME })
    .andWhere('token = :token', { token })
    .execute();
  if (result.affected === 1) {
    return true;
  }
  // MySQL counts only rows it changed: a renewal within the same millisecond as the last one changes nothing.
  const row = await db
    .createQueryBuilder(FilesystemLeaseModel, 'l')
    .where('l.name = :name', { name: FILESYSTEM_LEASE_NAME })
    .getOne();
  return row?.token === token && row.expiresAt === options.nowMs + options.ttlMs;
}

/** Frees the lease if this acquisition still holds it; the holder's description stays for operators. */
export async function releaseLease(db: Db, token: string, nowMs: number): Promise<boolean> {
  const result = await db
    .createQueryBuilder()
    .update(FilesystemLeaseModel)
    .set({ token: null, renewedAt: nowMs, expiresAt: 0 })
    .where('name = :name', { name: FILESYSTEM_LEASE_NAME })
    .andWhere('token = :token', { token })
    .execute();
  return result.affected === 1;
}
