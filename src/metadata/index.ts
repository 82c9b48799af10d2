/** What other modules and the CLI may use from the metadata layer: the port, its types, the module and migrations. */
export { createDataSource, openDataSource, parseDbUrl, runMigrations } from './data-source';
export { MetadataModule, type MetadataModuleOptions } from './metadata.module';
export type { MetadataSessionOptions } from './metadata-session.service';
export { MetadataStore } from './metadata.store';
export * from './metadata-events';
export { type MetadataClock, systemClock } from './metadata-txn.util';
export * from './metadata.types';
export * from './sync-journal';
export type { TransactionEvent } from './sql-metadata.store';
