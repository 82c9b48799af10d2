import { toRecord } from './inode-record.util';
import { GatewaySessionModel, type InodeModel, SustainedInodeModel } from './entities';
import { toMs } from './metadata-txn.util';
import {
  DEFAULT_SESSION_TTL_MS,
  type InodeRecord,
  type ReleaseResult,
  type SessionInfo,
  type SessionOptions,
} from './metadata.types';
import { type SqlTxnKit } from './sql-txn-kit';
import { num, type Tx } from './sql-store.util';

/** Gateway sessions and the open handles they keep alive (part of SqlMetadataStore). */
export class SqlSessions {
  constructor(private readonly kit: SqlTxnKit) {}

  async openSession(info: SessionInfo, options: SessionOptions = {}): Promise<number> {
    if (this.kit.session !== null) {
      throw new Error(`a session (${this.kit.session.sid}) is already open`);
    }
    const ttlMs = options.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    const sid = await this.kit.write('openSession', async (tx) => {
      const nowMs = toMs(tx.now);
      const result = await tx.manager
        .createQueryBuilder()
        .insert()
        .into(GatewaySessionModel)
        .values({ info: JSON.stringify(info), startedAt: nowMs, heartbeatAt: nowMs, expiresAt: nowMs + ttlMs })
        .execute();
      return num((result.identifiers[0] as { sid: unknown }).sid);
    });
    this.kit.session = { sid, info, ttlMs };
    return sid;
  }

  async heartbeat(): Promise<void> {
    const session = this.kit.requireSession();
    await this.kit.write('heartbeat', async (tx) => {
      const nowMs = toMs(tx.now);
      const updated = await tx.manager
        .createQueryBuilder()
        .update(GatewaySessionModel)
        .set({ heartbeatAt: nowMs, expiresAt: nowMs + session.ttlMs })
        .where('sid = :sid', { sid: session.sid })
        .execute();
      if (updated.affected) {
        return;
      }
      // Reaped by another gateway while we were stalled: come back under the same id. Inodes we kept
      // open may have been freed by the reaper; those still present are kept again.
      await tx.manager
        .createQueryBuilder()
        .insert()
        .into(GatewaySessionModel)
        .values({
          sid: session.sid,
          info: JSON.stringify(session.info),
          startedAt: nowMs,
          heartbeatAt: nowMs,
          expiresAt: nowMs + session.ttlMs,
        })
        .execute();
      const kept = await this.kit.lockInodes(tx, [...this.kit.sustainedHere]);
      for (const ino of kept.keys()) {
        await tx.manager
          .createQueryBuilder()
          .insert()
          .into(SustainedInodeModel)
          .values({ sid: session.sid, ino })
          .execute();
      }
    });
  }

  async closeSession(): Promise<void> {
    const session = this.kit.session;
    if (session === null) {
      return;
    }
    await this.kit.write('closeSession', async (tx) => {
      await this.freeSessions(tx, [session.sid]);
    });
    this.kit.session = null;
    this.kit.sustainedHere.clear();
    this.kit.openCounts.clear();
  }

  async reapExpiredSessions(): Promise<number[]> {
    return await this.kit.write('reapExpiredSessions', async (tx) => {
      const expired = await tx.manager
        .createQueryBuilder(GatewaySessionModel, 's')
        .where('s.expiresAt < :now', { now: toMs(tx.now) })
        .andWhere('s.sid <> :mine', { mine: this.kit.session?.sid ?? 0 })
        .getMany();
      return this.freeSessions(
        tx,
        expired.map((session) => session.sid),
      );
    });
  }

  /** Deletes sessions and every inode that only they kept alive; returns those inodes. */
  private async freeSessions(tx: Tx, sids: number[]): Promise<number[]> {
    if (sids.length === 0) {
      return [];
    }
    const held = await tx.manager
      .createQueryBuilder(SustainedInodeModel, 's')
      .where('s.sid IN (:...sids)', { sids })
      .getMany();
    const rows =
      held.length > 0
        ? await this.kit.lockInodes(
            tx,
            held.map((row) => row.ino),
          )
        : new Map<number, InodeModel>();
    await tx.manager
      .createQueryBuilder()
      .delete()
      .from(GatewaySessionModel)
      .where('sid IN (:...sids)', { sids })
      .execute();
    const freed: number[] = [];
    for (const row of rows.values()) {
      const others = await tx.manager
        .createQueryBuilder(SustainedInodeModel, 's')
        .where('s.ino = :ino', { ino: row.ino })
        .getCount();
      if (row.nlink === 0 && others === 0) {
        await this.kit.deleteInode(tx, row.ino);
        freed.push(row.ino);
      }
    }
    return freed;
  }

  // ---- open handles ----------------------------------------------------------------------------------------

  async open(ino: number): Promise<InodeRecord> {
    this.kit.requireSession();
    // Counted before the inode is read: an unlink that commits after this point sees the handle and
    // keeps the inode; one that committed before makes the read below fail.
    this.kit.openCounts.set(ino, (this.kit.openCounts.get(ino) ?? 0) + 1);
    return await this.kit
      .readSql(async (sql) => {
        if (this.kit.dialect === 'mysql') {
          // A locking read waits for an unlink of this inode that is still in flight to commit, so a
          // handle is never granted on an inode that transaction is about to free.
          await sql.all('SELECT ino FROM inode WHERE ino = ? FOR UPDATE', [ino]);
        }
        return toRecord(await this.kit.inodeOrThrow(sql, ino));
      })
      .catch((error: unknown) => {
        this.forgetHandle(ino);
        throw error;
      });
  }

  /**
   * SQLite: the handle is counted and the row the create returned is the row (one gateway per database, and the
   * kernel keeps the directory locked from the create to its open, so no unlink came between). MySQL reads it with
   * its lock as `open` does: another gateway may unlink the name the moment the create commits.
   */
  async openCreated(created: InodeRecord): Promise<InodeRecord> {
    if (this.kit.dialect === 'mysql') {
      return await this.open(created.ino);
    }
    this.kit.requireSession();
    this.kit.openCounts.set(created.ino, (this.kit.openCounts.get(created.ino) ?? 0) + 1);
    return created;
  }

  private forgetHandle(ino: number): number {
    const left = (this.kit.openCounts.get(ino) ?? 0) - 1;
    if (left > 0) {
      this.kit.openCounts.set(ino, left);
    } else {
      this.kit.openCounts.delete(ino);
    }
    return Math.max(left, 0);
  }

  async release(ino: number): Promise<ReleaseResult> {
    if (this.forgetHandle(ino) > 0 || !this.kit.sustainedHere.has(ino)) {
      return { freed: false };
    }
    const session = this.kit.requireSession();
    return await this.kit.write('release', async (tx) => {
      if ((this.kit.openCounts.get(ino) ?? 0) > 0) {
        // Opened again (through /proc/…/fd) while this release waited for its turn.
        return { freed: false };
      }
      const row = (await this.kit.lockInodes(tx, [ino])).get(ino);
      tx.afterCommit.push(() => this.kit.sustainedHere.delete(ino));
      if (row === undefined) {
        return { freed: false };
      }
      await tx.manager
        .createQueryBuilder()
        .delete()
        .from(SustainedInodeModel)
        .where('sid = :sid', { sid: session.sid })
        .andWhere('ino = :ino', { ino })
        .execute();
      const others = await tx.manager
        .createQueryBuilder(SustainedInodeModel, 's')
        .where('s.ino = :ino', { ino })
        .getCount();
      if (row.nlink > 0 || others > 0) {
        return { freed: false };
      }
      await this.kit.deleteInode(tx, ino);
      return { freed: true };
    });
  }
}
