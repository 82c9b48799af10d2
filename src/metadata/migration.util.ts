import type { DataSource } from 'typeorm';

export interface SchemaDiff {
  up: string[];
  down: string[];
}

/**
 * The SQL TypeORM would run to bring the connected database to the entities, and back. Empty after all
 * migrations ran means the migrations match the entities; anything else is drift (an entity changed
 * without a migration).
 */
export async function pendingSchemaChanges(dataSource: DataSource): Promise<SchemaDiff> {
  const sql = await dataSource.driver.createSchemaBuilder().log();
  return {
    up: sql.upQueries.map((query) => query.query),
    down: sql.downQueries.map((query) => query.query),
  };
}

function quote(statement: string): string {
  return '`' + statement.replace(/\\/g, '\\\\').replace(/`/g, '\\`').replace(/\$\{/g, '\\${') + '`';
}

/**
 * Source of a migration class in our style (what `typeorm migration:generate` writes, with typed imports
 * and the statements of `down()` in reverse order).
 */
export function renderMigration(className: string, diff: SchemaDiff): string {
  const body = (statements: string[]): string =>
    statements.map((statement) => `    await queryRunner.query(${quote(statement)});`).join('\n');
  return `import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ${className} implements MigrationInterface {
  name = '${className}';

  public async up(queryRunner: QueryRunner): Promise<void> {
${body(diff.up)}
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
${body([...diff.down].reverse())}
  }
}
`;
}
