/** Exit codes scripts can rely on. `EXIT_CODE_TABLE` below says when each is used; README and --help quote it. */
export const EXIT = {
  OK: 0,
  /** The work failed: the server answered 5xx, a job ended failed or cancelled, or something unexpected. */
  FAILURE: 1,
  /**
   * Invalid configuration or command line, or a request the server refused as invalid (4xx), or (mount) another
   * gateway holds the filesystem lease: nothing was done.
   */
  USAGE: 2,
  /** The thing asked about is not running or not ready (as `systemctl status` uses 3): connection refused. */
  NOT_RUNNING: 3,
  /** The path, inode or job asked about does not exist (404). */
  NOT_FOUND: 4,
  /** The admin API refused the token (401), or the token may not do this (403, e.g. revealing caps). */
  UNAUTHORIZED: 5,
  /** Interrupted (Ctrl-C) while waiting for a job; the server was asked to cancel it. 128 + SIGINT. */
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Every exit code with its meaning, in the order shown by `riverfs --help` and the README. */
export const EXIT_CODE_TABLE: readonly { code: ExitCode; meaning: string }[] = [
  { code: EXIT.OK, meaning: 'success (status: the gateway is ready)' },
  { code: EXIT.FAILURE, meaning: 'failure: the server answered 5xx, or a job failed or was cancelled' },
  {
    code: EXIT.USAGE,
    meaning:
      'usage or configuration error, or a request the server refused (400, 409, 429…); mount: another gateway holds the filesystem lease',
  },
  { code: EXIT.NOT_RUNNING, meaning: 'not running: the admin API cannot be reached (status: or is not ready)' },
  { code: EXIT.NOT_FOUND, meaning: 'not found: no such path, inode or job (404)' },
  { code: EXIT.UNAUTHORIZED, meaning: 'unauthorized: wrong or missing token (401), or not allowed (403)' },
  { code: EXIT.INTERRUPTED, meaning: 'interrupted by Ctrl-C while waiting; the job was asked to cancel' },
];

/** The table as `riverfs --help` shows it. */
export function exitCodeHelp(): string {
  return [
    'Exit codes:',
    ...EXIT_CODE_TABLE.map(({ code, meaning }) => `  ${String(code).padStart(3)}  ${meaning}`),
  ].join('\n');
}

/** An error the CLI reports in one message and ends with `exitCode`; main() prints it without a stack. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A command line that cannot be acted on (exit 2). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.USAGE);
    this.name = 'UsageError';
  }
}
