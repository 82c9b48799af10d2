import type { DataSource } from 'typeorm';
import { InodeModel } from './entities';

/**
 * How many inodes the filesystem holds, for statfs. A full count (an index scan on MariaDB), so callers ask it in the
 * background, never on a filesystem call's path. Kept out of SqlMetadataStore: one read-only query.
 */
export class InodeCensus {
  constructor(private readonly dataSource: DataSource) {}

  count(): Promise<number> {
    return this.dataSource.createQueryBuilder(InodeModel, 'i').getCount();
  }
}
