import { type Command, Option } from 'commander';
import { loadConfig } from '../config/config.loader';
import { envName, type RiverFsConfig, SETTINGS } from '../config/config.schema';

/** Adds one flag per setting (see config.schema.ts) plus --config, so every command accepts the same settings. */
export function addSettingOptions(command: Command): Command {
  command.addOption(new Option('--config <file>', 'YAML file of settings').env('RIVERFS_CONFIG'));
  for (const spec of SETTINGS) {
    // Defaults and environment variables are applied by loadConfig, which validates them all at once, so the
    // option itself carries neither; the help text names both.
    const option = new Option(
      `--${spec.flag} <${spec.kind === 'enum' ? spec.choices!.join('|') : spec.kind}>`,
      `${spec.description} [default: ${spec.defaultText}] [env: ${envName(spec)}]`,
    );
    option.helpGroup('Settings:');
    command.addOption(option);
  }
  return command;
}

/** Loads and validates the configuration from this command's flags, the environment and the YAML file. */
export function configFromCommand(command: Command): RiverFsConfig {
  const options = command.opts<Record<string, unknown>>();
  const flags: Partial<Record<keyof RiverFsConfig, unknown>> = {};
  for (const spec of SETTINGS) {
    if (options[spec.key] !== undefined) {
      flags[spec.key] = options[spec.key];
    }
  }
  const configFile = typeof options.config === 'string' ? options.config : undefined;
  return loadConfig({ flags, configFile });
}
