/**
 * The in-memory test filesystem with its lock operations sent to a `FileLockService`, as RiverFs's adapter
 * will send them: F_GETLK/F_SETLK(W)/flock to the service, a close (flush) ends the closing owner's POSIX locks,
 * the last release of a file that used flock ends its flock. Several of these, each with its own service over
 * one state store, are several gateways of one filesystem.
 */
import type { FileLockService } from '../../src/locks';
import { FlockOperation, type LowLevelFilesystem, type RecordLock, type RequestContext } from '../../src/fuse-lowlevel';
import type { MemoryLowLevelFs } from './memory-lowlevel-fs';

type LockOperations = Pick<LowLevelFilesystem, 'getlk' | 'setlk' | 'flock' | 'flush' | 'release'>;

export interface LockingFs {
  fs: LowLevelFilesystem;
  /** Blocking lock requests (F_SETLKW, flock without LOCK_NB) the kernel has sent and that are not answered. */
  waiting(): number;
}

export function withLockService(memory: MemoryLowLevelFs, locks: FileLockService): LockingFs {
  let waiting = 0;
  const waitFor = async (work: Promise<void>): Promise<void> => {
    waiting++;
    try {
      await work;
    } finally {
      waiting--;
    }
  };
  const operations: Required<LockOperations> = {
    async getlk(_ctx: RequestContext, ino: number, _fh: number, owner: bigint, lock: RecordLock) {
      const holder = await locks.getlk(ino, owner, lock);
      return holder === undefined
        ? undefined
        : { type: holder.type, start: holder.start, length: holder.length, pid: holder.pid };
    },
    setlk(_ctx: RequestContext, ino: number, _fh: number, owner: bigint, lock: RecordLock, wait: boolean) {
      const taking = locks.setlk(ino, owner, lock, wait);
      return wait ? waitFor(taking) : taking;
    },
    flock(_ctx: RequestContext, ino: number, _fh: number, owner: bigint, operation: number) {
      const taking = locks.flock(ino, owner, operation);
      return operation & FlockOperation.nonBlocking ? taking : waitFor(taking);
    },
    async flush(ctx: RequestContext, ino: number, fh: number, owner: bigint) {
      memory.flush(ctx, ino, fh, owner);
      await locks.releaseOwner(ino, owner);
    },
    async release(ctx: RequestContext, ino: number, fh: number, flags: number, owner: bigint, flockRelease: boolean) {
      if (flockRelease) {
        await locks.releaseFlock(ino, owner);
      }
      memory.release(ctx, ino, fh, flags, owner, flockRelease);
    },
  };
  const fs = new Proxy(memory, {
    get(target, name, receiver) {
      if (typeof name === 'string' && name in operations) {
        return operations[name as keyof LockOperations];
      }
      return Reflect.get(target, name, receiver) as unknown;
    },
  }) as LowLevelFilesystem;
  return { fs, waiting: () => waiting };
}
