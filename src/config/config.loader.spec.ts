import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, parseBytes, parseListen, redactConfig, redactUrl, secretFileExposure } from './config.loader';
import { ConfigValidationError } from './config.errors';

const DIRCAP = 'URI:DIR2:' + 'a'.repeat(26) + ':' + 'b'.repeat(52);

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigValidationError) {
      return error.problems;
    }
    throw error;
  }
  throw new Error('expected a ConfigValidationError');
}

describe('loadConfig', () => {
  const env = { HOME: '/home/river' };

  it('should give every setting its documented default', () => {
    const config = loadConfig({ env, cwd: '/' });
    expect(config.dataDir).toBe('/home/river/.local/share/riverfs');
    expect(config.db).toBe('sqlite:/home/river/.local/share/riverfs/riverfs.sqlite');
    expect(config.gridDir).toBe('/home/river/.local/share/riverfs/grid');
    expect(config.cacheDir).toBe('/home/river/.local/share/riverfs/cache');
    expect(config.tahoeVenv).toBe('/home/river/.cache/riverfs/tahoe-lafs-1.20.0');
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 7878 });
    expect(config.cacheSize).toBe(10 * 1024 ** 3);
    expect(config.mode).toBe('writeback');
    expect([config.gridStorageNodes, config.gridSharesNeeded, config.gridSharesHappy, config.gridSharesTotal]).toEqual([
      3, 2, 3, 3,
    ]);
    expect(config.redis).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('should prefer flags over the environment over the YAML file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-config-'));
    try {
      const file = path.join(dir, 'riverfs.yaml');
      fs.writeFileSync(file, 'cache-size: 1GiB\nmode: writethrough\nlogLevel: debug\n');
      const config = loadConfig({
        env: { ...env, RIVERFS_CACHE_SIZE: '2GiB', RIVERFS_MODE: 'writeback' },
        flags: { cacheSize: '3GiB' },
        configFile: file,
        cwd: '/',
      });
      expect(config.cacheSize).toBe(3 * 1024 ** 3);
      expect(config.mode).toBe('writeback');
      expect(config.logLevel).toBe('debug');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('should report every invalid setting at once, each by name and source', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: { ...env, RIVERFS_CACHE_SIZE: 'lots', RIVERFS_MODE: 'sometimes', RIVERFS_CACHESIZE: '1' },
        flags: { listen: 'localhost', tahoeUrl: 'ftp://x', gridSharesNeeded: '4' },
        cwd: '/',
      }),
    );
    const text = problems.join('\n');
    expect(text).toMatch(/cacheSize \(RIVERFS_CACHE_SIZE\)/);
    expect(text).toMatch(/mode \(RIVERFS_MODE\).*writeback, writethrough/);
    expect(text).toMatch(/RIVERFS_CACHESIZE: unknown environment variable/);
    expect(text).toMatch(/listen \(--listen\)/);
    expect(text).toMatch(/tahoeUrl \(--tahoe-url\)/);
    expect(text).toMatch(/gridSharesNeeded \(4\) must not exceed gridSharesTotal \(3\)/);
    expect(problems.length).toBeGreaterThanOrEqual(6);
  });

  it('should never repeat a secret value in an error', () => {
    const secretCap = 'URI:DIR2:secretsecret';
    const problems = problemsOf(() =>
      loadConfig({ env, flags: { rootCap: secretCap, adminToken: 'short' }, cwd: '/' }),
    );
    expect(problems.join('\n')).not.toContain('secretsecret');
    expect(problems.join('\n')).not.toContain('short');
    expect(problems).toHaveLength(2);
  });

  it('should accept a directory write cap, a MariaDB URL and a Redis URL', () => {
    const config = loadConfig({
      env: { ...env, RIVERFS_DB: 'mysql://root:pw@127.0.0.1:3306/riverfs', RIVERFS_REDIS: 'redis://127.0.0.1:6379/2' },
      flags: { rootCap: DIRCAP },
      cwd: '/',
    });
    expect(config.rootCap).toBe(DIRCAP);
    expect(config.db).toBe('mysql://root:pw@127.0.0.1:3306/riverfs');
    expect(config.redis).toBe('redis://127.0.0.1:6379/2');
  });

  it('should reject a MariaDB URL without a database name', () => {
    const problems = problemsOf(() => loadConfig({ env, flags: { db: 'mysql://root@localhost' }, cwd: '/' }));
    expect(problems[0]).toMatch(/^db \(--db\): names no database/);
  });

  it('should resolve relative paths against the working directory', () => {
    const config = loadConfig({ env, flags: { dataDir: 'data', db: 'sqlite:meta.db' }, cwd: '/srv/river' });
    expect(config.dataDir).toBe('/srv/river/data');
    expect(config.db).toBe('sqlite:/srv/river/meta.db');
    expect(config.gridDir).toBe('/srv/river/data/grid');
  });

  it('should report unknown keys and bad YAML in the configuration file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-config-'));
    try {
      const unknown = path.join(dir, 'unknown.yaml');
      fs.writeFileSync(unknown, 'cache-sise: 1GiB\n');
      expect(problemsOf(() => loadConfig({ env, configFile: unknown, cwd: '/' }))[0]).toMatch(
        /unknown setting "cache-sise"/,
      );
      const broken = path.join(dir, 'broken.yaml');
      fs.writeFileSync(broken, 'mode: [unclosed\n');
      expect(problemsOf(() => loadConfig({ env, configFile: broken, cwd: '/' }))[0]).toMatch(/invalid YAML/);
      expect(problemsOf(() => loadConfig({ env, configFile: path.join(dir, 'absent.yaml'), cwd: '/' }))[0]).toMatch(
        /ENOENT/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('should allow happy to exceed the local storage nodes when an external Tahoe node is used', () => {
    const config = loadConfig({
      env,
      flags: { tahoeUrl: 'http://127.0.0.1:3456', gridSharesHappy: '7', gridSharesTotal: '10' },
      cwd: '/',
    });
    expect(config.gridSharesHappy).toBe(7);
  });
});

describe('root cap from a file (--root-cap-file)', () => {
  const env = { HOME: '/home/river' };
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-capfile-'));
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function capFile(text: string, mode = 0o600): string {
    const file = path.join(dir, 'root-cap');
    fs.writeFileSync(file, text, { mode });
    fs.chmodSync(file, mode);
    return file;
  }

  it('should read the cap from the file, its trailing newline trimmed, and resolve the path against the working directory', () => {
    capFile(`${DIRCAP}\n`);
    const config = loadConfig({ env, flags: { rootCapFile: 'root-cap' }, cwd: dir });
    expect(config.rootCap).toBe(DIRCAP);
    expect(config.rootCapFile).toBe(path.join(dir, 'root-cap'));
    expect(redactConfig(config).rootCap).toBe('<redacted>');
  });

  it('should read it from RIVERFS_ROOT_CAP_FILE too', () => {
    const file = capFile(`  ${DIRCAP}\r\n`);
    expect(loadConfig({ env: { ...env, RIVERFS_ROOT_CAP_FILE: file }, cwd: '/' }).rootCap).toBe(DIRCAP);
  });

  it('should name a missing file, an empty one and one without a directory write cap, never showing its content', () => {
    const missing = path.join(dir, 'nowhere');
    expect(problemsOf(() => loadConfig({ env, flags: { rootCapFile: missing }, cwd: '/' }))).toEqual([
      `rootCapFile (--root-cap-file): ${missing}: no such file`,
    ]);
    const empty = capFile('\n');
    expect(problemsOf(() => loadConfig({ env, flags: { rootCapFile: empty }, cwd: '/' }))).toEqual([
      `rootCapFile (--root-cap-file): ${empty} is empty`,
    ]);
    const readCap = DIRCAP.replace('URI:DIR2:', 'URI:DIR2-RO:');
    const wrong = capFile(`${readCap}\n`);
    const problems = problemsOf(() => loadConfig({ env, flags: { rootCapFile: wrong }, cwd: '/' }));
    expect(problems).toEqual([
      `rootCapFile (--root-cap-file): ${wrong} does not hold a directory write cap (URI:DIR2:… or URI:DIR2-MDMF:…)`,
    ]);
    expect(problems.join()).not.toContain(readCap);
  });

  it('should refuse a cap given both on the command line (or the environment) and in a file, naming both', () => {
    const file = capFile(`${DIRCAP}\n`);
    expect(problemsOf(() => loadConfig({ env, flags: { rootCap: DIRCAP, rootCapFile: file }, cwd: '/' }))).toEqual([
      'rootCap (--root-cap) and rootCapFile (--root-cap-file) are both set: give the cap one way',
    ]);
    expect(
      problemsOf(() =>
        loadConfig({ env: { ...env, RIVERFS_ROOT_CAP: DIRCAP }, flags: { rootCapFile: file }, cwd: '/' }),
      ),
    ).toEqual(['rootCap (RIVERFS_ROOT_CAP) and rootCapFile (--root-cap-file) are both set: give the cap one way']);
  });

  it('should say when a secret file may be read by group or others, and not when it is private', () => {
    expect(secretFileExposure(capFile(`${DIRCAP}\n`, 0o600))).toBeUndefined();
    expect(secretFileExposure(capFile(`${DIRCAP}\n`, 0o640))).toContain('may be read by its group');
    expect(secretFileExposure(capFile(`${DIRCAP}\n`, 0o644))).toContain('may be read by every local user');
  });
});

describe('admin HTTP settings', () => {
  const env = { HOME: '/home/river' };

  it('should default to token-free metrics on loopback, a 64 KiB body limit and generated tokens', () => {
    const config = loadConfig({ env, cwd: '/' });
    expect(config.metricsAuth).toBe('auto');
    expect(config.httpBodyLimit).toBe(64 * 1024);
    expect(config.adminToken).toBeUndefined();
    expect(config.adminRevealToken).toBeUndefined();
  });

  it('should read the metrics mode, the body limit and a reveal token', () => {
    const config = loadConfig({
      env: { ...env, RIVERFS_METRICS_AUTH: 'on', RIVERFS_HTTP_BODY_LIMIT: '1MiB' },
      flags: { adminRevealToken: 'r'.repeat(20), adminToken: 'a'.repeat(20) },
      cwd: '/',
    });
    expect(config.metricsAuth).toBe('on');
    expect(config.httpBodyLimit).toBe(1024 * 1024);
    expect(config.adminRevealToken).toBe('r'.repeat(20));
  });

  it('should reject a short reveal token, a reveal token equal to the admin token and a bad limit, hiding the tokens', () => {
    const shortProblems = problemsOf(() =>
      loadConfig({
        env: { ...env, RIVERFS_METRICS_AUTH: 'maybe', RIVERFS_HTTP_BODY_LIMIT: '100' },
        flags: { adminRevealToken: 'tiny-secret' },
        cwd: '/',
      }),
    );
    expect(shortProblems.join('\n')).toMatch(/adminRevealToken \(--admin-reveal-token\): must be at least 16/);
    expect(shortProblems.join('\n')).toMatch(/metricsAuth \(RIVERFS_METRICS_AUTH\).*auto, on, off/);
    expect(shortProblems.join('\n')).toMatch(/httpBodyLimit \(RIVERFS_HTTP_BODY_LIMIT\).*below the minimum 1024/);
    expect(shortProblems.join('\n')).not.toContain('tiny-secret');
    const same = 's'.repeat(24);
    const sameProblems = problemsOf(() =>
      loadConfig({ env, flags: { adminToken: same, adminRevealToken: same }, cwd: '/' }),
    );
    expect(sameProblems).toEqual(['adminRevealToken must differ from adminToken']);
  });
});

describe('redaction', () => {
  it('should hide secrets and URL passwords but keep the rest readable', () => {
    const config = loadConfig({
      env: { HOME: '/h', RIVERFS_DB: 'mysql://root:hunter2@db:3306/riverfs', RIVERFS_ADMIN_TOKEN: 'x'.repeat(32) },
      flags: { rootCap: DIRCAP },
      cwd: '/',
    });
    const shown = JSON.stringify(redactConfig(config));
    expect(shown).not.toContain('hunter2');
    expect(shown).not.toContain(DIRCAP);
    expect(shown).not.toContain('x'.repeat(32));
    expect(shown).toContain('mysql://root:***@db:3306/riverfs');
    expect(redactUrl('redis://:pw@host:6379')).toBe('redis://:***@host:6379');
  });
});

describe('value parsers', () => {
  it('should read binary and decimal sizes', () => {
    expect(parseBytes('512MiB')).toBe(512 * 1024 ** 2);
    expect(parseBytes('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseBytes('10GB')).toBe(10 * 1000 ** 3);
    expect(parseBytes('4096')).toBe(4096);
    expect(parseBytes('12XB')).toBeUndefined();
    expect(parseBytes('-1G')).toBeUndefined();
  });

  it('should read host:port including IPv6 literals', () => {
    expect(parseListen('0.0.0.0:80')).toEqual({ host: '0.0.0.0', port: 80 });
    expect(parseListen('[::1]:7878')).toEqual({ host: '::1', port: 7878 });
    expect(parseListen('host:70000')).toBeUndefined();
    expect(parseListen('7878')).toBeUndefined();
  });
});
