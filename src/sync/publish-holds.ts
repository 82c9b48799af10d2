interface Hold {
  /** Files the directory's last publish could not link yet (no cap: their upload had not completed). */
  waiting: Set<number>;
  /** When this run of holds began: no background publish of the directory is held longer than maxHoldMs past it. */
  since: number;
}

/**
 * Keeps a directory's background publishes from running while files it names are still uploading. Tahoe rewrites the
 * whole dirnode on every publish, and a publish scheduled after each upload (even spaced by the last publish's
 * duration) made a directory receiving N new files cost a publish every second or two for the whole drain, each one
 * rewriting a dirnode of up to N entries and taking the client node from the uploads. Held, the directory is published
 * once the files its last publish was waiting for have their caps: a handful of publishes per bulk copy, the last one
 * right after the last upload.
 *
 * Only files whose upload is queued or running hold a directory (`uploading`): a file still open for writing, or one
 * whose upload keeps failing, does not; and no directory is held longer than `maxHoldMs` in a row, so that other Tahoe
 * clients see new names at least that often during a long copy. Explicit flushes and the shutdown drain never wait.
 */
export class PublishHolds {
  private readonly holds = new Map<number, Hold>();

  constructor(
    private readonly maxHoldMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A publish of `dir` ran; `waiting`: the files it named but could not link yet. */
  published(dir: number, waiting: readonly number[]): void {
    if (waiting.length === 0) {
      this.holds.delete(dir);
      return;
    }
    const now = this.now();
    const previous = this.holds.get(dir);
    const since = previous !== undefined && previous.since + this.maxHoldMs > now ? previous.since : now;
    this.holds.set(dir, { waiting: new Set(waiting), since });
  }

  /** The directory is gone (or published clean some other way): nothing holds it. */
  forget(dir: number): void {
    this.holds.delete(dir);
  }

  /**
   * Until when a background publish of `dir` should wait; undefined: it may run now. `uploading(ino)` says whether an
   * upload of the file is queued or running.
   */
  heldUntil(dir: number, uploading: (ino: number) => boolean): number | undefined {
    const hold = this.holds.get(dir);
    if (hold === undefined) {
      return undefined;
    }
    const until = hold.since + this.maxHoldMs;
    if (until <= this.now()) {
      return undefined;
    }
    for (const ino of hold.waiting) {
      if (uploading(ino)) {
        return until;
      }
      // Uploaded (or no longer queued): it never holds this directory again; asking is O(1) per file and drain.
      hold.waiting.delete(ino);
    }
    return undefined;
  }

  /** Directories held now (for tests and diagnostics). */
  get size(): number {
    return this.holds.size;
  }
}
