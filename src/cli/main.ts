import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { ConfigValidationError } from '../config/config.errors';
import { GridError } from '../grid/grid.errors';
import { fsckCommand } from './fsck.command';
import { gridCommand } from './grid.command';
import { configCommand } from './config.command';
import { mountCommand } from './mount.command';
import { ignoreClosedPipes } from './closed-pipe';
import { CliError, EXIT, exitCodeHelp } from './exit-codes';
import { inodeCommand } from './inode.command';
import { jobCommands } from './jobs.command';
import { migrateCommand } from './migrate.command';
import { packageVersion } from './package-version';
import { checkCommand } from './check.command';
import { leasesCommand } from './leases.command';
import { shareCommand } from './share.command';
import { statusCommand } from './status.command';

export function buildProgram(): Command {
  const program = new Command('riverfs')
    .description('RiverFS: a Tahoe-LAFS grid mounted as a POSIX filesystem')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(mountCommand());
  program.addCommand(gridCommand());
  program.addCommand(configCommand());
  program.addCommand(migrateCommand());
  program.addCommand(fsckCommand());
  program.addCommand(statusCommand());
  program.addCommand(inodeCommand());
  program.addCommand(shareCommand());
  program.addCommand(leasesCommand());
  program.addCommand(checkCommand());
  for (const command of jobCommands()) {
    program.addCommand(command);
  }
  program.addHelpText(
    'after',
    '\nstatus, inode, share, leases, check, flush, sync, warmup, evict and job talk to a running `riverfs mount` over its admin API\n' +
      '(--url, default http://<listen setting>; --token, default the adminToken setting or <data-dir>/admin-token).\n\n' +
      exitCodeHelp(),
  );
  return program;
}

export async function main(argv: string[]): Promise<number> {
  ignoreClosedPipes();
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with exit code 0; usage errors were already printed by commander.
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (error instanceof CliError) {
      process.stderr.write(`riverfs: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof ConfigValidationError) {
      process.stderr.write(`riverfs: ${error.message}\n`);
      return EXIT.USAGE;
    }
    if (error instanceof GridError) {
      process.stderr.write(`riverfs: ${error.message}\n`);
      return EXIT.FAILURE;
    }
    process.stderr.write(`riverfs: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT.FAILURE;
  }
}

if (require.main === module) {
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`riverfs: ${String(error)}\n`);
      process.exitCode = EXIT.FAILURE;
    },
  );
}
