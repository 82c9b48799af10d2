import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { JobDto } from '../admin/dto/job.dto';
import { adminBaseUrl, adminToken, describeProblem, exitCodeForStatus } from './admin-api.client';
import { countOf, formatBytes, formatDuration, formatSummary } from './admin-output';
import { capAccessOf } from '../tahoe/cap.util';
import { parseTarget, type TargetContext } from './admin-target';
import { EXIT, EXIT_CODE_TABLE } from './exit-codes';
import { LineProgress, progressBar, progressLine } from './job-progress';

function context(overrides: Partial<TargetContext> = {}): TargetContext {
  return { cwd: '/home/me', mounts: () => Promise.resolve(['/mnt/river', '/mnt/river/inner']), ...overrides };
}

function job(progress: Partial<JobDto['progress']>, state = 'running'): JobDto {
  return {
    id: '3f2a1b2c-0000-4000-8000-000000000000',
    kind: 'warmup',
    state,
    params: {},
    createdAt: '2026-01-01T00:00:00.000Z',
    finishedAt: null,
    progress: { done: 0, total: null, unit: 'files', message: null, ...progress },
    result: null,
    error: null,
  };
}

describe('admin command arguments', () => {
  it('should read digits as an inode number and refuse 0', async () => {
    await expect(parseTarget('42', context())).resolves.toEqual({ ino: 42 });
    await expect(parseTarget('0', context())).rejects.toMatchObject({ exitCode: EXIT.USAGE });
    await expect(parseTarget(undefined, context())).resolves.toEqual({});
  });

  it('should take absolute paths outside any mount as paths from the filesystem root, trailing slashes dropped', async () => {
    await expect(parseTarget('/docs/a.txt', context())).resolves.toEqual({ path: '/docs/a.txt' });
    await expect(parseTarget('/docs/', context())).resolves.toEqual({ path: '/docs' });
    await expect(parseTarget('/', context())).resolves.toEqual({ path: '/' });
    // Sent as written: the server refuses "." and ".." rather than guessing.
    await expect(parseTarget('/a/../b', context())).resolves.toEqual({ path: '/a/../b' });
  });

  it('should translate host paths inside a RiverFS mount, the innermost mount first', async () => {
    await expect(parseTarget('/mnt/river/docs/a.txt', context())).resolves.toEqual({ path: '/docs/a.txt' });
    await expect(parseTarget('/mnt/river', context())).resolves.toEqual({ path: '/' });
    await expect(parseTarget('/mnt/river/inner/x', context())).resolves.toEqual({ path: '/x' });
    await expect(parseTarget('/mnt/riverside/x', context())).resolves.toEqual({ path: '/mnt/riverside/x' });
    await expect(parseTarget('docs/../a.txt', context({ cwd: '/mnt/river' }))).resolves.toEqual({ path: '/a.txt' });
    await expect(parseTarget('./42', context({ cwd: '/mnt/river' }))).resolves.toEqual({ path: '/42' });
  });

  it('should use --mountpoint instead of the mounts found, and refuse a relative path outside it', async () => {
    const mounts = jest.fn(() => Promise.resolve([]));
    const given = context({ mountpoint: '/srv/m', cwd: '/srv/m/docs', mounts });
    await expect(parseTarget('a.txt', given)).resolves.toEqual({ path: '/docs/a.txt' });
    expect(mounts).not.toHaveBeenCalled();
    await expect(parseTarget('a.txt', context({ cwd: '/tmp' }))).rejects.toMatchObject({
      exitCode: EXIT.USAGE,
      message: expect.stringContaining('is relative') as unknown,
    });
  });
});

describe('admin API answers and exit codes', () => {
  it('should map statuses to the exit codes of the table', () => {
    expect(exitCodeForStatus(401)).toBe(EXIT.UNAUTHORIZED);
    expect(exitCodeForStatus(403)).toBe(EXIT.UNAUTHORIZED);
    expect(exitCodeForStatus(404)).toBe(EXIT.NOT_FOUND);
    expect(exitCodeForStatus(400)).toBe(EXIT.USAGE);
    expect(exitCodeForStatus(409)).toBe(EXIT.USAGE);
    expect(exitCodeForStatus(429)).toBe(EXIT.USAGE);
    expect(exitCodeForStatus(500)).toBe(EXIT.FAILURE);
    expect(exitCodeForStatus(503)).toBe(EXIT.FAILURE);
    expect(new Set(EXIT_CODE_TABLE.map((row) => row.code))).toEqual(new Set(Object.values(EXIT)));
  });

  it('should describe a problem with its title, detail, code, fields and correlation id', () => {
    const text = describeProblem(
      400,
      {
        title: 'Bad Request',
        detail: 'path must not contain "." or ".." segments',
        code: 'VALIDATION_FAILED',
        correlationId: 'c0ffee',
        errors: [{ field: 'path', reason: 'must not contain "." or ".." segments' }],
      },
      '',
    );
    expect(text).toContain('Bad Request: path must not contain');
    expect(text).toContain('[VALIDATION_FAILED]');
    expect(text).toContain('  path: must not');
    expect(text).toContain('correlation id: c0ffee');
    expect(describeProblem(404, null, '<html>nope</html>')).toContain('is this the RiverFS admin API?');
  });

  it('should derive the URL from the listen setting, through loopback for a wildcard address', () => {
    expect(adminBaseUrl({ listen: { host: '127.0.0.1', port: 7878 } }, undefined)).toBe('http://127.0.0.1:7878');
    expect(adminBaseUrl({ listen: { host: '0.0.0.0', port: 80 } }, undefined)).toBe('http://127.0.0.1:80');
    expect(adminBaseUrl({ listen: { host: '::', port: 80 } }, undefined)).toBe('http://[::1]:80');
    expect(adminBaseUrl({ listen: { host: '::', port: 80 } }, 'http://h:1')).toBe('http://h:1');
    expect(() => adminBaseUrl({ listen: { host: '127.0.0.1', port: 0 } }, undefined)).toThrow(/--url/);
  });

  it('should take --token, then the reveal token when revealing, then the setting, then the token file', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-cli-token-'));
    try {
      const config = { dataDir, adminToken: undefined, adminRevealToken: undefined };
      expect(adminToken(config, {}).token).toBeUndefined();
      expect(adminToken(config, {}).source).toContain('admin-token');
      fs.writeFileSync(path.join(dataDir, 'admin-token'), 'from-file\n', { mode: 0o600 });
      fs.writeFileSync(path.join(dataDir, 'admin-reveal-token'), 'reveal-file\n', { mode: 0o600 });
      expect(adminToken(config, {}).token).toBe('from-file');
      expect(adminToken(config, { reveal: true }).token).toBe('reveal-file');
      expect(adminToken({ ...config, adminToken: 'set' }, {}).token).toBe('set');
      expect(adminToken({ ...config, adminToken: 'set' }, { token: 'given', reveal: true }).token).toBe('given');
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('admin command output', () => {
  it('should format sizes, durations and job results', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(10 * 1024 ** 3)).toBe('10.0 GiB');
    expect(formatDuration(4.23)).toBe('4.2 s');
    expect(formatDuration(185)).toBe('3m 05s');
    expect(formatDuration(7380)).toBe('2h 03m');
    expect(formatSummary({ files: 3, bytes: 6144 })).toBe('3 files, 6.0 KiB');
  });

  it('should write results as words, nested ones by their name, with nouns agreeing with their counts', () => {
    expect(formatSummary({ files: 1, entries: 1, directories: 1, bytes: 10 })).toBe(
      '1 file, 1 entry, 1 directory, 10 B',
    );
    expect(formatSummary({ pulled: { directories: 3, added: 1 }, pushed: { files: 0 } })).toBe(
      'pulled 3 directories, 1 added, pushed 0 files',
    );
    expect(formatSummary({ pulled: {} })).toBe('pulled nothing');
    expect(formatSummary({ pulled: { directories: 3 } })).not.toContain('{');
    expect(countOf(1, 'items')).toBe('1 item');
    expect(countOf(2, 'items')).toBe('2 items');
  });

  it('should show what a job that ended at once did, without an unknown total', () => {
    expect(progressLine(job({ done: 0, total: null, unit: 'items' }, 'succeeded'), 0.1)).toBe(
      'warmup succeeded: 0 items [0.1 s]',
    );
    expect(progressLine(job({ done: 1, total: null, unit: 'items' }, 'succeeded'), 0.1)).toBe(
      'warmup succeeded: 1 item [0.1 s]',
    );
    // Just started: nothing to count yet. Once something is done, the total may yet come.
    expect(progressLine(job({ done: 0, total: null, unit: 'items' }), 0.1)).toBe('warmup running [0.1 s]');
    expect(progressLine(job({ done: 2, total: null, unit: 'items' }), 0.1)).toBe('warmup running: 2/? items [0.1 s]');
  });

  it('should name caps by what they grant, redacted or not', () => {
    expect(capAccessOf('URI:CHK:<redacted:1a2b3c4d>')).toBe('read');
    expect(capAccessOf('URI:LIT:<redacted:1a2b3c4d>')).toBe('read');
    expect(capAccessOf('URI:DIR2:<redacted:1a2b3c4d>')).toBe('write');
    expect(capAccessOf('URI:DIR2-RO:<redacted:1a2b3c4d>')).toBe('read');
    expect(capAccessOf('URI:CHK-Verifier:<redacted:1a2b3c4d>')).toBe('verify');
    expect(capAccessOf('URI:NEW-KIND:x')).toBeUndefined();
  });

  it('should show progress as a line and as a bar fitted to the terminal', () => {
    expect(progressLine(job({ done: 1, total: 3, message: 'inode 12' }), 4.2)).toBe(
      'warmup running: 1/3 files (33%) inode 12 [4.2 s]',
    );
    expect(progressLine(job({ done: 1024, total: null, unit: 'bytes' }), 1)).toBe('warmup running: 1.0 KiB/? [1.0 s]');
    const bar = progressBar(job({ done: 3, total: 3 }), 2, 200);
    expect(bar).toContain('[########################]');
    expect(bar).toContain('100%');
    expect(progressBar(job({ done: 1, total: 3 }), 2, 20)).toHaveLength(19);
  });

  it('should print a plain line when progress changes, at most once per interval', () => {
    const stream = new PassThrough();
    let written = '';
    stream.on('data', (chunk: Buffer) => (written += chunk.toString()));
    const reporter = new LineProgress(stream, 60_000, 60_000);
    reporter.update(job({ done: 0, total: 3 }));
    reporter.update(job({ done: 1, total: 3 }));
    expect(written.trim().split('\n')).toEqual([expect.stringContaining('0/3 files') as unknown]);
    const eager = new LineProgress(stream, 0, 60_000);
    written = '';
    eager.update(job({ done: 1, total: 3 }));
    eager.update(job({ done: 1, total: 3 }));
    eager.update(job({ done: 2, total: 3 }));
    expect(written.trim().split('\n')).toHaveLength(2);
  });
});
