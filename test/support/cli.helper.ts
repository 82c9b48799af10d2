import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { PASSED_SETTINGS } from './fuse-mount.helper';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const BIN = path.join(__dirname, '..', '..', 'bin', 'riverfs.js');

function cliEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('RIVERFS_') || PASSED_SETTINGS.has(name)),
  );
  return { ...base, ...env };
}

/** Starts the built `riverfs` command without waiting for it (for tests that kill it). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { env: cliEnv(env), stdio: 'ignore' });
}

/** Runs the built `riverfs` command (npm test builds it first) with a clean RIVERFS_* environment plus `env`. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 240_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A `riverfs` command running in the background, its output readable while it runs. */
export interface RunningCli {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves when it has exited, with everything it printed. */
  exited: Promise<CliResult>;
}

/** Starts the built `riverfs` command and collects its output as it comes (for tests that watch it, or signal it). */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 240_000): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
  };
}
