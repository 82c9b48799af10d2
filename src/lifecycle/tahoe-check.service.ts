import { Injectable, Optional } from '@nestjs/common';
import type { JobContext } from '../admin/jobs.service';
import { MetadataStore } from '../metadata/metadata.store';
import { type InodeRecord, ROOT_INO } from '../metadata/metadata.types';
import { type CheckCounts, type InodeCheck, TahoeCheckLedger } from '../metadata/tahoe-check-ledger';
import { RiverFsMetrics } from '../metrics/riverfs-metrics.service';
import { redactCapsInText } from '../tahoe/cap.util';
import { TahoeClient } from '../tahoe/tahoe.client';
import type { CheckResults } from '../tahoe/tahoe.types';

export type { CheckCounts, InodeCheck } from '../metadata/tahoe-check-ledger';

export interface CheckTarget {
  ino: number;
  repair: boolean;
  deep: boolean;
}

/** Items listed in a job's result: the unhealthy first (the counts are always complete). */
const ITEMS_LISTED = 100;
const CONCURRENCY = 4;

function fromResults(results: CheckResults, repaired: boolean): Omit<InodeCheck, 'checkedAt'> {
  const good = results.countSharesGood ?? 0;
  const needed = results.countSharesNeeded ?? 0;
  return {
    healthy: results.healthy,
    recoverable: results.recoverable ?? good >= needed,
    sharesGood: good,
    sharesNeeded: needed,
    sharesExpected: results.countSharesExpected ?? 0,
    servers: results.countGoodShareHosts ?? 0,
    repaired,
    summary: results.summary === undefined ? null : redactCapsInText(results.summary),
  };
}

/**
 * Check and repair of files and directories in Tahoe (`t=check[&repair=true]`), per inode or down a tree, as a
 * job. The last result of each inode is kept in the database (TahoeCheckLedger), for inode inspection and the
 * unhealthy gauges, across restarts.
 */
@Injectable()
export class TahoeCheckService {
  constructor(
    private readonly store: MetadataStore,
    private readonly tahoe: TahoeClient,
    private readonly ledger: TahoeCheckLedger,
    @Optional() metrics?: RiverFsMetrics,
  ) {
    metrics?.bindChecks(() => this.counts());
  }

  lastCheck(ino: number): Promise<InodeCheck | undefined> {
    return this.ledger.lastCheck(ino);
  }

  counts(): Promise<CheckCounts> {
    return this.ledger.counts();
  }

  async run(target: CheckTarget, context: JobContext): Promise<Record<string, unknown>> {
    const inodes: InodeRecord[] = [];
    await this.collect(await this.store.getInode(target.ino), target.deep, inodes, context);
    const rootCap = target.ino === ROOT_INO ? (await this.store.getSettings()).rootCap : null;
    context.progress({ unit: 'caps', total: inodes.length, done: 0 });
    const items: ({ ino: number } & InodeCheck)[] = [];
    let done = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < inodes.length) {
        context.throwIfCancelled();
        const inode = inodes[next];
        next += 1;
        const cap = inode.writeCap ?? inode.readCap ?? (inode.ino === ROOT_INO ? rootCap : null);
        if (cap !== null && !cap.startsWith('URI:LIT:')) {
          const result = await this.checkOne(cap, target.repair, context.signal);
          await this.ledger.record(inode.ino, result);
          items.push({ ino: inode.ino, ...result });
        }
        done += 1;
        context.progress({ done });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    items.sort((a, b) => Number(a.healthy) - Number(b.healthy) || a.ino - b.ino);
    return {
      checked: items.length,
      healthy: items.filter((item) => item.healthy).length,
      unhealthy: items.filter((item) => !item.healthy).length,
      unrecoverable: items.filter((item) => !item.recoverable).length,
      repaired: items.filter((item) => item.repaired).length,
      notInTahoe: inodes.length - items.length,
      items: items
        .slice(0, ITEMS_LISTED)
        .map((item) => ({ ...item, checkedAt: new Date(item.checkedAt).toISOString() })),
    };
  }

  private async checkOne(cap: string, repair: boolean, signal: AbortSignal): Promise<InodeCheck> {
    const checkedAt = Date.now();
    try {
      if (repair) {
        const answer = await this.tahoe.checkAndRepair(cap, { signal });
        return { checkedAt, ...fromResults(answer.postRepair, answer.repairAttempted && answer.postRepair.healthy) };
      }
      return { checkedAt, ...fromResults(await this.tahoe.check(cap, { signal }), false) };
    } catch (error) {
      if (signal.aborted) {
        throw error;
      }
      const reason = redactCapsInText(error instanceof Error ? error.message : String(error));
      return {
        checkedAt,
        healthy: false,
        recoverable: false,
        sharesGood: 0,
        sharesNeeded: 0,
        sharesExpected: 0,
        servers: 0,
        repaired: false,
        summary: `check failed: ${reason}`,
      };
    }
  }

  /** The inode and, deep, everything below it (files, directories; not symlinks or devices). */
  private async collect(inode: InodeRecord, deep: boolean, into: InodeRecord[], context: JobContext): Promise<void> {
    // A hard link's inode is met once per name: checked once.
    if (
      (inode.type === 'file' || inode.type === 'dir') &&
      !into.some((known) => known.ino === inode.ino && inode.nlink > 1)
    ) {
      into.push(inode);
    }
    if (!deep || inode.type !== 'dir') {
      return;
    }
    let after = 0;
    for (;;) {
      context.throwIfCancelled();
      const page = await this.store.readdir(inode.ino, { after, limit: 500, plus: true });
      for (const entry of page.entries) {
        if (entry.inode !== undefined && entry.ino !== inode.ino) {
          await this.collect(entry.inode, true, into, context);
        }
      }
      if (page.next === null) {
        return;
      }
      after = page.next;
    }
  }
}
