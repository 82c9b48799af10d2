/** The longest the event loop may go without a turn while synchronous work (queries, hashing a listing) keeps it busy. */
export const MAX_BUSY_MS = 20;

let lastTurn = Date.now();
let turnWatch: NodeJS.Timeout | undefined;

/**
 * Gives the event loop a turn (FUSE calls, the admin API, timers) when it has not had one for MAX_BUSY_MS. With
 * better-sqlite3 every query runs synchronously and each `await` on one resumes as a microtask, so a loop of queries
 * (a publish of a 100,000-entry directory, a pull applying 100,000 changes) never let anything else run: the full
 * bench saw a 19 s event-loop delay, every FUSE call waiting that long. Long loops call this between their queries;
 * SQLite's operation lock (metadata-txn.util's Mutex) calls it before each operation.
 */
export async function yieldIfBusy(): Promise<void> {
  if (turnWatch === undefined) {
    // A timer runs only when the loop turns: its last run says when that was.
    turnWatch = setInterval(() => {
      lastTurn = Date.now();
    }, MAX_BUSY_MS / 2);
    turnWatch.unref();
  }
  if (Date.now() - lastTurn > MAX_BUSY_MS) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    lastTurn = Date.now();
  }
}
