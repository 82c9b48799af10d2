import { EntitySchema } from 'typeorm';
import { bigint, columnTypes, type SqlDialect } from './column-types';

/** The key of the one row of `filesystem_lease`: the whole filesystem is leased, not parts of it. */
export const FILESYSTEM_LEASE_NAME = 'filesystem';

/**
 * One row of `filesystem_lease`: which gateway may mount the filesystem kept in this database, until `expiresAt`
 * (kept ahead by the holder's heartbeat). A released lease keeps its last holder for operators, with `expiresAt` 0.
 */
export class FilesystemLeaseModel {
  name!: string;
  /** Random per acquisition: tells a live holder that someone else took the lease over. */
  token!: string | null;
  /** The id kept in the holder's data directory (data-directory-id.ts): a restart from it takes over at once. */
  dataDirId!: string | null;
  host!: string | null;
  pid!: number | null;
  dataDir!: string | null;
  /** When the current holder took the lease (ms since the epoch). */
  since!: number | null;
  renewedAt!: number;
  expiresAt!: number;
}

export function filesystemLeaseEntity(dialect: SqlDialect): EntitySchema<FilesystemLeaseModel> {
  const types = columnTypes(dialect);
  return new EntitySchema<FilesystemLeaseModel>({
    name: 'FilesystemLeaseModel',
    target: FilesystemLeaseModel,
    tableName: 'filesystem_lease',
    columns: {
      name: { ...types.ascii(32), primary: true },
      token: { ...types.ascii(64), nullable: true },
      dataDirId: { ...types.ascii(64), name: 'data_dir_id', nullable: true },
      host: { ...types.text(), nullable: true },
      pid: { type: 'int', nullable: true },
      dataDir: { ...types.text(), name: 'data_dir', nullable: true },
      since: bigint({ nullable: true }),
      renewedAt: bigint({ name: 'renewed_at', default: 0 }),
      expiresAt: bigint({ name: 'expires_at', default: 0 }),
    },
  });
}
