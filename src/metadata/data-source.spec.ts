import { createDataSource, parseDbUrl } from './data-source';

describe('parseDbUrl', () => {
  it('should read sqlite paths and mysql or mariadb URLs', () => {
    expect(parseDbUrl('sqlite:/var/lib/riverfs/db.sqlite')).toEqual({
      dialect: 'sqlite',
      file: '/var/lib/riverfs/db.sqlite',
    });
    expect(parseDbUrl('sqlite:///abs/db.sqlite')).toEqual({ dialect: 'sqlite', file: '/abs/db.sqlite' });
    expect(parseDbUrl('mariadb://u:p@db:3307/riverfs')).toMatchObject({ dialect: 'mysql' });
  });

  it('should refuse relative sqlite paths, other schemes and URLs without a database', () => {
    expect(() => parseDbUrl('sqlite:relative.sqlite')).toThrow(/absolute/);
    expect(() => parseDbUrl('postgres://h/db')).toThrow(/scheme/);
    expect(() => parseDbUrl('mysql://h:3306/')).toThrow(/no database/);
  });
});

describe('createDataSource', () => {
  it('should configure MySQL for READ COMMITTED with decoded credentials and never synchronize', () => {
    const options = createDataSource('mysql://r%40ot:p%3Ass@db.example:3307/river').options as unknown as Record<
      string,
      unknown
    >;

    expect(options).toMatchObject({
      type: 'mysql',
      host: 'db.example',
      port: 3307,
      username: 'r@ot',
      password: 'p:ss',
      database: 'river',
      isolationLevel: 'READ COMMITTED',
      synchronize: false,
      migrationsRun: false,
    });
    expect((options.migrations as unknown[]).length).toBeGreaterThan(0);
  });

  it('should configure SQLite with WAL, a busy timeout and its own migrations', () => {
    const options = createDataSource('sqlite:/tmp/x.sqlite').options as unknown as Record<string, unknown>;

    expect(options).toMatchObject({
      type: 'better-sqlite3',
      database: '/tmp/x.sqlite',
      enableWAL: true,
      timeout: 5000,
    });
    expect(options.migrations).not.toBe(createDataSource('mysql://h/db').options.migrations);
  });
});
