import { InodeModel } from './entities';
import { readFsSetting, type SqlSideAccess, writeFsSetting } from './fs-setting.util';

/** One cap the filesystem references, in the order a renewal walks them. */
export interface ReferencedCap {
  ino: number;
  type: string;
  cap: string;
}

/**
 * Where a lease renewal stands, durable in `fs_setting` so that a restart resumes a run instead of starting over:
 * the run walks inodes by number, and `cursor` is the highest inode whose cap (and every lower one's) was handled.
 */
export interface LeaseRenewalProgress {
  /** The run in progress (ms since the epoch when it began), or null when none is. */
  runStartedAt: number | null;
  cursor: number;
  renewed: number;
  failed: number;
  /** Every cap seen by the last complete run (ms since the epoch), or null before the first. */
  lastCompleteAt: number | null;
  lastCompleteRenewed: number;
  lastCompleteFailed: number;
}

const SETTING = 'tahoe_lease_renewal';

export const NO_RENEWAL: LeaseRenewalProgress = {
  runStartedAt: null,
  cursor: 0,
  renewed: 0,
  failed: 0,
  lastCompleteAt: null,
  lastCompleteRenewed: 0,
  lastCompleteFailed: 0,
};

/**
 * The metadata side of Tahoe lease renewal: the caps to renew, in inode order, and the run's durable progress. Kept
 * out of SqlMetadataStore: it is read-only over inodes and owns one settings row.
 */
export class TahoeLeaseLedger {
  constructor(private readonly access: SqlSideAccess) {}

  /** Inodes above `afterIno` that have reached Tahoe (a cap), lowest first. */
  async capsAfter(afterIno: number, limit: number): Promise<ReferencedCap[]> {
    const { dataSource } = this.access;
    const rows = await this.access.exclusive(() =>
      dataSource
        .createQueryBuilder(InodeModel, 'i')
        .select(['i.ino', 'i.type', 'i.writeCap', 'i.readCap'])
        .where('i.ino > :afterIno', { afterIno })
        .andWhere('(i.writeCap IS NOT NULL OR i.readCap IS NOT NULL)')
        .orderBy('i.ino', 'ASC')
        .limit(limit)
        .getMany(),
    );
    return rows.map((row) => ({ ino: Number(row.ino), type: row.type, cap: (row.writeCap ?? row.readCap) as string }));
  }

  countCaps(): Promise<number> {
    const { dataSource } = this.access;
    return this.access.exclusive(() =>
      dataSource
        .createQueryBuilder(InodeModel, 'i')
        .where('(i.writeCap IS NOT NULL OR i.readCap IS NOT NULL)')
        .getCount(),
    );
  }

  async read(): Promise<LeaseRenewalProgress> {
    const value = await readFsSetting(this.access, SETTING);
    if (value === null) {
      return { ...NO_RENEWAL };
    }
    try {
      return { ...NO_RENEWAL, ...(JSON.parse(value) as Partial<LeaseRenewalProgress>) };
    } catch {
      // A row this code cannot read is progress lost, not a reason to stop renewing: start over.
      return { ...NO_RENEWAL };
    }
  }

  write(progress: LeaseRenewalProgress): Promise<void> {
    return writeFsSetting(this.access, SETTING, JSON.stringify(progress));
  }
}
