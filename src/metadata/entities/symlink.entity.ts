import { EntitySchema } from 'typeorm';
import { SYMLINK_MAX } from '../metadata.types';
import { bigint, columnTypes, type SqlDialect } from './column-types';

/** One row of `symlink`: the target of a symbolic link, as bytes. */
export class SymlinkModel {
  ino!: number;
  target!: Buffer;
}

export function symlinkEntity(dialect: SqlDialect): EntitySchema<SymlinkModel> {
  return new EntitySchema<SymlinkModel>({
    name: 'SymlinkModel',
    target: SymlinkModel,
    tableName: 'symlink',
    columns: {
      ino: bigint({ primary: true }),
      target: { ...columnTypes(dialect).bytes(SYMLINK_MAX) },
    },
    foreignKeys: [
      {
        name: 'FK_symlink_ino',
        target: 'InodeModel',
        columnNames: ['ino'],
        referencedColumnNames: ['ino'],
        onDelete: 'CASCADE',
      },
    ],
  });
}
