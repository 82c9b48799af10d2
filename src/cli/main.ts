import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { ConfigValidationError } from '../config/config.errors';
import { GridError } from '../grid/grid.errors';
import { gridCommand } from './grid.command';
import { configCommand } from './config.command';
import { mountCommand } from './mount.command';
import { EXIT } from './exit-codes';
import { migrateCommand } from './migrate.command';
import { packageVersion } from './package-version';

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
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with exit code 0; usage errors were already printed by commander.
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
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
