import { EntitySchema } from 'typeorm';
import { NAME_MAX } from '../metadata.types';
import { bigint, columnTypes, type SqlDialect } from './column-types';

/** One row of `dir_entry`: the name `name` in directory `parent` refers to inode `child`. */
export class DirEntryModel {
  /** Increasing: gives readdir a stable order and numeric cookies that survive inserts and deletes. */
  id!: number;
  parent!: number;
  name!: Buffer;
  child!: number;
}

export function dirEntryEntity(dialect: SqlDialect): EntitySchema<DirEntryModel> {
  return new EntitySchema<DirEntryModel>({
    name: 'DirEntryModel',
    target: DirEntryModel,
    tableName: 'dir_entry',
    columns: {
      id: bigint({ ...columnTypes(dialect).serial(), primary: true, generated: 'increment' }),
      parent: bigint(),
      // Bytes, not text: names are compared byte for byte, with no collation, case folding or padding.
      name: { ...columnTypes(dialect).bytes(NAME_MAX) },
      child: bigint(),
    },
    indices: [
      { name: 'UQ_dir_entry_parent_name', columns: ['parent', 'name'], unique: true },
      { name: 'IDX_dir_entry_parent_id', columns: ['parent', 'id'] },
      { name: 'IDX_dir_entry_child', columns: ['child'] },
    ],
    foreignKeys: [
      // RESTRICT: an inode cannot disappear while a name still refers to it, whatever the code does.
      {
        name: 'FK_dir_entry_parent',
        target: 'InodeModel',
        columnNames: ['parent'],
        referencedColumnNames: ['ino'],
        onDelete: 'RESTRICT',
      },
      {
        name: 'FK_dir_entry_child',
        target: 'InodeModel',
        columnNames: ['child'],
        referencedColumnNames: ['ino'],
        onDelete: 'RESTRICT',
      },
    ],
  });
}
