import { EntitySchema } from 'typeorm';
import { columnTypes, type SqlDialect } from './column-types';

/** One row of `fs_setting`: a filesystem-wide value (filesystem id, root dircap, format version). */
export class FsSettingModel {
  name!: string;
  value!: string;
}

export function fsSettingEntity(dialect: SqlDialect): EntitySchema<FsSettingModel> {
  const types = columnTypes(dialect);
  return new EntitySchema<FsSettingModel>({
    name: 'FsSettingModel',
    target: FsSettingModel,
    tableName: 'fs_setting',
    columns: {
      name: { ...types.ascii(64), primary: true },
      value: { ...types.text() },
    },
  });
}
