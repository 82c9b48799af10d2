import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a short command to completion, capturing its output (for create-* and pip, never for long-lived nodes). */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.on('error', (error) => {
      if (timer) {
        clearTimeout(timer);
      }
      reject(error);
    });
    child.on('close', (code) => {
      if (timer) {
        clearTimeout(timer);
      }
      resolve({ code, stdout, stderr });
    });
  });
}

/** True when a process with this pid exists and its command line mentions `mustMention` (guards against pid reuse). */
/** The command line of a live process (not a zombie: it has exited and only waits to be reaped), or undefined. */
export function liveProcessArgs(pid: number): string[] | undefined {
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X' ? undefined : cmdline.split('\0');
  } catch {
    return undefined;
  }
}

/** True when a process with this pid exists and its command line mentions `mustMention` (guards against pid reuse). */
export function isProcessAlive(pid: number, mustMention?: string): boolean {
  const args = liveProcessArgs(pid);
  return (
    args !== undefined &&
    (mustMention === undefined || args.some((arg) => arg === mustMention || arg.startsWith(mustMention)))
  );
}

/** An unused TCP port on 127.0.0.1, chosen by the kernel. */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') {
          resolve(address.port);
        } else {
          reject(new Error('could not determine a free port'));
        }
      });
    });
  });
}

export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** Polls `probe` until it returns a value other than undefined, or fails with `describeTimeout()` at the deadline. */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  options: {
    timeoutMs: number;
    /** Between probes; a function of the time waited so far to probe less often the longer it takes. */
    intervalMs?: number | ((waitedMs: number) => number);
    describeTimeout: () => string;
  },
): Promise<T> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const intervalOption = options.intervalMs ?? 200;
  const intervalOf = typeof intervalOption === 'number' ? () => intervalOption : intervalOption;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() >= deadline) {
      throw new Error(options.describeTimeout());
    }
    await new Promise((resolve) => setTimeout(resolve, intervalOf(Date.now() - started)));
  }
}

/** The last lines of a log file, for error messages that must say why a node did not come up. */
export function tailFile(file: string, lines = 20): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
