import { EntitySchema } from 'typeorm';
import { XATTR_NAME_MAX } from '../metadata.types';
import { bigint, columnTypes, type SqlDialect } from './column-types';

/** One row of `xattr`: extended attribute `name` of inode `ino`. */
export class XattrModel {
  ino!: number;
  name!: Buffer;
  value!: Buffer;
}

export function xattrEntity(dialect: SqlDialect): EntitySchema<XattrModel> {
  const types = columnTypes(dialect);
  return new EntitySchema<XattrModel>({
    name: 'XattrModel',
    target: XattrModel,
    tableName: 'xattr',
    columns: {
      ino: bigint({ primary: true }),
      name: { ...types.bytes(XATTR_NAME_MAX), primary: true },
      value: { ...types.blob() },
    },
    foreignKeys: [
      {
        name: 'FK_xattr_ino',
        target: 'InodeModel',
        columnNames: ['ino'],
        referencedColumnNames: ['ino'],
        onDelete: 'CASCADE',
      },
    ],
  });
}
