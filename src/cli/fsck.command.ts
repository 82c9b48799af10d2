import { Command } from 'commander';
import type { FsckFlags } from './fsck-runner';
import { addSettingOptions, configFromCommand } from './settings-options';

export function fsckCommand(): Command {
  return addSettingOptions(
    new Command('fsck')
      .description(
        'Compare the metadata database with the Tahoe tree under the root cap and list the differences (exit 1 when ' +
          'there are some); with --rebuild, make a new database from the tree alone',
      )
      .option('--rebuild', 'recreate the metadata database from the Tahoe tree (the mount must not be running)')
      .option(
        '--force',
        'with --rebuild: replace a database that already holds a filesystem (SQLite: moved aside; MySQL: its tables dropped)',
      )
      .option('--json', 'print the report as JSON'),
  ).action(async (flags: FsckFlags, command: Command) => {
    const config = configFromCommand(command);
    const { runFsck } = await import('./fsck-runner');
    process.exitCode = await runFsck(config, flags);
  });
}
