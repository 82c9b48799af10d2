import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import type { OpenAPIObject } from '@nestjs/swagger';
import type { CacheStatsDto, EvictResultDto } from '../../src/admin/dto/cache.dto';
import type { GridDto } from '../../src/admin/dto/grid.dto';
import type { ChildrenPageDto, InodeDto } from '../../src/admin/dto/inode.dto';
import type { RecentErrorsDto, StatsDto } from '../../src/admin/dto/stats.dto';
import { ensureTokenFile } from '../../src/http/auth/token-file.util';
import { ROOT_INO } from '../../src/metadata/metadata.types';
import { SyncJournal } from '../../src/metadata/sync-journal';
import { TahoeClient } from '../../src/tahoe/tahoe.client';
import { body, createTestHttpApp, type Problem, type TestHttpApp } from '../support/http-app.helper';
import { freshRootDircap } from '../support/tahoe.helper';

const BLOCK = 64 * 1024;
const PROBLEM_TYPE = /^application\/problem\+json/;
const CAP_TEXT = /URI:(?:DIR2|CHK|LIT|SSK|MDMF)[A-Z0-9-]*:[a-z2-7]{16,}/;

describe('the admin API against a real grid, MariaDB, Redis and block cache', () => {
  let t: TestHttpApp;
  let rootCap: string;
  let fileIno: number;
  let docsIno: number;
  const logLines: string[] = [];

  const admin = () => ({ authorization: `Bearer ${t.adminToken}` });
  const revealer = () => ({ authorization: `Bearer ${t.revealToken}` });
  const api = () => request(t.url);

  function expectProblem(response: request.Response, status: number, code: string): Problem {
    expect(response.status).toBe(status);
    expect(response.headers['content-type']).toMatch(PROBLEM_TYPE);
    const problem = response.body as Problem;
    expect(problem).toMatchObject({
      status,
      code,
      type: `urn:riverfs:problem:${code.toLowerCase().replace(/_/g, '-')}`,
    });
    expect(problem.title.length).toBeGreaterThan(0);
    expect(problem.detail.length).toBeGreaterThan(0);
    expect(problem.correlationId).toBe(response.headers['x-correlation-id']);
    expect(JSON.stringify(problem)).not.toMatch(/\n\s+at /);
    return problem;
  }

  beforeAll(async () => {
    t = await createTestHttpApp({
      db: 'mariadb',
      settings: { logLevel: 'debug' },
      log: (line) => logLines.push(line),
    });
    rootCap = await freshRootDircap();
    await t.store.setRootCap(rootCap);
    const owner = { uid: 1000, gid: 1000 };
    docsIno = (await t.store.mkdir(ROOT_INO, 'docs', { ...owner, mode: 0o755 })).ino;
    await t.store.mkdir(ROOT_INO, 'empty', { ...owner, mode: 0o700 });
    const file = await t.store.create(docsIno, 'report.txt', { ...owner, mode: 0o640 });
    fileIno = file.ino;
    await t.store.link(fileIno, ROOT_INO, 'report-link.txt');
    for (let index = 0; index < 5; index += 1) {
      await t.store.create(docsIno, `extra-${index}.txt`, { ...owner, mode: 0o644 });
    }
    // Three cached blocks: the first clean (as if uploaded), the other two dirty.
    await t.cache.write(fileIno, 0, Buffer.alloc(3 * BLOCK - 100, 7));
    await t.cache.markClean(fileIno, [0]);
    await t.store.setattr(fileIno, { size: 3 * BLOCK - 100 });
  });

  afterAll(async () => {
    await t?.close();
  });

  describe('authentication', () => {
    it('should refuse a request without a token with 401 and a bearer challenge', async () => {
      const response = await api().get('/admin/grid');
      const problem = expectProblem(response, 401, 'UNAUTHORIZED');
      expect(response.headers['www-authenticate']).toBe('Bearer realm="riverfs"');
      expect(problem.detail).toMatch(/Authorization: Bearer/);
    });

    it('should refuse a wrong token, and a right token sent with another scheme', async () => {
      const wrong = await api().get('/admin/cache').set('authorization', `Bearer ${t.adminToken}x`);
      expectProblem(wrong, 401, 'UNAUTHORIZED');
      expect(wrong.headers['www-authenticate']).toMatch(/error="invalid_token"/);
      const basic = await api()
        .get('/admin/cache')
        .set('authorization', `Basic ${Buffer.from(`admin:${t.adminToken}`).toString('base64')}`);
      expectProblem(basic, 401, 'UNAUTHORIZED');
    });

    it('should have generated both tokens into the data directory with mode 0600 and reuse them', () => {
      for (const name of ['admin-token', 'admin-reveal-token']) {
        const file = path.join(t.config.dataDir, name);
        expect(fs.statSync(file).mode & 0o777).toBe(0o600);
        const again = ensureTokenFile(file);
        expect(again.created).toBe(false);
        expect(again.token).toBe(fs.readFileSync(file, 'utf8').trim());
      }
      expect(t.adminToken).not.toBe(t.revealToken);
      expect(t.adminToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    });

    it('should accept the reveal token for ordinary admin routes too', async () => {
      const response = await api().get('/admin/cache').set(revealer());
      expect(response.status).toBe(200);
    });
  });

  describe('problem answers', () => {
    it('should keep a well-formed correlation id from the client and replace a malformed one', async () => {
      const kept = await api().get('/admin/jobs/not-a-job').set(admin()).set('x-correlation-id', 'client-id.42');
      expect(kept.headers['x-correlation-id']).toBe('client-id.42');
      expectProblem(kept, 400, 'VALIDATION_FAILED');
      const replaced = await api().get('/admin/cache').set(admin()).set('x-correlation-id', 'bad id\twith spaces');
      expect(replaced.headers['x-correlation-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(replaced.status).toBe(200);
    });

    it('should answer an unknown route with a 404 problem', async () => {
      const response = await api().get('/admin/nothing-here').set(admin());
      const problem = expectProblem(response, 404, 'NOT_FOUND');
      expect(problem.instance).toBe('/admin/nothing-here');
    });

    it('should answer malformed JSON with 400 and the parser reason', async () => {
      const response = await api()
        .post('/admin/cache/evict')
        .set(admin())
        .set('content-type', 'application/json')
        .send('{"path": "/docs",');
      const problem = expectProblem(response, 400, 'MALFORMED_JSON');
      expect(problem.detail).toMatch(/not valid JSON/);
    });

    it('should reject unknown fields by name rather than ignore them', async () => {
      const response = await api().post('/admin/cache/evict').set(admin()).send({ path: '/docs', everything: true });
      const problem = expectProblem(response, 400, 'VALIDATION_FAILED');
      expect(problem.errors).toEqual([{ field: 'everything', reason: 'property everything should not exist' }]);
    });

    it('should reject a prototype key in the body', async () => {
      const response = await api()
        .post('/admin/cache/evict')
        .set(admin())
        .set('content-type', 'application/json')
        .send('{"__proto__": {"ino": 1}}');
      expectProblem(response, 400, 'MALFORMED_JSON');
    });

    it('should answer a body over the limit with 413', async () => {
      const response = await api()
        .post('/admin/cache/evict')
        .set(admin())
        .send({ path: `/${'a'.repeat(t.config.httpBodyLimit)}` });
      const problem = expectProblem(response, 413, 'BODY_TOO_LARGE');
      expect(problem.detail).toContain(String(t.config.httpBodyLimit));
    });

    it('should answer a body that is not JSON with 415 instead of treating it as empty', async () => {
      const response = await api()
        .post('/admin/cache/evict')
        .set(admin())
        .set('content-type', 'application/x-www-form-urlencoded')
        .send('path=/docs');
      expectProblem(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });
  });

  describe('inodes', () => {
    it('should show the root with its cap redacted', async () => {
      const response = await api().get('/admin/inodes/1').set(admin());
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ ino: 1, type: 'dir', paths: ['/'], pathsComplete: true, cache: null });
      const { caps } = body<InodeDto>(response);
      expect(caps.writeCap).toMatch(/^URI:DIR2:<redacted:[0-9a-f]{8}>$/);
      expect(caps.revealed).toBe(false);
      expect(JSON.stringify(response.body)).not.toContain(rootCap);
    });

    it('should refuse reveal=true with the plain admin token', async () => {
      const response = await api().get('/admin/inodes/1?reveal=true').set(admin());
      expectProblem(response, 403, 'REVEAL_FORBIDDEN');
    });

    it('should reveal caps to the reveal token when asked', async () => {
      const response = await api().get('/admin/inodes/1?reveal=true').set(revealer());
      expect(response.status).toBe(200);
      expect(body<InodeDto>(response).caps).toMatchObject({ writeCap: rootCap, revealed: true });
      const unasked = await api().get('/admin/inodes/1').set(revealer());
      expect(body<InodeDto>(unasked).caps.writeCap).not.toBe(rootCap);
    });

    it('should show a hard-linked file by path: every name, sync state and its cached and dirty blocks', async () => {
      const response = await api().get('/admin/inodes').query({ path: '/docs/report.txt' }).set(admin());
      expect(response.status).toBe(200);
      const inode = body<InodeDto>(response);
      expect(inode).toMatchObject({ ino: fileIno, type: 'file', nlink: 2, mode: 0o640, modeOctal: '0640' });
      expect([...inode.paths].sort()).toEqual(['/docs/report.txt', '/report-link.txt']);
      expect(inode.pathsComplete).toBe(true);
      expect(inode.size).toBe(3 * BLOCK - 100);
      // No sync worker in this app: the view says so rather than "idle".
      expect(inode.sync).toMatchObject({
        state: 'dirty',
        dataDirty: true,
        worker: { state: 'unavailable', tasks: [] },
        tries: 0,
        lastError: null,
      });
      expect(inode.cache).toMatchObject({
        blockSize: BLOCK,
        blockCount: 3,
        cachedBlocks: 3,
        dirtyBlocks: 2,
        cachedBytes: 3 * BLOCK - 100,
        dirtyBytes: 2 * BLOCK - 100,
        runs: [
          { first: 0, last: 0, state: 'clean' },
          { first: 1, last: 2, state: 'dirty' },
        ],
      });
      expect(inode.times.mtime.iso).toMatch(/^\d{4}-\d\d-\d\dT/);
    });

    it('should show the last sync failure recorded on the inode, with caps redacted', async () => {
      // A file of its own: a failed file shows as such in the listings the other tests check.
      const failing = await t.store.create(ROOT_INO, 'failing.txt', { uid: 1000, gid: 1000, mode: 0o644 });
      await t.app.get(SyncJournal).markFailed(failing.ino, `upload to ${rootCap} failed: UNHAPPY_UPLOAD`, 3);
      const response = await api().get('/admin/inodes').query({ path: '/failing.txt' }).set(admin());
      const { sync } = body<InodeDto>(response);
      expect(sync).toMatchObject({ state: 'failed', tries: 3 });
      expect(sync.lastError).toMatch(/^upload to URI:DIR2:<redacted:[0-9a-f]{8}> failed: UNHAPPY_UPLOAD$/);
      expect(JSON.stringify(response.body)).not.toContain(rootCap);
    });

    it('should name a directory by its path', async () => {
      const response = await api().get(`/admin/inodes/${docsIno}`).set(admin());
      expect(response.body).toMatchObject({ type: 'dir', paths: ['/docs'], parent: ROOT_INO });
    });

    it.each([
      ['/docs/../etc/passwd', /"\.\."/],
      ['docs/report.txt', /absolute/],
      ['/docs//report.txt', /empty segments/],
      ['/docs/./report.txt', /"\."/],
      ['/docs/report.txt/', /empty segments/],
      ['/docs\0/x', /NUL/],
      ['', /empty/],
    ])('should refuse the path %j with 400 and the reason', async (bad, reason) => {
      const response = await api().get('/admin/inodes').query({ path: bad }).set(admin());
      const problem = expectProblem(response, 400, 'VALIDATION_FAILED');
      expect(problem.errors?.[0]).toMatchObject({ field: 'path', reason: expect.stringMatching(reason) });
    });

    it('should refuse a percent-encoded traversal once decoded', async () => {
      const response = await api().get('/admin/inodes?path=%2Fdocs%2F%2E%2E%2Fetc').set(admin());
      expectProblem(response, 400, 'VALIDATION_FAILED');
    });

    it('should answer 404 naming the missing part of a path, and 400 for a path through a file', async () => {
      const missing = await api().get('/admin/inodes').query({ path: '/docs/nope/deeper' }).set(admin());
      expect(expectProblem(missing, 404, 'ENOENT').detail).toMatch(/\/docs\/nope does not exist/);
      const throughFile = await api().get('/admin/inodes').query({ path: '/docs/report.txt/x' }).set(admin());
      expect(expectProblem(throughFile, 400, 'ENOTDIR').detail).toMatch(/\/docs\/report\.txt is not a directory/);
    });

    it.each(['abc', '0', '-1', '1e3', '0x10', '99999999999999999999', '1.5'])(
      'should refuse the inode number %j with 400',
      async (bad) => {
        const response = await api().get(`/admin/inodes/${bad}`).set(admin());
        const problem = expectProblem(response, 400, 'VALIDATION_FAILED');
        expect(problem.errors?.[0]?.field).toBe('ino');
      },
    );

    it('should answer 404 for an inode that does not exist', async () => {
      const response = await api().get('/admin/inodes/987654321').set(admin());
      expectProblem(response, 404, 'ENOENT');
    });

    it('should page through the children of a directory', async () => {
      const first = await api().get(`/admin/inodes/${docsIno}/children?limit=4`).set(admin());
      expect(first.status).toBe(200);
      const page = body<ChildrenPageDto>(first);
      expect(page.entries.map((entry) => entry.name)).toEqual([
        'report.txt',
        'extra-0.txt',
        'extra-1.txt',
        'extra-2.txt',
      ]);
      expect(page.entries[0]).toMatchObject({ ino: fileIno, type: 'file', nlink: 2, syncState: 'dirty' });
      expect(page.next).not.toBeNull();
      const second = await api().get(`/admin/inodes/${docsIno}/children?limit=4&after=${page.next}`).set(admin());
      const next = body<ChildrenPageDto>(second);
      expect(next.entries.map((entry) => entry.name)).toEqual(['extra-3.txt', 'extra-4.txt']);
      expect(next.next).toBeNull();
    });

    it('should refuse to list the children of a file, and a limit out of range', async () => {
      expectProblem(await api().get(`/admin/inodes/${fileIno}/children`).set(admin()), 400, 'NOT_A_DIRECTORY');
      expectProblem(
        await api().get(`/admin/inodes/${docsIno}/children?limit=5000`).set(admin()),
        400,
        'VALIDATION_FAILED',
      );
    });
  });

  describe('cache', () => {
    it('should report usage, clean and dirty bytes, limits and the disk', async () => {
      const response = await api().get('/admin/cache').set(admin());
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({
        usedBytes: 3 * BLOCK - 100,
        cleanBytes: BLOCK,
        dirtyBytes: 2 * BLOCK - 100,
        files: 1,
        dirtyFiles: 1,
        blockSize: BLOCK,
        limits: { maxBytes: 64 * 1024 * 1024, minFreeRatio: 0.1 },
      });
      expect(body<CacheStatsDto>(response).disk?.totalBytes).toBeGreaterThan(0);
    });

    it('should evict only the clean blocks of a path and keep its dirty data', async () => {
      const response = await api().post('/admin/cache/evict').set(admin()).send({ path: '/report-link.txt' });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ freedBytes: BLOCK, files: 1, dirtyBytesKept: 2 * BLOCK - 100 });
      const inode = await api().get(`/admin/inodes/${fileIno}`).set(admin());
      expect(body<InodeDto>(inode).cache).toMatchObject({
        cachedBlocks: 2,
        dirtyBlocks: 2,
        runs: [{ first: 1, last: 2, state: 'dirty' }],
      });
      expect(t.cache.dirtyBlocks(fileIno)).toEqual([1, 2]);
    });

    it('should evict everything clean without touching dirty data', async () => {
      await t.cache.write(fileIno + 100, 0, Buffer.alloc(BLOCK, 1));
      await t.cache.markClean(fileIno + 100, [0]);
      const response = await api().post('/admin/cache/evict').set(admin()).send({});
      expect(response.status).toBe(200);
      expect(body<EvictResultDto>(response).freedBytes).toBe(BLOCK);
      expect(t.cache.stats().dirtyBytes).toBe(2 * BLOCK - 100);
    });

    it('should refuse a target given both as a path and an inode', async () => {
      const response = await api().post('/admin/cache/evict').set(admin()).send({ path: '/docs', ino: docsIno });
      const problem = expectProblem(response, 400, 'VALIDATION_FAILED');
      expect(problem.detail).toMatch(/either path or ino/);
    });

    it('should answer flush with 503 while there is no sync worker, after validating the request', async () => {
      const unavailable = await api().post('/admin/cache/flush').set(admin()).send({ path: '/docs', wait: true });
      expect(expectProblem(unavailable, 503, 'SYNC_UNAVAILABLE').detail).toMatch(/^sync is not available yet/);
      const invalid = await api().post('/admin/cache/flush').set(admin()).send({ path: '/docs/..' });
      expectProblem(invalid, 400, 'VALIDATION_FAILED');
    });
  });

  describe('sync and jobs without a sync worker', () => {
    it('should answer sync, warmup and the queue with 503', async () => {
      expectProblem(await api().post('/admin/sync').set(admin()).send({}), 503, 'SYNC_UNAVAILABLE');
      expectProblem(await api().post('/admin/warmup').set(admin()).send({ path: '/docs' }), 503, 'SYNC_UNAVAILABLE');
      expectProblem(await api().get('/admin/sync/queue').set(admin()), 503, 'SYNC_UNAVAILABLE');
    });

    it('should list no jobs, and answer unknown and malformed job ids with 404 and 400', async () => {
      const list = await api().get('/admin/jobs').set(admin());
      expect(list.status).toBe(200);
      expect(list.body).toEqual([]);
      const id = '3b241101-e2bb-4255-8caf-4136c566a962';
      expectProblem(await api().get(`/admin/jobs/${id}`).set(admin()), 404, 'JOB_NOT_FOUND');
      expectProblem(await api().post(`/admin/jobs/${id}/cancel`).set(admin()), 404, 'JOB_NOT_FOUND');
      expectProblem(await api().get('/admin/jobs/..%2F..%2Fetc').set(admin()), 400, 'VALIDATION_FAILED');
    });
  });

  describe('grid and status', () => {
    it('should show the servers of the grid and that it is happy', async () => {
      const response = await api().get('/admin/grid').set(admin());
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ happy: true, sharesHappy: t.config.gridSharesHappy });
      const grid = body<GridDto>(response);
      expect(grid.connectedServers).toBeGreaterThanOrEqual(t.config.gridSharesHappy);
      expect(grid.servers).toHaveLength(grid.totalServers);
      expect(grid.servers[0]).toMatchObject({ connected: true, nodeId: expect.stringMatching(/^v0-/) });
      expect(grid.availableSpace).toBeGreaterThan(0);
    });

    it('should give the dashboard grid, cache, sync and totals in one answer', async () => {
      const response = await api().get('/admin/stats').set(admin());
      expect(response.status).toBe(200);
      const stats = body<StatsDto>(response);
      expect(stats.grid).toMatchObject({ reachable: true, happy: true, error: null });
      expect(stats.cache.dirtyBytes).toBe(2 * BLOCK - 100);
      expect(stats.sync).toEqual({ available: false, queued: null, oldestDirtyAgeSeconds: null });
      expect(stats.totals.tahoeRequests).toBeGreaterThan(0);
      expect(stats.version).toMatch(/^\d+\.\d+\.\d+/);
    });

    it('should list failed Tahoe requests among the recent errors, but not the expected 503s of a missing sync', async () => {
      // A well-formed cap of a directory that does not exist: the grid has no shares of it.
      const missing = 'URI:DIR2:' + 'q'.repeat(26) + ':' + 'q'.repeat(52);
      await expect(t.app.get(TahoeClient).listDirectory(missing)).rejects.toMatchObject({ name: 'TahoeError' });
      const response = await api().get('/admin/errors?limit=5').set(admin());
      expect(response.status).toBe(200);
      const { errors } = body<RecentErrorsDto>(response);
      expect(errors[0]).toMatchObject({
        source: 'tahoe',
        code: expect.stringMatching(/^HTTP_(410|5\d\d)$/),
      });
      expect(errors[0].message).toMatch(/^Tahoe listDirectory failed/);
      expect(errors.some((error) => error.code === 'SYNC_UNAVAILABLE')).toBe(false);
      expect(JSON.stringify(response.body)).not.toContain(missing);
    });
  });

  describe('OpenAPI, Swagger UI and the dashboard', () => {
    it('should serve the OpenAPI document only with the token, offering Basic auth to browsers', async () => {
      const anonymous = await api().get('/docs-json');
      expectProblem(anonymous, 401, 'UNAUTHORIZED');
      expect(anonymous.headers['www-authenticate']).toMatch(/Basic realm="riverfs-docs"/);
      const document = await api().get('/docs-json').set(admin());
      expect(document.status).toBe(200);
      const openapi = body<OpenAPIObject>(document);
      expect(openapi.openapi).toMatch(/^3\./);
      expect(Object.keys(openapi.paths)).toEqual(
        expect.arrayContaining(['/admin/grid', '/admin/inodes/{ino}', '/admin/jobs/{id}/cancel', '/health/ready']),
      );
      expect(openapi.components?.securitySchemes?.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    });

    it('should serve Swagger UI at /docs/ with Basic credentials carrying the token', async () => {
      expect((await api().get('/docs')).headers.location).toBe('/docs/');
      expectProblem(await api().get('/docs/'), 401, 'UNAUTHORIZED');
      const page = await api().get('/docs/').auth('operator', t.adminToken);
      expect(page.status).toBe(200);
      expect(page.text).toContain('swagger-ui');
      const init = await api().get('/docs/swagger-ui-init.js').set(admin());
      expect(init.text).toContain('"persistAuthorization": true');
    });

    it('should serve the dashboard without a token, with a strict content security policy', async () => {
      const page = await api().get('/');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
      expect(page.text).toContain('id="flush-button"');
      const script = await api().get('/dashboard.js');
      expect(script.headers['content-type']).toMatch(/^text\/javascript/);
      // Only the listed files are served: a path "through" one of them is an unknown route, never a file.
      expectProblem(await api().get('/dashboard.js/../../etc/passwd'), 404, 'NOT_FOUND');
    });
  });

  describe('logs', () => {
    it('should log every request with a correlation id and never a cap', async () => {
      const marked = await api()
        .get('/admin/inodes/1?reveal=true')
        .set(revealer())
        .set('x-correlation-id', 'log-check-1');
      expect(body<InodeDto>(marked).caps.writeCap).toBe(rootCap);
      const lines = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines.find((line) => line.correlationId === 'log-check-1')).toMatchObject({
        context: 'HTTP',
        level: 'debug',
        status: 200,
        path: '/admin/inodes/1',
      });
      // Lines of other layers written while serving a request carry its id too.
      await api().get('/admin/grid').set(admin()).set('x-correlation-id', 'log-check-2');
      const parsed = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(
        parsed.find((line) => line.context === 'TahoeClient' && line.correlationId === 'log-check-2'),
      ).toMatchObject({
        level: 'debug',
        msg: expect.stringMatching(/^GET \/\?t=json → 200 in \d+ ms$/),
      });
      expect(logLines.join('\n')).not.toMatch(CAP_TEXT);
      expect(logLines.join('\n')).not.toContain(t.adminToken);
    });
  });
});
