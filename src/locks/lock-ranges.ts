/**
 * The rules of file locks as Linux applies them, on plain lists, with no I/O: POSIX record locks (fcntl
 * F_SETLK/F_SETLKW/F_GETLK) over byte ranges and flock(2) whole-file locks. The lock service keeps one list per
 * inode in the state store and runs these functions between reading and writing it back.
 *
 * The two kinds never conflict with each other (Linux keeps them apart on local filesystems and FUSE does too).
 * A lock belongs to an owner: the gateway session it was taken through plus the kernel's lock owner (for POSIX
 * locks, the process's file table; for flock, the open file). An owner's locks never conflict with each other:
 * a new POSIX lock replaces the owner's locks over its range (converting read to write or back), an unlock of
 * a sub-range splits a lock, and adjacent or overlapping locks of one mode merge into one, as fs/locks.c does.
 */

/** The last byte offset a lock can name; "to the end of the file" (length 0) reaches it. */
export const OFFSET_MAX = Number.MAX_SAFE_INTEGER;

export type LockKind = 'posix' | 'flock';
export type LockMode = 'read' | 'write';

export interface FileLockRecord {
  /** The gateway session the lock was taken through. */
  session: string;
  /** The kernel's lock owner, in decimal. */
  owner: string;
  /** The process that took it, as F_GETLK reports it (meaningful on the holder's gateway's host). */
  pid: number;
  kind: LockKind;
  mode: LockMode;
  start: number;
  /** Inclusive; OFFSET_MAX for "to the end of the file". */
  end: number;
}

export interface LockRequest {
  session: string;
  owner: string;
  pid: number;
  kind: LockKind;
  mode: LockMode | 'unlock';
  start: number;
  end: number;
}

/**
 * A byte range from fcntl's start and length (0: to the end of the file). The kernel has already turned
 * negative lengths and SEEK_CUR/SEEK_END into this form; offsets past 2^53 are clamped to OFFSET_MAX, where
 * JavaScript numbers stop being exact.
 */
export function rangeOf(start: number, length: number): { start: number; end: number } {
  if (!Number.isFinite(start) || start < 0 || !Number.isFinite(length) || length < 0) {
    throw new RangeError(`invalid lock range: start ${start}, length ${length}`);
  }
  const first = Math.min(Math.floor(start), OFFSET_MAX);
  if (length === 0) {
    return { start: first, end: OFFSET_MAX };
  }
  return { start: first, end: Math.min(first + Math.floor(length) - 1, OFFSET_MAX) };
}

/** fcntl's length of a held lock: 0 when it reaches the end of the file. */
export function lengthOf(lock: { start: number; end: number }): number {
  return lock.end >= OFFSET_MAX ? 0 : lock.end - lock.start + 1;
}

export function sameOwner(a: Pick<FileLockRecord, 'session' | 'owner' | 'kind'>, b: typeof a): boolean {
  return a.session === b.session && a.owner === b.owner && a.kind === b.kind;
}

function overlaps(a: { start: number; end: number }, b: { start: number; end: number }): boolean {
  return a.start <= b.end && b.start <= a.end;
}

/** Whether `held` stands in the way of `request` (an unlock is never in anyone's way). */
export function conflicts(held: FileLockRecord, request: LockRequest): boolean {
  return (
    request.mode !== 'unlock' &&
    held.kind === request.kind &&
    !sameOwner(held, request) &&
    overlaps(held, request) &&
    (held.mode === 'write' || request.mode === 'write')
  );
}

/** The first lock in list order that conflicts with `request` (what F_GETLK reports), or undefined. */
export function findConflict(locks: readonly FileLockRecord[], request: LockRequest): FileLockRecord | undefined {
  return locks.find((held) => conflicts(held, request));
}

/**
 * The list after a POSIX lock or unlock by `request`'s owner, assuming nothing conflicts (check with
 * `findConflict` first: F_SETLK is all or nothing). Other owners' locks keep their places; the owner's locks
 * follow, sorted and merged.
 */
export function applyPosix(locks: readonly FileLockRecord[], request: LockRequest): FileLockRecord[] {
  const others: FileLockRecord[] = [];
  const mine: FileLockRecord[] = [];
  for (const held of locks) {
    if (!sameOwner(held, request)) {
      others.push(held);
    } else if (!overlaps(held, request)) {
      mine.push(held);
    } else {
      if (held.start < request.start) {
        mine.push({ ...held, end: request.start - 1 });
      }
      if (held.end > request.end) {
        mine.push({ ...held, start: request.end + 1 });
      }
    }
  }
  if (request.mode !== 'unlock') {
    const { session, owner, pid, kind, mode, start, end } = request;
    mine.push({ session, owner, pid, kind, mode, start, end });
  }
  return [...others, ...mergeRanges(mine)];
}

/** One owner's locks (not overlapping across modes) sorted, with touching locks of one mode made one. */
function mergeRanges(mine: FileLockRecord[]): FileLockRecord[] {
  const sorted = [...mine].sort((a, b) => a.start - b.start);
  const merged: FileLockRecord[] = [];
  for (const lock of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.mode === lock.mode && lock.start <= last.end + 1) {
      merged[merged.length - 1] = { ...last, end: Math.max(last.end, lock.end), pid: lock.pid };
    } else {
      merged.push({ ...lock });
    }
  }
  return merged;
}

/** The list without the flock of `request`'s owner (flock's first step: a conversion is not atomic). */
export function dropFlock(locks: readonly FileLockRecord[], request: LockRequest): FileLockRecord[] {
  return locks.filter((held) => !sameOwner(held, request));
}

export type LockDecision =
  /** Done: the list to store (unchanged when equal to the one given). */
  | { granted: true; locks: FileLockRecord[] }
  /** Refused: the list to store anyway (flock dropped the owner's old lock first) and the lock in the way. */
  | { granted: false; locks: FileLockRecord[]; conflict: FileLockRecord };

/** What a lock or unlock request does to an inode's list, as Linux would decide it. */
export function decide(locks: readonly FileLockRecord[], request: LockRequest): LockDecision {
  if (request.kind === 'flock') {
    const without = dropFlock(locks, request);
    if (request.mode === 'unlock') {
      return { granted: true, locks: without };
    }
    const conflict = findConflict(without, request);
    if (conflict !== undefined) {
      return { granted: false, locks: without, conflict };
    }
    const { session, owner, pid, kind, mode } = request;
    return { granted: true, locks: [...without, { session, owner, pid, kind, mode, start: 0, end: OFFSET_MAX }] };
  }
  const conflict = findConflict(locks, request);
  if (conflict !== undefined) {
    return { granted: false, locks: [...locks], conflict };
  }
  return { granted: true, locks: applyPosix(locks, request) };
}

/** Whether a change from `before` to `after` can let a waiter through: some lock went away or got weaker. */
export function releasedSomething(before: readonly FileLockRecord[], after: readonly FileLockRecord[]): boolean {
  return before.some(
    (old) =>
      !after.some(
        (now) => sameOwner(old, now) && now.start <= old.start && now.end >= old.end && now.mode === old.mode,
      ),
  );
}

export function sameLocks(a: readonly FileLockRecord[], b: readonly FileLockRecord[]): boolean {
  return a.length === b.length && a.every((lock, index) => sameRecord(lock, b[index]));
}

function sameRecord(a: FileLockRecord, b: FileLockRecord): boolean {
  return (
    a.session === b.session &&
    a.owner === b.owner &&
    a.pid === b.pid &&
    a.kind === b.kind &&
    a.mode === b.mode &&
    a.start === b.start &&
    a.end === b.end
  );
}
