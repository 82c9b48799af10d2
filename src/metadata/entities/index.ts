import type { EntitySchema } from 'typeorm';
import type { SqlDialect } from './column-types';
import { dirEntryEntity } from './dir-entry.entity';
import { filesystemLeaseEntity } from './filesystem-lease.entity';
import { fsSettingEntity } from './fs-setting.entity';
import { gatewaySessionEntity } from './gateway-session.entity';
import { inodeEntity } from './inode.entity';
import { sustainedInodeEntity } from './sustained-inode.entity';
import { symlinkEntity } from './symlink.entity';
import { syncedEntryEntity } from './synced-entry.entity';
import { tahoeCheckResultEntity } from './tahoe-check-result.entity';
import { xattrEntity } from './xattr.entity';

export { type SqlDialect } from './column-types';
export { DirEntryModel } from './dir-entry.entity';
export { FILESYSTEM_LEASE_NAME, FilesystemLeaseModel } from './filesystem-lease.entity';
export { FsSettingModel } from './fs-setting.entity';
export { GatewaySessionModel } from './gateway-session.entity';
export { InodeModel } from './inode.entity';
export { SustainedInodeModel } from './sustained-inode.entity';
export { SymlinkModel } from './symlink.entity';
export { SyncedEntryModel } from './synced-entry.entity';
export { TahoeCheckResultModel } from './tahoe-check-result.entity';
export { XattrModel } from './xattr.entity';

/** Every entity of the metadata schema, typed for one dialect. */
export function metadataEntities(dialect: SqlDialect): EntitySchema[] {
  return [
    inodeEntity(dialect),
    dirEntryEntity(dialect),
    symlinkEntity(dialect),
    xattrEntity(dialect),
    gatewaySessionEntity(dialect),
    sustainedInodeEntity(dialect),
    fsSettingEntity(dialect),
    syncedEntryEntity(dialect),
    filesystemLeaseEntity(dialect),
    tahoeCheckResultEntity(dialect),
  ] as EntitySchema[];
}
