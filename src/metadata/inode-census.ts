import { InodeModel } from './entities';
import type { SqlSideAccess } from './fs-setting.util';

/**
 * How many inodes the filesystem holds, for statfs. A full count (an index scan on MariaDB), so callers ask it in the
 * background, never on a filesystem call's path. Kept out of SqlMetadataStore: one read-only query.
 */
export class InodeCensus {
  constructor(private readonly access: SqlSideAccess) {}

  count(): Promise<number> {
    return this.access.exclusive(() => this.access.dataSource.createQueryBuilder(InodeModel, 'i').getCount());
  }
}
