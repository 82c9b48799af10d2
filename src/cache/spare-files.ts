import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

export interface SpareFilesOptions {
  /** A take that leaves fewer ready than this starts a refill. */
  lowWater?: number;
  /** A refill stops, and freed files are removed rather than kept, at this many. */
  highWater?: number;
}

const SPARE_NAME = /^s(\d+)$/;

/**
 * Creates an empty file in the thread pool with the callback API. A `fs/promises` FileHandle is an object with an
 * event emitter and a finalizer, opened and closed through promises, made and dropped on the event loop for each
 * spare; the callback API makes none (profiled in a small-file create loop: the event loop's self time in opening
 * and closing files fell from 347 to 312 ms for 5,000 files, the hot path's own opens included).
 */
function createEmpty(file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.open(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR, 0o600, (openError, fd) => {
      if (openError) {
        reject(openError);
        return;
      }
      // The create is what costs the kernel; closing an empty file is a short syscall, cheaper in line than a
      // second thread-pool round trip and callback.
      try {
        fs.closeSync(fd);
        resolve();
      } catch (closeError) {
        reject(closeError instanceof Error ? closeError : new Error(String(closeError)));
      }
    });
  });
}

/**
 * Empty files made ahead of need, so that a new cache block takes one with a rename instead of allocating an inode
 * in the reply path of the write that needs it. Creating a file costs 0.1–0.9 ms of kernel CPU on this machine's
 * ext4, against 12–14 µs for a rename (python loops of 500 `os.open(O_CREAT)` and `os.rename`, 2026-12-07): it runs
 * without a journal, and then the inode allocator skips every inode freed in the last minute, reading its inode
 * table block to find out (`recently_deleted` in perf), so the cost grows with recent deletions. It was 1.1 ms of a
 * small file's 2.7 ms create through the mount, the write handler's whole cost. Freed block files come back here
 * (emptied) instead of being unlinked, so a workload that deletes as it creates allocates no inode at all, and frees
 * none for the allocator to step over.
 *
 * The refill makes spares one at a time in libuv's thread pool, off the event loop, and only once something has
 * taken one: a cache that never makes files makes no spares. It creates them in one of two bins while takes and
 * recycles use the other: a create holds its directory's lock for the whole allocation, and a rename out of the
 * same directory waited for it (`rwsem_spin_on_owner` in perf, 116 µs per rename).
 *
 * The directory is trusted only as far as it is checked: at start every file in it is emptied again (a crash may
 * have cut a recycle between its truncate and its rename), and anything whose name is not a spare's is removed.
 */
export class SpareFiles {
  /** Ready spares by bin (its directory). */
  private readonly bins: [string[], string[]] = [[], []];
  private readonly binDirs: [string, string];
  private readonly lowWater: number;
  private readonly highWater: number;
  private nextNumber = 0;
  /** The bin the refill is creating in, while it runs. */
  private filling: 0 | 1 | undefined;
  /** Files being emptied for reuse: they count against the high-water mark before they are ready. */
  private returning = 0;
  private refill: Promise<void> | undefined;
  private closed = false;
  /** Spares taken and renamed into place. */
  taken = 0;

  constructor(
    readonly dir: string,
    options: SpareFilesOptions = {},
  ) {
    // A serial writer takes one per new file; one refill thread makes them faster than that, so the pool only has
    // to cover bursts, and a mount that creates a few files makes few spares.
    this.highWater = options.highWater ?? 64;
    this.lowWater = Math.min(options.lowWater ?? 16, this.highWater);
    this.binDirs = [path.join(dir, 'a'), path.join(dir, 'b')];
  }

  /** Adopts what an earlier run left, emptied again. Makes no new spare. */
  async init(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await fsp.readdir(this.dir)) {
      if (name !== 'a' && name !== 'b') {
        await fsp.rm(path.join(this.dir, name), { recursive: true, force: true });
      }
    }
    for (const bin of [0, 1] as const) {
      await fsp.mkdir(this.binDirs[bin], { recursive: true, mode: 0o700 });
      for (const name of await fsp.readdir(this.binDirs[bin])) {
        const file = path.join(this.binDirs[bin], name);
        const number = SPARE_NAME.exec(name);
        if (number === null || this.readyCount >= this.highWater || !(await fsp.lstat(file)).isFile()) {
          await fsp.rm(file, { recursive: true, force: true });
          continue;
        }
        await fsp.truncate(file, 0);
        this.nextNumber = Math.max(this.nextNumber, Number(number[1]) + 1);
        this.bins[bin].push(file);
      }
    }
  }

  get readyCount(): number {
    return this.bins[0].length + this.bins[1].length;
  }

  /**
   * Moves a spare to `target`, replacing whatever is there; false when none is ready, and then the caller creates
   * the file itself. Synchronous: a rename is shorter than a thread-pool round trip.
   */
  takeInto(target: string): boolean {
    for (let spare = this.pop(); spare !== undefined; spare = this.pop()) {
      try {
        fs.renameSync(spare.file, target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !fs.existsSync(spare.file)) {
          continue; // The spare itself is gone (removed by hand): try the next one.
        }
        // The target's side failed: the caller's own create will say why.
        this.bins[spare.bin].push(spare.file);
        return false;
      }
      this.taken += 1;
      this.startRefill();
      return true;
    }
    this.startRefill();
    return false;
  }

  /**
   * Takes back a block file no longer wanted: emptied and kept as a spare while there is room, removed otherwise.
   * `inLine` does it with synchronous calls (see BlockCache.drop).
   */
  async recycle(file: string, inLine = false): Promise<void> {
    if (this.closed || this.readyCount + this.returning >= this.highWater) {
      if (inLine) {
        fs.rmSync(file, { force: true });
      } else {
        await fsp.rm(file, { force: true });
      }
      return;
    }
    const bin = this.quietBin();
    const spare = this.newName(bin);
    this.returning += 1;
    try {
      if (inLine) {
        fs.truncateSync(file, 0);
        fs.renameSync(file, spare);
      } else {
        await fsp.truncate(file, 0);
        await fsp.rename(file, spare);
      }
      this.bins[bin].push(spare);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw error;
      }
    } finally {
      this.returning -= 1;
    }
  }

  /** Resolves once no refill runs. */
  async settled(): Promise<void> {
    await this.refill;
  }

  /** Stops the refill (waiting for the file it is making). What is ready stays for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    await this.refill;
  }

  /** The bin the refill is not creating in. */
  private quietBin(): 0 | 1 {
    return this.filling === 0 ? 1 : 0;
  }

  /** A ready spare, from the quiet bin when it has one. */
  private pop(): { file: string; bin: 0 | 1 } | undefined {
    const quiet = this.quietBin();
    const bin = this.bins[quiet].length > 0 ? quiet : quiet === 0 ? 1 : 0;
    const file = this.bins[bin].pop();
    return file === undefined ? undefined : { file, bin };
  }

  private newName(bin: 0 | 1): string {
    return path.join(this.binDirs[bin], `s${this.nextNumber++}`);
  }

  private startRefill(): void {
    if (this.refill !== undefined || this.closed || this.readyCount >= this.lowWater) {
      return;
    }
    this.refill = this.fill().finally(() => {
      this.refill = undefined;
      this.filling = undefined;
    });
  }

  /**
   * Makes spares up to the high-water mark, one at a time: each costs the kernel CPU the caller would have spent,
   * and one thread of it is enough to stay ahead of a serial writer. A failure (a full disk) ends the refill; the
   * next take starts another, and meanwhile writers create their files themselves.
   */
  private async fill(): Promise<void> {
    try {
      while (!this.closed && this.readyCount + this.returning < this.highWater) {
        // Into the emptier bin; once takes have emptied theirs, they move to the bin just filled.
        const bin = this.bins[0].length <= this.bins[1].length ? 0 : 1;
        this.filling = bin;
        const spare = this.newName(bin);
        await createEmpty(spare);
        this.bins[bin].push(spare);
      }
    } catch {
      // Nothing is lost: takes fall back to creating the file in place until a later refill succeeds.
    }
  }
}
