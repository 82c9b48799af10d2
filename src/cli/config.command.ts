import { Command } from 'commander';
import { redactConfig } from '../config/config.loader';
import { addSettingOptions, configFromCommand } from './settings-options';

export function configCommand(): Command {
  return addSettingOptions(
    new Command('config').description('Validate the configuration and print it with secrets redacted'),
  ).action((_options: unknown, command: Command) => {
    const config = configFromCommand(command);
    process.stdout.write(JSON.stringify(redactConfig(config), null, 2) + '\n');
  });
}
