import type { InodeModel } from './entities';
import type { Timespec } from './metadata.types';
import type { SqlConnection } from './sql-driver';

/** How long an access time may wait in memory before it is written (with every other one waiting then). */
export const DEFAULT_ATIME_FLUSH_MS = 30_000;

/**
 * Access times kept in memory and written in batches, as Linux's `lazytime` does: reading a file or listing a
 * directory (relatime's update, SetAttrChanges.accessOnly) never opens a write transaction. The times are written by
 * a timer, by `persist(ino)` (fsync of the inode), by `persistAll()` (unmount), and by any transaction that writes the
 * inode's row anyway (it carries the time loaded with the row). Every read of the store shows them (`overlay`).
 *
 * What a crash of RiverFS loses is the access times of the last interval, never anything else: atime is not
 * published to Tahoe and marks nothing dirty. Another gateway on the same database sees them once written.
 */
export class LazyAtimes {
  /** The newest access time of each inode whose time is not written yet. */
  private readonly pending = new Map<number, Timespec>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    /** Runs one write transaction (the store's, with its retries and its one-at-a-time rule on SQLite). */
    private readonly write: (op: string, body: (sql: SqlConnection) => Promise<void>) => Promise<void>,
    private readonly flushMs: number = DEFAULT_ATIME_FLUSH_MS,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** Records an access; the returned time is what reads show from now on. */
  defer(ino: number, atime: Timespec): void {
    this.pending.set(ino, atime);
    // unref: a pending access time never keeps a process alive (close() writes what is left).
    this.timer ??= setTimeout(() => this.onTimer(), this.flushMs).unref();
  }

  /** Puts the pending access time, if any, on a row just read. Returns the time applied, for `written`. */
  overlay(row: InodeModel): Timespec | undefined {
    const atime = this.pending.get(row.ino);
    if (atime !== undefined) {
      row.atimeSec = atime.sec;
      row.atimeNsec = atime.nsec;
    }
    return atime;
  }

  /**
   * A committed transaction wrote the row whose pending time was `seen` when it was loaded: the database holds that
   * time now, or one the transaction set on purpose (utimens). Kept if a newer access came meanwhile.
   */
  written(ino: number, seen: Timespec | undefined): void {
    if (seen !== undefined && this.pending.get(ino) === seen) {
      this.pending.delete(ino);
    }
  }

  /** The inode is gone: nothing to write. */
  forget(ino: number): void {
    this.pending.delete(ino);
  }

  /** Writes the inode's pending access time (fsync). */
  async persist(ino: number): Promise<void> {
    if (this.pending.has(ino)) {
      await this.flush([ino]);
    }
  }

  /** Writes every pending access time (unmount, and the timer). */
  async persistAll(): Promise<void> {
    this.stopTimer();
    if (this.pending.size > 0) {
      await this.flush([...this.pending.keys()]);
    }
  }

  stopTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private onTimer(): void {
    this.timer = null;
    // A failed batch stays pending and is tried again at the next access, fsync or unmount: an access time is
    // never worth failing or logging an operation for (relatime updates were best-effort before too).
    this.persistAll().catch(() => undefined);
  }

  private async flush(inos: number[]): Promise<void> {
    const batch = inos.flatMap((ino) => {
      const atime = this.pending.get(ino);
      return atime === undefined ? [] : [{ ino, atime }];
    });
    // In inode order, as every other transaction locks rows, so that a batch never deadlocks with one of them.
    batch.sort((a, b) => a.ino - b.ino);
    await this.write('persistAccessTimes', async (sql) => {
      for (const { ino, atime } of batch) {
        await sql.run('UPDATE inode SET atime_sec = ?, atime_nsec = ? WHERE ino = ?', [atime.sec, atime.nsec, ino]);
      }
    });
    for (const { ino, atime } of batch) {
      this.written(ino, atime);
    }
  }
}
