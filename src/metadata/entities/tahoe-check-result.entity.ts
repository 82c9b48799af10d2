import { EntitySchema } from 'typeorm';
import { bigint, columnTypes, type SqlDialect } from './column-types';

/**
 * One row of `tahoe_check_result`: the last check (and repair) of inode `ino`'s cap in Tahoe. Kept apart from
 * `inode` because it is written by a background job at its own pace and read only by operators (inspection,
 * /metrics); it goes with its inode (cascade).
 */
export class TahoeCheckResultModel {
  ino!: number;
  /** ms since the epoch */
  checkedAt!: number;
  healthy!: boolean;
  recoverable!: boolean;
  sharesGood!: number;
  sharesNeeded!: number;
  sharesExpected!: number;
  servers!: number;
  repaired!: boolean;
  /** Tahoe's summary (caps redacted), or why the check failed. */
  summary!: string | null;
}

export function tahoeCheckResultEntity(dialect: SqlDialect): EntitySchema<TahoeCheckResultModel> {
  const types = columnTypes(dialect);
  return new EntitySchema<TahoeCheckResultModel>({
    name: 'TahoeCheckResultModel',
    target: TahoeCheckResultModel,
    tableName: 'tahoe_check_result',
    columns: {
      ino: bigint({ primary: true }),
      checkedAt: bigint({ name: 'checked_at' }),
      healthy: { type: 'boolean' },
      recoverable: { type: 'boolean' },
      sharesGood: { type: 'int', name: 'shares_good' },
      sharesNeeded: { type: 'int', name: 'shares_needed' },
      sharesExpected: { type: 'int', name: 'shares_expected' },
      servers: { type: 'int' },
      repaired: { type: 'boolean' },
      summary: { ...types.text(), nullable: true },
    },
    // The unhealthy gauge counts these rows on every scrape.
    indices: [{ name: 'IDX_tahoe_check_result_healthy', columns: ['healthy'] }],
    foreignKeys: [
      {
        name: 'FK_tahoe_check_result_ino',
        target: 'InodeModel',
        columnNames: ['ino'],
        referencedColumnNames: ['ino'],
        onDelete: 'CASCADE',
      },
    ],
  });
}
