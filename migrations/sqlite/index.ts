import type { MigrationInterface } from 'typeorm';
import { CreateMetadataSchema1795523550965 } from './1795523550965-CreateMetadataSchema';
import { AddSyncJournal1795526831843 } from './1795526831843-AddSyncJournal';
import { AddPublishedInode1796530352826 } from './1796530352826-AddPublishedInode';
import { AddFilesystemLease1796530413563 } from './1796530413563-AddFilesystemLease';
import { AddTahoeCheckResult1796573020187 } from './1796573020187-AddTahoeCheckResult';

/** Every SQLite migration, oldest first; scripts/generate-migrations.ts rewrites this list. */
export const sqliteMigrations: (new () => MigrationInterface)[] = [
  CreateMetadataSchema1795523550965,
  AddSyncJournal1795526831843,
  AddPublishedInode1796530352826,
  AddFilesystemLease1796530413563,
  AddTahoeCheckResult1796573020187,
];
