/** Milliseconds since the Unix epoch. Injectable so that expiry can be tested without waiting. */
export interface Clock {
  now(): number;
}

/**
 * Monotonic, so that a wall-clock step (NTP, an operator's `date -s`) can never make a lease look valid for
 * longer than it is; anchored at the epoch so that the numbers still read as times.
 */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
};
