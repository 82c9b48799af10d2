interface Hold {
  /** Files the directory's last publish could not link yet (no cap: their upload had not completed). */
  waiting: Set<number>;
  /** When this run of holds began: no background publish of the directory is held longer than the limit past it. */
  since: number;
  /** How long the directory's last publish took (listing and set_children), in ms. */
  costMs: number;
}

/**
 * Publishes of held directories may keep the publish slots busy about this share of the time (1 / HOLD_COST_FACTOR):
 * a round of publishing every held directory once takes (sum of their publish times / publish slots), and a held
 * directory waits at least this many rounds' time before it is published again with files still uploading.
 */
const HOLD_COST_FACTOR = 10;

/**
 * Keeps a directory's background publishes from running while files it names are still uploading. Tahoe rewrites the
 * whole dirnode on every publish, and a publish scheduled after each upload (even spaced by the last publish's
 * duration) made a directory receiving N new files cost a publish every second or two for the whole drain, each one
 * rewriting a dirnode of up to N entries and taking the client node from the uploads. Held, the directory is published
 * once the files its last publish was waiting for have their caps: a handful of publishes per bulk copy, the last one
 * right after the last upload.
 *
 * Only files whose upload is queued or running hold a directory (`uploading`): a file still open for writing, or one
 * whose upload keeps failing, does not. No directory is held longer in a row than the hold limit, so that other Tahoe
 * clients see new names during a long copy: `minHoldMs`, or longer when publishing the held directories costs more
 * than a tenth of the publish slots' time. A copy spread over many directories keeps them all waiting on uploads for
 * the whole drain; with a fixed 15 s limit each was published every 15 s (10,000 files in 100 directories: 703
 * publishes and 711 listings in the first 2.5 minutes of the drain, the two publish slots never idle). Explicit
 * flushes and the shutdown drain never wait.
 */
export class PublishHolds {
  private readonly holds = new Map<number, Hold>();
  /** Sum of `costMs` over `holds`. */
  private heldCostMs = 0;

  constructor(
    private readonly minHoldMs: number,
    private readonly publishSlots: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A publish of `dir` ran and took `tookMs`; `waiting`: the files it named but could not link yet (their uploads
   * had not completed).
   */
  published(dir: number, waiting: readonly number[], tookMs: number): void {
    const previous = this.holds.get(dir);
    this.forget(dir);
    if (waiting.length === 0) {
      return;
    }
    const now = this.now();
    const since = previous !== undefined && previous.since + this.holdLimitMs() > now ? previous.since : now;
    this.holds.set(dir, { waiting: new Set(waiting), since, costMs: tookMs });
    this.heldCostMs += tookMs;
  }

  /** The directory is gone (or published clean some other way): nothing holds it. */
  forget(dir: number): void {
    const hold = this.holds.get(dir);
    if (hold !== undefined) {
      this.holds.delete(dir);
      this.heldCostMs -= hold.costMs;
    }
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
    const until = hold.since + this.holdLimitMs();
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

  /** The longest a directory is held in a row now (see the class comment). */
  holdLimitMs(): number {
    return Math.max(this.minHoldMs, (HOLD_COST_FACTOR * this.heldCostMs) / Math.max(1, this.publishSlots));
  }

  /** Directories held now (for tests and diagnostics). */
  get size(): number {
    return this.holds.size;
  }
}
