import { EntitySchema } from 'typeorm';
import { NAME_MAX } from '../metadata.types';
import { CAP_LENGTH } from './inode.entity';
import { bigint, columnTypes, type SqlDialect } from './column-types';

/**
 * One row of `synced_entry`: what the sync worker last published as child `name` of directory `parent`'s
 * dirnode, and with which cap. `dir_entry` is what should be there; the difference between the two
 * tables is the next set_children/unlink the worker has to make (DESIGN.md §3). Kept apart from
 * `dir_entry` so that a removed name is remembered until Tahoe has forgotten it too; hence no foreign
 * keys: rows outlive the inodes and entries they describe.
 */
export class SyncedEntryModel {
  parent!: number;
  name!: Buffer;
  /** The inode the published child was at the time, when known. */
  child!: number | null;
  cap!: string;
  /** Hash of the cap and the `riverfs` edge metadata published with it: a changed attribute means a republish. */
  metaHash!: string | null;
  syncedAt!: number;
}

export function syncedEntryEntity(dialect: SqlDialect): EntitySchema<SyncedEntryModel> {
  const types = columnTypes(dialect);
  return new EntitySchema<SyncedEntryModel>({
    name: 'SyncedEntryModel',
    target: SyncedEntryModel,
    tableName: 'synced_entry',
    columns: {
      parent: bigint({ primary: true }),
      name: { ...types.bytes(NAME_MAX), primary: true },
      child: bigint({ nullable: true }),
      cap: { ...types.ascii(CAP_LENGTH) },
      metaHash: { ...types.ascii(64), name: 'meta_hash', nullable: true },
      syncedAt: bigint({ name: 'synced_at' }),
    },
    indices: [{ name: 'IDX_synced_entry_child', columns: ['child'] }],
  });
}
