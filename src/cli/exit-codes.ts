/** Exit codes scripts can rely on. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  /** Invalid configuration or command line: nothing was started. */
  USAGE: 2,
  /** The thing asked about is not running or not ready (as `systemctl status` uses 3). */
  NOT_RUNNING: 3,
} as const;
