export { FILE_LOCK_CHANNEL, FileLockError, FileLockService, fileLockTableFor } from './file-lock.service';
export type { FileLockErrorCode, FileLockServiceOptions, LockHolder } from './file-lock.service';
export { InProcessFileLockTable } from './file-lock-table';
export type { FileLockTable, LockSnapshot } from './file-lock-table';
export { LocksModule } from './locks.module';
