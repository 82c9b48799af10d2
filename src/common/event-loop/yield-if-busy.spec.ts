import { MAX_BUSY_MS, yieldIfBusy } from './yield-if-busy';

describe('yieldIfBusy', () => {
  it('should let the event loop turn after 20 ms of work without a turn, and cost nothing otherwise', async () => {
    let turned = false;
    setImmediate(() => {
      turned = true;
    });
    // Synchronous work, as a run of better-sqlite3 queries is: nothing else can run meanwhile.
    for (const started = Date.now(); Date.now() - started <= MAX_BUSY_MS * 2;) {
      // busy
    }
    await yieldIfBusy();
    expect(turned).toBe(true);

    let turnedAgain = false;
    setImmediate(() => {
      turnedAgain = true;
    });
    await yieldIfBusy();
    expect(turnedAgain).toBe(false);
  });
});
