import type { BlockCache } from './block-cache';

interface Hold {
  count: number;
  done: Promise<void>;
  release: () => void;
}

/**
 * The one owner of "this file has local content not yet in Tahoe", as a pull must see it, and the lock that makes a
 * pull's replacement of a file's content atomic with local writes.
 *
 * SQL alone cannot say it: writes reach SQL only at flush or close (RiverFs keeps their size and mtime in memory), so
 * a file being written still looks `synced` there. A file has local content when it has dirty cache blocks (written,
 * not uploaded) or a local writer: an open writable handle (from before its open reads SQL until its release has
 * persisted what it wrote) or a truncate by path in progress. Every write, fallocate and ftruncate goes through such a
 * handle, so a write can never be in flight without a writer counted here.
 *
 * A pull asks `holdForRemoteChange` synchronously (no await between the check and the hold): either the file has
 * local content and the pull treats the remote change as a conflict, or the file is held and a writer that arrives
 * meanwhile waits in `enterWriter` until the pull has applied the change and dropped the old blocks. A pull never
 * waits for a writer, so writers and pulls cannot deadlock.
 */
export class LocalContentGate {
  private readonly writers = new Map<number, number>();
  private readonly holds = new Map<number, Hold>();

  constructor(private readonly cache: Pick<BlockCache, 'hasDirtyData'>) {}

  /**
   * A local writer of the file begins. Waits while a pull is replacing the file's content (the writer must read the
   * file's size and blocks after the replacement). Returns the writer's end, which may be called more than once.
   */
  async enterWriter(ino: number): Promise<() => void> {
    for (let hold = this.holds.get(ino); hold !== undefined; hold = this.holds.get(ino)) {
      await hold.done;
    }
    this.writers.set(ino, (this.writers.get(ino) ?? 0) + 1);
    let left = false;
    return () => {
      if (left) {
        return;
      }
      left = true;
      const remaining = (this.writers.get(ino) ?? 1) - 1;
      if (remaining > 0) {
        this.writers.set(ino, remaining);
      } else {
        this.writers.delete(ino);
      }
    };
  }

  /** Whether the file has bytes or a writer here that Tahoe does not have yet. */
  hasLocalContent(ino: number): boolean {
    return (this.writers.get(ino) ?? 0) > 0 || this.cache.hasDirtyData(ino);
  }

  /**
   * For a pull about to replace or remove the file's content: undefined when the file has local content (the remote
   * change is a conflict), else a release. Until it is called, new writers wait. Several pulls may hold one file (the
   * names of a hard link in several directories).
   */
  holdForRemoteChange(ino: number): (() => void) | undefined {
    if (this.hasLocalContent(ino)) {
      return undefined;
    }
    let hold = this.holds.get(ino);
    if (hold === undefined) {
      let release!: () => void;
      const done = new Promise<void>((resolve) => (release = resolve));
      hold = { count: 0, done, release };
      this.holds.set(ino, hold);
    }
    hold.count += 1;
    const mine = hold;
    let released = false;
    return () => {
      if (released) {
        return;
      }
      released = true;
      mine.count -= 1;
      if (mine.count === 0) {
        this.holds.delete(ino);
        mine.release();
      }
    };
  }
}
