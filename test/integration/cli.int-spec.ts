import { runCli } from '../support/cli.helper';

describe('the riverfs command', () => {
  it('should print its version', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('should list its commands in --help', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('grid');
    expect(result.stdout).toContain('config');
  });

  it('should list every setting with its environment variable in a command help', async () => {
    const result = await runCli(['grid', 'start', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('--grid-shares-happy');
    expect(result.stdout).toContain('RIVERFS_GRID_SHARES_HAPPY');
  });

  it('should stop with exit code 2 and every configuration problem named, before starting anything', async () => {
    const result = await runCli(['grid', 'start', '--grid-shares-needed', 'two', '--cache-size', 'big'], {
      RIVERFS_MODE: 'maybe',
      RIVERFS_GRID_DIR: '/nonexistent/should-never-be-created',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Invalid configuration (3 problems)');
    expect(result.stderr).toContain('gridSharesNeeded (--grid-shares-needed)');
    expect(result.stderr).toContain('cacheSize (--cache-size)');
    expect(result.stderr).toContain('mode (RIVERFS_MODE)');
    expect(result.stdout).toBe('');
  });

  it('should exit 2 on an unknown command', async () => {
    const result = await runCli(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command 'frobnicate'");
  });

  it('should print the configuration with secrets redacted', async () => {
    const token = 'token-' + 'z'.repeat(30);
    const result = await runCli([
      'config',
      '--admin-token',
      token,
      '--db',
      'mysql://root:hunter2@127.0.0.1:3306/riverfs',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain(token);
    expect(result.stdout).not.toContain('hunter2');
    const shown = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(shown.adminToken).toBe('<redacted>');
    expect(shown.db).toBe('mysql://root:***@127.0.0.1:3306/riverfs');
  });
});
