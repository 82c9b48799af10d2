import { Command } from 'commander';
import { redactUrl } from '../config/config.loader';
import { runMigrations } from '../metadata';
import { EXIT } from './exit-codes';
import { addSettingOptions, configFromCommand } from './settings-options';

/** The `db` setting as it may be shown: a SQLite path as is, a server URL without its password. */
function describeDb(db: string): string {
  return db.startsWith('sqlite:') ? db : redactUrl(db);
}

/**
 * What went wrong, in one line. mysql2 reports a host name that resolves to several addresses as an
 * AggregateError with an empty message; its parts say what happened.
 */
function reasonOf(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') {
    return error.errors.map(reasonOf).join('; ');
  }
  if (error instanceof Error) {
    return error.message !== '' ? error.message : ((error as { code?: string }).code ?? error.name);
  }
  return String(error);
}

/**
 * The message with the password taken out. mysql2's messages do not quote it today, but this one goes to
 * terminals and logs, and nothing guarantees every driver error stays that discreet.
 */
function withoutPassword(message: string, db: string): string {
  const secrets: string[] = [];
  try {
    const { password } = new URL(db);
    if (password !== '') {
      // As written in the URL and as sent to the server.
      secrets.push(password, decodeURIComponent(password));
    }
  } catch {
    // A sqlite: path has no password; a malformed escape leaves the raw form in the list.
  }
  return secrets.reduce((text, secret) => text.split(secret).join('***'), message);
}

export function migrateCommand(): Command {
  return addSettingOptions(
    new Command('migrate')
      .description('Apply pending migrations to the metadata database (the db setting); prints each one applied')
      .option('--json', 'print the result as JSON: {"database", "applied": [names], "error"?}'),
  ).action(async (options: { json?: boolean }, command: Command) => {
    const config = configFromCommand(command);
    const database = describeDb(config.db);
    let applied: string[];
    try {
      // For sqlite: the parent directory is created (mode 0700) when missing.
      applied = await runMigrations(config.db);
    } catch (error) {
      const reason = withoutPassword(reasonOf(error), config.db);
      process.stderr.write(`riverfs: migrating the metadata database ${database} failed: ${reason}\n`);
      if (options.json) {
        process.stdout.write(JSON.stringify({ database, applied: [], error: reason }, null, 2) + '\n');
      }
      process.exitCode = EXIT.FAILURE;
      return;
    }
    if (options.json) {
      process.stdout.write(JSON.stringify({ database, applied }, null, 2) + '\n');
    } else if (applied.length === 0) {
      process.stdout.write(`schema up to date (${database})\n`);
    } else {
      process.stdout.write(applied.map((name) => `applied ${name}\n`).join(''));
      process.stdout.write(`${applied.length} migration(s) applied to ${database}\n`);
    }
  });
}
