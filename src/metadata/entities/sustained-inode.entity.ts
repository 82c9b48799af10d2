import { EntitySchema } from 'typeorm';
import { bigint, type SqlDialect } from './column-types';

/**
 * One row of `sustained_inode`: inode `ino` has no name left but session `sid` still has it open, so it
 * is kept until that session releases it or dies (JuiceFS's `sustained`).
 */
export class SustainedInodeModel {
  sid!: number;
  ino!: number;
}

export function sustainedInodeEntity(_dialect: SqlDialect): EntitySchema<SustainedInodeModel> {
  return new EntitySchema<SustainedInodeModel>({
    name: 'SustainedInodeModel',
    target: SustainedInodeModel,
    tableName: 'sustained_inode',
    columns: {
      sid: bigint({ primary: true }),
      ino: bigint({ primary: true }),
    },
    indices: [{ name: 'IDX_sustained_inode_ino', columns: ['ino'] }],
    foreignKeys: [
      {
        name: 'FK_sustained_inode_sid',
        target: 'GatewaySessionModel',
        columnNames: ['sid'],
        referencedColumnNames: ['sid'],
        onDelete: 'CASCADE',
      },
      {
        name: 'FK_sustained_inode_ino',
        target: 'InodeModel',
        columnNames: ['ino'],
        referencedColumnNames: ['ino'],
        onDelete: 'CASCADE',
      },
    ],
  });
}
