import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mysqlMigrations } from '../../migrations/mysql';
import { sqliteMigrations } from '../../migrations/sqlite';
import { runCli } from '../support/cli.helper';
import { createTestDatabase, type TestDatabase } from '../support/mariadb.helper';

/** The names TypeORM records, from the migration classes themselves, so a new migration needs no edit here. */
function namesOf(migrations: (new () => { name?: string })[]): string[] {
  return migrations.map((migration) => new migration().name ?? migration.name);
}

describe('riverfs migrate', () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-cli-migrate-'));
  // Keeps the CLI away from the developer's own data directory.
  const env = { RIVERFS_DATA_DIR: path.join(directory, 'data') };

  afterAll(() => {
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it('should create a new SQLite database in a private directory, then find it up to date', async () => {
    const parent = path.join(directory, 'fresh', 'nested');
    const db = `sqlite:${path.join(parent, 'metadata.sqlite')}`;

    const first = await runCli(['migrate', '--db', db], env);
    const second = await runCli(['migrate', '--db', db], env);

    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toBe(
      namesOf(sqliteMigrations)
        .map((name) => `applied ${name}\n`)
        .join('') + `${sqliteMigrations.length} migration(s) applied to ${db}\n`,
    );
    expect(fs.statSync(parent).mode & 0o777).toBe(0o700);
    expect(second).toEqual({ code: 0, stdout: `schema up to date (${db})\n`, stderr: '' });
  });

  describe('on MariaDB', () => {
    let database: TestDatabase;

    beforeAll(async () => {
      database = await createTestDatabase('climigrate');
    });

    afterAll(async () => {
      await database?.drop();
    });

    it('should apply every migration to a new database, then find it up to date, in text and JSON', async () => {
      const first = await runCli(['migrate', '--db', database.url, '--json'], env);
      const second = await runCli(['migrate', '--db', database.url], env);
      const third = await runCli(['migrate', '--db', database.url, '--json'], env);

      expect(first).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(first.stdout)).toEqual({ database: database.url, applied: namesOf(mysqlMigrations) });
      expect(second).toEqual({ code: 0, stdout: `schema up to date (${database.url})\n`, stderr: '' });
      expect(third.code).toBe(0);
      expect(JSON.parse(third.stdout)).toEqual({ database: database.url, applied: [] });
    });
  });

  it('should exit 1 naming an unreachable server by its URL without the password', async () => {
    const db = 'mysql://root:secret@127.0.0.1:1/x';
    const shown = 'mysql://root:***@127.0.0.1:1/x';

    const text = await runCli(['migrate', '--db', db], env);
    const json = await runCli(['migrate', '--db', db, '--json'], env);

    expect(text.code).toBe(1);
    expect(text.stdout).toBe('');
    expect(text.stderr).toMatch(
      /^riverfs: migrating the metadata database mysql:\/\/root:\*\*\*@127\.0\.0\.1:1\/x failed: .*ECONNREFUSED/,
    );
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({
      database: shown,
      applied: [],
      error: expect.stringContaining('ECONNREFUSED'),
    });
    expect([text.stdout, text.stderr, json.stdout, json.stderr].join('\n')).not.toContain('secret');
  });
});
