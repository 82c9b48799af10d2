/**
 * File locks kept by RiverFS (fcntl record locks and flock), shared by every gateway on one state store.
 * How the FUSE adapter uses FileLockService (`locks`), one call per low-level operation:
 *
 *   getlk(ctx, ino, fh, owner, lock)        → locks.getlk(ino, owner, lock)   (strip `session` from the answer)
 *   setlk(ctx, ino, fh, owner, lock, wait)  → locks.setlk(ino, owner, lock, wait, signal?)
 *   flock(ctx, ino, fh, owner, operation)   → locks.flock(ino, owner, operation, signal?)
 *   flush(ctx, ino, fh, owner)              → locks.releaseOwner(ino, owner)   (besides the data flush)
 *   release(…, owner, flockRelease)         → if (flockRelease) locks.releaseFlock(ino, owner)
 *
 * Refusals reject with FileLockError, whose `code` (EAGAIN, EWOULDBLOCK, EDEADLK, EINTR, ENOLCK, EINVAL) the
 * binding answers as the errno. `signal` ends a wait with EINTR (for FUSE interrupts, once the binding has them).
 */
export { FILE_LOCK_CHANNEL, FileLockError, FileLockService, fileLockTableFor } from './file-lock.service';
export type { FileLockErrorCode, FileLockServiceOptions, LockHolder } from './file-lock.service';
export { InProcessFileLockTable } from './file-lock-table';
export type { FileLockTable, LockSnapshot } from './file-lock-table';
export { LocksModule } from './locks.module';
