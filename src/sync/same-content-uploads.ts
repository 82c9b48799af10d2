/** What an upload of some content produced: its cap, and the SHA-256 of what it sent when a twin asks. */
export interface ContentUpload {
  cap: string;
  /**
   * The SHA-256 (hex) of every byte the upload sent, computed only when an upload with the same key waited for this
   * one (hashing every byte on the way out took 1.2 s of the event loop per GiB, for a comparison that is rare);
   * undefined when the content changed since, so that nothing can take the cap for it.
   */
  digest: () => Promise<string | undefined>;
}

/** How `SameContentUploads.run` ended: our own upload, or the cap of an identical upload that ran at the same time. */
export type SharedUpload = { cap: string; shared: boolean } | undefined;

/**
 * Makes content that is being uploaded already wait for that upload instead of starting a second PUT of the same
 * bytes. Tahoe's immutable uploads are convergent: the same bytes through the same client node get the same storage
 * index, and two uploads of it at once collide on the storage servers (each holds the other's shares "in progress"),
 * which Tahoe reports as an unhappy upload. Copies of one file closed together (cp -r of duplicates, a build writing
 * identical outputs) did exactly that and were retried after a backoff.
 *
 * Uploads are grouped by a cheap key (the size and the digest of the first block, which the upload reads first
 * anyway): only an upload with the same key waits, and once the running one has sent everything it compares the full
 * digests, so content that merely starts alike is still uploaded (after the wait, never concurrently with a twin).
 * Only uploads in flight are shared: a later upload of the same bytes is an ordinary PUT that Tahoe's convergence
 * settles without a collision.
 */
export class SameContentUploads {
  private readonly inFlight = new Map<string, Promise<ContentUpload | undefined>>();

  /** Keys of uploads running now (for tests and diagnostics). */
  get running(): number {
    return this.inFlight.size;
  }

  /**
   * Runs `upload` unless an upload with the same `key` is in flight; then waits for it and takes its cap when
   * `fullDigest()` (the digest of our own content, computed only when needed) matches the bytes it sent. An upload
   * that answers undefined (superseded by a write) or fails is not shared: the next one in line uploads.
   */
  async run(
    key: string,
    fullDigest: () => Promise<string | undefined>,
    upload: () => Promise<ContentUpload | undefined>,
    signal?: AbortSignal,
  ): Promise<SharedUpload> {
    for (;;) {
      const running = this.inFlight.get(key);
      if (running === undefined) {
        break;
      }
      // Its failure is reported to its own caller; here it only means there is no cap to share.
      const other = await running.catch(() => undefined);
      signal?.throwIfAborted();
      if (other !== undefined) {
        const ours = await fullDigest();
        if (ours === undefined) {
          return undefined;
        }
        const theirs = await other.digest().catch(() => undefined);
        if (theirs !== undefined && ours === theirs) {
          return { cap: other.cap, shared: true };
        }
        if (this.inFlight.get(key) === running) {
          break;
        }
        // Another waiter with this key started meanwhile: it may be our twin; wait for it too.
      }
    }
    const mine = upload();
    this.inFlight.set(key, mine);
    try {
      const result = await mine;
      return result === undefined ? undefined : { cap: result.cap, shared: false };
    } finally {
      if (this.inFlight.get(key) === mine) {
        this.inFlight.delete(key);
      }
    }
  }
}
