import { InodeModel, TahoeCheckResultModel } from './entities';
import { readFsSetting, type SqlSideAccess, writeFsSetting } from './fs-setting.util';

/** The last check of an inode's cap in Tahoe. */
export interface InodeCheck {
  /** ms since the epoch */
  checkedAt: number;
  healthy: boolean;
  recoverable: boolean;
  sharesGood: number;
  sharesNeeded: number;
  sharesExpected: number;
  servers: number;
  repaired: boolean;
  summary: string | null;
}

export interface CheckCounts {
  unhealthy: number;
  unrecoverable: number;
  checked: number;
}

/** The `fs_setting` row holding when the last scheduled deep check ended (ms since the epoch). */
const SCHEDULED_CHECK_SETTING = 'tahoe_check_scheduled';

/** The columns a new result overwrites (all but the key), as named in tahoe-check-result.entity.ts. */
const RESULT_COLUMNS = [
  'checked_at',
  'healthy',
  'recoverable',
  'shares_good',
  'shares_needed',
  'shares_expected',
  'servers',
  'repaired',
  'summary',
];

function fromRow(row: TahoeCheckResultModel): InodeCheck {
  return {
    checkedAt: row.checkedAt,
    healthy: Boolean(row.healthy),
    recoverable: Boolean(row.recoverable),
    sharesGood: row.sharesGood,
    sharesNeeded: row.sharesNeeded,
    sharesExpected: row.sharesExpected,
    servers: row.servers,
    repaired: Boolean(row.repaired),
    summary: row.summary,
  };
}

/**
 * The last check result of each inode, durable in `tahoe_check_result` so that inode inspection and the unhealthy
 * gauges say the same after a restart, and when the scheduled deep check last ran. Kept out of SqlMetadataStore: it
 * owns one table nothing else reads, and one settings row.
 */
export class TahoeCheckLedger {
  constructor(private readonly access: SqlSideAccess) {}

  /** Replaces the inode's last result; an inode removed while it was being checked is skipped, not an error. */
  async record(ino: number, check: InodeCheck): Promise<void> {
    try {
      await this.access.exclusive(() =>
        this.access.dataSource
          .createQueryBuilder()
          .insert()
          .into(TahoeCheckResultModel)
          .values({ ino, ...check })
          .orUpdate(RESULT_COLUMNS, ['ino'])
          .execute(),
      );
    } catch (error) {
      if (await this.inodeExists(ino)) {
        throw error;
      }
    }
  }

  async lastCheck(ino: number): Promise<InodeCheck | undefined> {
    const row = await this.access.exclusive(() =>
      this.access.dataSource.createQueryBuilder(TahoeCheckResultModel, 'r').where('r.ino = :ino', { ino }).getOne(),
    );
    return row === null ? undefined : fromRow(row);
  }

  async counts(): Promise<CheckCounts> {
    // Literal 0/1 rather than bound booleans: SQLite's driver binds no booleans, and both dialects store 0/1.
    const raw = await this.access.exclusive(() =>
      this.access.dataSource
        .createQueryBuilder(TahoeCheckResultModel, 'r')
        .select('COUNT(*)', 'checked')
        .addSelect('SUM(CASE WHEN r.healthy = 0 THEN 1 ELSE 0 END)', 'unhealthy')
        .addSelect('SUM(CASE WHEN r.recoverable = 0 THEN 1 ELSE 0 END)', 'unrecoverable')
        .getRawOne<{ checked: unknown; unhealthy: unknown; unrecoverable: unknown }>(),
    );
    // MySQL answers SUM as a decimal string, and SUM over no rows is NULL in both.
    return {
      checked: Number(raw?.checked ?? 0),
      unhealthy: Number(raw?.unhealthy ?? 0),
      unrecoverable: Number(raw?.unrecoverable ?? 0),
    };
  }

  /** When the last scheduled deep check ran to its end (ms since the epoch), or null before the first. */
  async lastScheduledCheckAt(): Promise<number | null> {
    const value = await readFsSetting(this.access, SCHEDULED_CHECK_SETTING);
    const at = value === null ? NaN : Number(value);
    // A value this code cannot read counts as no check: the next one comes a period after the start.
    return Number.isFinite(at) ? at : null;
  }

  async recordScheduledCheck(at: number): Promise<void> {
    await writeFsSetting(this.access, SCHEDULED_CHECK_SETTING, String(at));
  }

  private async inodeExists(ino: number): Promise<boolean> {
    const count = await this.access.exclusive(() =>
      this.access.dataSource.createQueryBuilder(InodeModel, 'i').where('i.ino = :ino', { ino }).getCount(),
    );
    return count > 0;
  }
}
