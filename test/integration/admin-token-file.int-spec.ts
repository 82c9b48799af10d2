import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTokenFile } from '../../src/http/auth/token-file.util';

describe('the generated admin token file', () => {
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-token-'));
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('should be created once with mode 0600, in a data directory it creates, and reused after', () => {
    const file = path.join(dir, 'data', 'admin-token');
    const first = ensureTokenFile(file);
    const second = ensureTokenFile(file);
    expect(first).toMatchObject({ created: true, repairedMode: false });
    expect(second).toEqual({ token: first.token, created: false, repairedMode: false });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['admin-token']);
  });

  it('should narrow a token file other users can read to 0600 and keep its token', () => {
    const file = path.join(dir, 'admin-token');
    fs.writeFileSync(file, 'an-operator-chosen-token\n', { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    expect(ensureTokenFile(file)).toEqual({ token: 'an-operator-chosen-token', created: false, repairedMode: true });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('should refuse a file that holds no usable token rather than replace it', () => {
    const file = path.join(dir, 'admin-token');
    fs.writeFileSync(file, 'short\n', { mode: 0o600 });
    expect(() => ensureTokenFile(file)).toThrow(/holds no usable token/);
    expect(fs.readFileSync(file, 'utf8')).toBe('short\n');
  });
});
