import fsp from 'node:fs/promises';
import path from 'node:path';
import type { CacheLayout } from './cache-layout';

/** Name of the file that persisted a file's hole floor in the cache layout before cache-layout.ts (migrated at start). */
export const HOLE_FLOOR_FILE = 'holes-from';

/**
 * The one owner of "which bytes of a file must not come from its last uploaded cap": per file, the lowest size a
 * truncate gave it since its last complete upload (its hole floor). Every byte at or past the floor that the cache
 * lacks is a hole, whatever the cap holds there: a truncate removed it, and only a write (a dirty block, never
 * fetched) brings bytes back. An upload that read the whole file after the floor was set makes the cap right about
 * every byte again, and the floor goes (`clear`).
 *
 * The floor lives in memory, where reads and fetches consult it synchronously, and in a small file beside the
 * file's blocks so that it survives a restart. Lowering changes memory before any await (a fetch that lands
 * meanwhile must already be cut), then persists; the file is always rewritten from the value in memory, one write at
 * a time per file, so concurrent lowers and clears leave on disk whatever memory holds last.
 *
 * Durability follows the file's own (the contract of a local filesystem): a written floor survives a crash of
 * RiverFS at once (the kernel has it), and a crash of the machine once its file is fsync'd (`makeDurable`).
 */
export class HoleFloors {
  private readonly floors = new Map<number, number>();
  private readonly persisting = new Map<number, Promise<void>>();
  /** Files whose floor file was written since its last fdatasync. */
  private readonly undurable = new Set<number>();

  constructor(private readonly layout: CacheLayout) {}

  /** Reads a file's persisted floor at start (a missing or malformed file means none). */
  async load(ino: number): Promise<void> {
    const text = await fsp.readFile(this.floorPath(ino), 'utf8').catch(() => undefined);
    if (text !== undefined && /^\d+$/.test(text.trim())) {
      this.floors.set(ino, Number(text.trim()));
    }
  }

  /** The file's floor; undefined when its cap is right about every byte. */
  get(ino: number): number | undefined {
    return this.floors.get(ino);
  }

  has(ino: number): boolean {
    return this.floors.has(ino);
  }

  /** How many leading bytes of `length` fetched at block start `blockStart` are still the file's (0: all hole). */
  usable(ino: number, blockStart: number, length: number): number {
    const floor = this.floors.get(ino);
    return floor === undefined ? length : Math.max(0, Math.min(length, floor - blockStart));
  }

  /**
   * Nothing at or past `size` may come from the cap any more. Memory changes at once (the caller relies on that
   * before its first await); the returned promise ends once the floor is in its file (it survives a crash of
   * RiverFS; `makeDurable` makes it survive a crash of the machine).
   */
  lower(ino: number, size: number): Promise<void> {
    const current = this.floors.get(ino);
    if (current !== undefined && current <= size) {
      return this.persisting.get(ino) ?? Promise.resolve();
    }
    this.floors.set(ino, size);
    return this.persist(ino);
  }

  /** The cap is right about every byte again (an upload of the whole file that no change raced). */
  clear(ino: number): Promise<void> {
    if (!this.floors.delete(ino)) {
      return this.persisting.get(ino) ?? Promise.resolve();
    }
    return this.persist(ino);
  }

  /** The file is gone: ends once no write of its floor is running (the caller then removes its directory). */
  async forget(ino: number): Promise<void> {
    this.floors.delete(ino);
    this.undurable.delete(ino);
    await this.persisting.get(ino)?.catch(() => undefined);
  }

  /**
   * fsync's part: once any write of the file's floor has ended, its floor file's bytes are on disk. Its name (or its
   * removal) is in the file's block directory, which the caller syncs next.
   */
  async makeDurable(ino: number): Promise<void> {
    await this.persisting.get(ino);
    if (!this.undurable.delete(ino)) {
      return;
    }
    let handle: fsp.FileHandle | undefined;
    try {
      handle = await fsp.open(this.floorPath(ino), 'r');
      await handle.datasync();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.undurable.add(ino);
        throw error;
      }
    } finally {
      await handle?.close();
    }
  }

  private floorPath(ino: number): string {
    return this.layout.floorPath(ino);
  }

  /** Writes what memory holds now, after any write of this file's floor still running. */
  private persist(ino: number): Promise<void> {
    const previous = this.persisting.get(ino) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        const floor = this.floors.get(ino);
        const file = this.floorPath(ino);
        if (floor === undefined) {
          await fsp.rm(file, { force: true });
          return;
        }
        await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
        // Beside, then renamed: a crash of RiverFS never leaves a half-written floor (read back as none, the old
        // cap's bytes). No fdatasync here: that is fsync's (`makeDurable`), as for the file's blocks.
        const temporary = `${file}.tmp`;
        await fsp.writeFile(temporary, String(floor), { mode: 0o600 });
        this.undurable.add(ino);
        await fsp.rename(temporary, file);
      });
    this.persisting.set(ino, next);
    void next.then(
      () => this.settled(ino, next),
      () => this.settled(ino, next),
    );
    return next;
  }

  private settled(ino: number, done: Promise<void>): void {
    if (this.persisting.get(ino) === done) {
      this.persisting.delete(ino);
    }
  }
}
