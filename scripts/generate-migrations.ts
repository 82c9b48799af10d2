/**
 * `npm run migrations:generate -- <VerbNoun>`: for each dialect, applies the existing migrations to a
 * scratch database, asks TypeORM for the SQL that would bring it to the entities, and writes it as
 * migrations/<dialect>/<timestamp>-<VerbNoun>.ts (Prettier-formatted), then rewrites that dialect's
 * index.ts. Review the SQL before committing: the generator only knows the schema, never the data.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import type { SqlDialect } from '../src/metadata/entities';
import { pendingSchemaChanges, renderMigration } from '../src/metadata/migration.util';
import { DIALECTS, scratchDatabase } from './scratch-database';

const MIGRATION_FILE = /^(\d{13})-([A-Z][A-Za-z0-9]*)\.ts$/;
const INDEX_EXPORT: Record<SqlDialect, string> = { mysql: 'mysqlMigrations', sqlite: 'sqliteMigrations' };
const INDEX_TITLE: Record<SqlDialect, string> = { mysql: 'MySQL/MariaDB', sqlite: 'SQLite' };

async function writeFormatted(file: string, source: string): Promise<void> {
  const options = (await prettier.resolveConfig(file)) ?? {};
  fs.writeFileSync(file, await prettier.format(source, { ...options, filepath: file }));
}

function indexSource(dialect: SqlDialect, directory: string): string {
  const migrations = fs
    .readdirSync(directory)
    .map((file) => MIGRATION_FILE.exec(file))
    .filter((match): match is RegExpExecArray => match !== null)
    .sort((a, b) => a[1].localeCompare(b[1]));
  const imports = migrations.map(
    ([file, timestamp, name]) => `import { ${name}${timestamp} } from './${file.replace(/\.ts$/, '')}';`,
  );
  const classes = migrations.map(([, timestamp, name]) => `${name}${timestamp}`);
  return `import type { MigrationInterface } from 'typeorm';
${imports.join('\n')}

/** Every ${INDEX_TITLE[dialect]} migration, oldest first; scripts/generate-migrations.ts rewrites this list. */
export const ${INDEX_EXPORT[dialect]}: (new () => MigrationInterface)[] = [${classes.join(', ')}];
`;
}

async function main(): Promise<number> {
  const name = process.argv[2];
  if (name === undefined || !/^[A-Z][A-Za-z0-9]*$/.test(name)) {
    console.error('usage: npm run migrations:generate -- <VerbNoun>   (e.g. AddInodeFlags)');
    return 2;
  }
  const timestamp = Date.now();
  let written = 0;
  for (const dialect of DIALECTS) {
    const scratch = await scratchDatabase(dialect);
    try {
      const diff = await pendingSchemaChanges(scratch.dataSource);
      if (diff.up.length === 0) {
        console.log(`${dialect}: no schema change, nothing written`);
        continue;
      }
      const directory = path.resolve('migrations', dialect);
      const file = path.join(directory, `${timestamp}-${name}.ts`);
      await writeFormatted(file, renderMigration(`${name}${timestamp}`, diff));
      await writeFormatted(path.join(directory, 'index.ts'), indexSource(dialect, directory));
      console.log(`${dialect}: wrote ${path.relative(process.cwd(), file)} (${diff.up.length} statements)`);
      written += 1;
    } finally {
      await scratch.dispose();
    }
  }
  return written > 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error('migrations:generate failed:', error);
    process.exitCode = 2;
  },
);
