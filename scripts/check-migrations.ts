/**
 * CI's migration drift check (`npm run migrations:check`): for MySQL/MariaDB and for SQLite, apply every
 * migration to an empty scratch database and ask TypeORM what it would still change to match the
 * entities. Anything at all means an entity changed without a migration; the statements are listed and
 * the exit code is 1.
 */
import { pendingSchemaChanges } from '../src/metadata/migration.util';
import { DIALECTS, scratchDatabase } from './scratch-database';

async function main(): Promise<number> {
  let drift = false;
  for (const dialect of DIALECTS) {
    const scratch = await scratchDatabase(dialect);
    try {
      const { up } = await pendingSchemaChanges(scratch.dataSource);
      if (up.length === 0) {
        console.log(`${dialect}: migrations match the entities`);
      } else {
        drift = true;
        console.error(`${dialect}: the entities differ from the migrations (${scratch.where}); missing statements:`);
        for (const statement of up) {
          console.error(`  ${statement};`);
        }
      }
    } finally {
      await scratch.dispose();
    }
  }
  if (drift) {
    console.error('Generate the missing migrations with: npm run migrations:generate -- <VerbNoun>');
  }
  return drift ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error('migrations:check failed:', error);
    process.exitCode = 2;
  },
);
