import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

const MiB = 1024 * 1024;
const HEAP_FLAG = '--max-old-space-size';
/** Signals the launcher passes on to the gateway it runs (what stops a mount, and a closed terminal). */
const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** node's flag for a heap bound of `maxHeapBytes` (the maxHeap setting), in whole MiB as node takes it. */
export function heapFlag(maxHeapBytes: number): string {
  if (!Number.isFinite(maxHeapBytes) || maxHeapBytes < MiB) {
    throw new Error(`invalid heap bound ${maxHeapBytes}: at least 1 MiB`);
  }
  return `${HEAP_FLAG}=${Math.floor(maxHeapBytes / MiB)}`;
}

/**
 * Whether node was started with a heap bound already: on its command line or in NODE_OPTIONS. That one stands (an
 * operator's explicit node flag, or the launcher's own child).
 */
export function heapBoundGiven(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const given = (flag: string): boolean => flag === HEAP_FLAG || flag.startsWith(`${HEAP_FLAG}=`);
  return execArgv.some(given) || (nodeOptions ?? '').split(/\s+/).some(given);
}

/**
 * The gateway's environment: the launcher's, with glibc's malloc held to two arenas unless the operator chose a
 * number. glibc gives each thread that allocates under contention an arena of its own (up to 8 per core), and the
 * gateway's threads (libuv's pool, the FUSE session's) each kept tens of MiB that were freed but never returned: a
 * mount creating 100,000 files peaked at 575 MiB RSS, 416 MiB with two arenas (bench/README.md, "Big copy").
 */
export function gatewayEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? '2' };
}

/**
 * The launcher's half of a bounded `riverfs mount`. V8 fixes the heap's limit when the process starts (a later
 * `v8.setFlagsFromString` does not move it) and Node 20 cannot exec itself, so the launcher runs the same command
 * again in a child node started with the bound, and mirrors it: signals that stop a mount are passed on once (the
 * child has a process group of its own, so a terminal's Ctrl-C reaches it only this way), and the child's exit
 * (code, or the signal that ended it) becomes the launcher's. Without the bound V8 lets garbage pile up toward its
 * default limit (a quarter of the machine's memory, up to 4 GiB here) before it collects hard: the big copy's peak
 * RSS reached 2.4 GiB.
 */
export function runWithHeapBound(maxHeapBytes: number): Promise<number> {
  const child = spawn(process.execPath, [heapFlag(maxHeapBytes), ...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: gatewayEnvironment(process.env),
    detached: true,
  });
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  for (const signal of FORWARDED_SIGNALS) {
    process.on(signal, forward);
  }
  return new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const name of FORWARDED_SIGNALS) {
        process.removeListener(name, forward);
      }
      if (signal !== null) {
        // Ended by a signal (kill -9 of the gateway): the launcher ends the same way, as the gateway itself would.
        process.kill(process.pid, signal);
        resolve(128 + (os.constants.signals[signal] ?? 0));
        return;
      }
      resolve(code ?? 1);
    });
  });
}

/**
 * The child's half: when its launcher dies (kill -9, a crash), the gateway dies with it at once and the same way,
 * so that killing the process one started is a crash of RiverFS, whichever of the two it is.
 */
export function dieWithLauncher(): void {
  if (process.send === undefined) {
    return; // Not started by a launcher (node was given the bound on its own command line).
  }
  process.once('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  // The channel is only there to notice that: it must not keep the process alive.
  process.channel?.unref();
}

/**
 * The pid of the process serving a mount started as `riverfs mount` with pid `pid`: its launcher's child, or `pid`
 * itself when node was given the heap bound directly. For tests and the bench, which look at the gateway's memory,
 * sockets and lease.
 */
export function servingPid(pid: number): number {
  let children: string;
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  } catch {
    return pid;
  }
  // Its only child started with the bound and the same command: a gateway's own children (Tahoe nodes) are not.
  const launched = children
    .split(/\s+/)
    .filter((text) => text !== '')
    .filter((child) => {
      const args = readCmdline(Number(child));
      return args[1]?.startsWith(`${HEAP_FLAG}=`) === true && args.includes('mount');
    });
  return launched.length === 1 ? Number(launched[0]) : pid;
}

function readCmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}
