import path from 'node:path';
import { type Command, Option } from 'commander';
import type { RiverFsConfig } from '../config/config.schema';
import { AdminApiClient, AdminApiError, type AdminTarget, adminBaseUrl, adminToken } from './admin-api.client';
import { printJson } from './admin-output';
import { parseTarget, riverfsMountpoints } from './admin-target';
import { CliError, exitCodeHelp, UsageError } from './exit-codes';
import { findRunningMount, type MountRuntime } from './mount-runtime';
import { addSettingOptions, configFromCommand } from './settings-options';

/** The options every command that talks to a running RiverFS has. */
export interface AdminApiOptions {
  url?: string;
  token?: string;
  json?: boolean;
  timeout?: string;
  mountpoint?: string;
}

const GROUP = 'Admin API:';

/** --url, --token, --timeout, --json (and with `paths`, --mountpoint), then every setting, then the exit codes. */
export function addAdminApiOptions(command: Command, features: { paths?: boolean } = {}): Command {
  command.addOption(
    new Option('--url <url>', 'base URL of the admin API [default: http://<listen setting>]').helpGroup(GROUP),
  );
  command.addOption(
    new Option(
      '--token <token>',
      'admin token [default: the adminToken setting (RIVERFS_ADMIN_TOKEN), else <data-dir>/admin-token]',
    ).helpGroup(GROUP),
  );
  command.addOption(
    new Option('--timeout <seconds>', 'longest wait for one answer of the admin API').default('30').helpGroup(GROUP),
  );
  if (features.paths) {
    command.addOption(
      new Option(
        '--mountpoint <dir>',
        'the mount point host paths are relative to [default: the RiverFS mount holding the path, if any]',
      ).helpGroup(GROUP),
    );
  }
  command.addOption(new Option('--json', 'print the answer as JSON on stdout (and nothing else there)'));
  addSettingOptions(command);
  command.addHelpText(
    'after',
    `\nPaths: /docs/a.txt is a path from the root of the filesystem; a path inside a RiverFS mount point\n` +
      `(/mnt/river/docs/a.txt, or docs/a.txt from inside /mnt/river) means that file; digits alone are an inode number.\n\n` +
      exitCodeHelp(),
  );
  return command;
}

export interface AdminContext {
  config: RiverFsConfig;
  client: AdminApiClient;
  json: boolean;
  /** Parses a path or inode argument (see parseTarget). */
  target: (argument: string | undefined) => Promise<AdminTarget>;
}

/** Whether the admin address or data directory was given (flag, environment, or a settings file): then it is used. */
function addressGiven(command: Command): boolean {
  const options = command.opts<Record<string, unknown>>();
  return (
    options.listen !== undefined ||
    options.dataDir !== undefined ||
    options.config !== undefined ||
    process.env.RIVERFS_LISTEN !== undefined ||
    process.env.RIVERFS_DATA_DIR !== undefined
  );
}

/** The running mount the command means, found from its runtime file (see mount-runtime.ts). */
function runningMountFor(command: Command, options: AdminApiOptions): MountRuntime | undefined {
  const cwd = process.cwd();
  const candidates: string[] = [];
  if (options.mountpoint !== undefined) {
    candidates.push(path.resolve(cwd, options.mountpoint));
  }
  const argument = command.args[0];
  if (argument !== undefined && argument !== '' && !/^\d+$/.test(argument)) {
    candidates.push(path.resolve(cwd, argument));
  }
  candidates.push(cwd);
  return findRunningMount(candidates);
}

/** The configuration, the client (URL and token resolved) and the target parser of an admin command. */
export function adminContext(command: Command, extra: { reveal?: boolean } = {}): AdminContext {
  const options = command.opts<AdminApiOptions>();
  const config = configFromCommand(command);
  const timeout = Number(options.timeout ?? '30');
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new UsageError(`--timeout ${options.timeout}: expected a number of seconds above 0`);
  }
  const running = options.url === undefined && !addressGiven(command) ? runningMountFor(command, options) : undefined;
  const tokenConfig =
    running === undefined
      ? config
      : {
          dataDir: running.dataDir,
          adminToken: config.adminToken ?? running.adminToken,
          adminRevealToken: config.adminRevealToken ?? running.adminRevealToken,
        };
  const token = adminToken(tokenConfig, { token: options.token, reveal: extra.reveal });
  const client = new AdminApiClient({
    baseUrl: running?.adminUrl ?? adminBaseUrl(config, options.url),
    token: token.token,
    tokenSource: token.source,
    timeoutMs: Math.round(timeout * 1000),
  });
  return {
    config,
    client,
    json: options.json === true,
    target: (argument) =>
      parseTarget(argument, { mountpoint: options.mountpoint, cwd: process.cwd(), mounts: riverfsMountpoints }),
  };
}

/**
 * Runs an admin command's work and turns its outcome into the exit code: the code it returns, or that of the
 * CliError it throws, reported on stderr (and as {"error": …} on stdout with --json). Anything else propagates to
 * main(), which reports it with its stack (exit 1).
 */
export async function runAdminAction(command: Command, work: () => Promise<number>): Promise<void> {
  const json = command.opts<AdminApiOptions>().json === true;
  try {
    process.exitCode = await work();
  } catch (error) {
    if (!(error instanceof CliError)) {
      throw error;
    }
    process.stderr.write(`riverfs: ${error.message}\n`);
    if (json) {
      printJson({
        error: {
          exitCode: error.exitCode,
          message: error.message,
          ...(error instanceof AdminApiError ? { status: error.status, problem: error.problem } : {}),
        },
      });
    }
    process.exitCode = error.exitCode;
  }
}
