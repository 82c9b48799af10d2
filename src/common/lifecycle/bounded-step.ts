/** Where a bounded step reports a failure or an overrun. */
export interface StepLog {
  warn(message: string): void;
}

export type StepOutcome<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Runs one step of a shutdown (or any sequence that must reach its end) with a time bound: a step that throws or
 * overruns is logged and reported as not done, so the caller goes on with the next step instead of hanging or
 * skipping the rest. An overrunning step is not cancelled (most cannot be): it keeps running in the background,
 * and the process exit that ends the shutdown ends it too.
 */
export async function boundedStep<T>(
  name: string,
  timeoutMs: number,
  log: StepLog,
  step: () => Promise<T>,
): Promise<StepOutcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<StepOutcome<T>>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, reason: `did not finish within ${formatSeconds(timeoutMs)}` }),
      Math.max(0, timeoutMs),
    );
  });
  const run = (async (): Promise<StepOutcome<T>> => {
    try {
      return { ok: true, value: await step() };
    } catch (error) {
      return { ok: false, reason: `failed: ${error instanceof Error ? error.message : String(error)}` };
    }
  })();
  try {
    const outcome = await Promise.race([run, overrun]);
    if (!outcome.ok) {
      log.warn(`${name} ${outcome.reason}; going on`);
    }
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** The bound of a shutdown step that only closes something (a connection, a file, a timer). */
export const SHUTDOWN_STEP_MS = 5_000;
