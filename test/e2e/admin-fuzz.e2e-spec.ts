import request from 'supertest';
import { ROOT_INO } from '../../src/metadata/metadata.types';
import { createTestHttpApp, type TestHttpApp } from '../support/http-app.helper';

/**
 * Malformed input of every kind against every route: the answer must always be a 4xx problem with a reason, never
 * a 500 and never a success. Cases are enumerated (plus seeded random garbage), so a failure names its case and
 * reproduces.
 */

type Method = 'get' | 'post';

interface Route {
  method: Method;
  path: string;
  /** Query parameters the route validates (fuzzed when present). */
  query?: boolean;
  /** A path parameter and its kind. */
  param?: 'ino' | 'id';
  /** The route reads a JSON body with a target. */
  body?: 'target' | 'waitable' | 'warmup';
}

const ROUTES: Route[] = [
  { method: 'get', path: '/admin/inodes', query: true },
  { method: 'get', path: '/admin/inodes/{ino}', param: 'ino', query: true },
  { method: 'get', path: '/admin/inodes/{ino}/children', param: 'ino', query: true },
  { method: 'get', path: '/admin/cache' },
  { method: 'post', path: '/admin/cache/flush', body: 'waitable' },
  { method: 'post', path: '/admin/cache/evict', body: 'target' },
  { method: 'post', path: '/admin/sync', body: 'waitable' },
  { method: 'get', path: '/admin/sync/queue', query: true },
  { method: 'post', path: '/admin/warmup', body: 'warmup' },
  { method: 'get', path: '/admin/jobs', query: true },
  { method: 'get', path: '/admin/jobs/{id}', param: 'id' },
  { method: 'post', path: '/admin/jobs/{id}/cancel', param: 'id' },
  { method: 'get', path: '/admin/grid' },
  { method: 'get', path: '/admin/stats' },
  { method: 'get', path: '/admin/errors', query: true },
  { method: 'get', path: '/health/live' },
  { method: 'get', path: '/health/ready' },
  { method: 'get', path: '/metrics' },
];

const JOB_ID = '3b241101-e2bb-4255-8caf-4136c566a962';

const MALFORMED_JSON = [
  '{',
  '{"path":',
  '{"path": "/docs",}',
  "{'path': '/docs'}",
  '[1, 2',
  '{"a": 1}}',
  'NaN',
  'true',
  '"a string"',
  '123',
  'null',
  '{"ino": 01}',
  '{"path": "/a\\x00"}',
  '{"__proto__": {"ino": 1}}',
  '{"constructor": {"prototype": {}}}',
];

const BAD_PATHS = [
  '/docs/../etc/passwd',
  '/../../etc/shadow',
  '..',
  'docs',
  './docs',
  '/docs/.',
  '/docs//x',
  '/docs/',
  '/a\u0000b',
  '',
  '/' + 'x'.repeat(256),
  '/' + 'a/'.repeat(2100) + 'a',
  '/\uD800',
];

/** Bodies every target route must refuse: wrong types, bad paths, out-of-range numbers, unknown members. */
function badBodies(kind: NonNullable<Route['body']>): { label: string; raw: string }[] {
  const objects: unknown[] = [
    ...BAD_PATHS.map((path) => ({ path })),
    { path: 1 },
    { path: true },
    { path: ['/docs'] },
    { path: { $ne: '' } },
    { ino: '5' },
    { ino: 1.5 },
    { ino: -1 },
    { ino: 0 },
    { ino: 2 ** 53 },
    { ino: [1] },
    { path: '/docs', ino: 1 },
    { everything: true },
    { path: '/docs', extra: {} },
    { nested: { deeper: { deepest: [1, 2, 3] } } },
    [],
    [{ path: '/docs' }],
    { recursive: 'yes' },
  ];
  if (kind !== 'target') {
    objects.push({ wait: 'true' }, { wait: 1 }, { waitSeconds: 0 }, { waitSeconds: 1e9 }, { waitSeconds: '10' });
    objects.push({ wait: true, waitSeconds: 2.5 });
  }
  if (kind === 'warmup') {
    objects.push({ path: '/docs', recursive: 'no' }, { path: '/docs', recursive: 0 });
  }
  const raw = [
    '{"ino": 1e400}',
    '{"ino": 123456789012345678901234567890}',
    '{"waitSeconds": -1e308}',
    `{"path": "${'x'.repeat(40)}"}`,
  ];
  return [
    ...objects.map((value) => ({ label: JSON.stringify(value).slice(0, 80), raw: JSON.stringify(value) })),
    ...raw.map((text) => ({ label: text.slice(0, 80), raw: text })),
  ];
}

const BAD_QUERIES: Record<string, string[]> = {
  '/admin/inodes': [
    ...BAD_PATHS.filter((path) => !/[\uD800-\uDFFF]/.test(path)).map((path) => `path=${encodeURIComponent(path)}`),
    // A lone surrogate has no UTF-8 form; this is its CESU-8 encoding, which the server decodes to U+FFFD.
    'path=%2F%ED%A0%80%2F..',
    'path=%2Fdocs%2F%2E%2E%2Fx',
    'path=/docs&path=/etc',
    'path[a]=b',
    'path=/docs&reveal=maybe',
    'path=/docs&reveal=1',
    'path=/docs&unknown=1',
    '',
  ],
  '/admin/inodes/{ino}': ['reveal=yes', 'reveal=', 'reveal=true&reveal=true', 'unknown=1'],
  '/admin/inodes/{ino}/children': [
    'after=-1',
    'after=abc',
    'limit=0',
    'limit=1e3',
    'limit=99999999999999999999',
    'limit=5000',
    'x=1',
  ],
  '/admin/sync/queue': ['offset=-1', 'limit=0', 'limit=1001', 'offset=1.5', 'extra=1'],
  '/admin/jobs': ['state=exploded', 'kind=../../etc', 'kind=A', 'limit=0', 'limit=201', 'limit=ten', 'x=1'],
  '/admin/errors': ['limit=0', 'limit=101', 'limit=-3', 'limit=1e309', 'y=2'],
};

const BAD_PARAMS: Record<'ino' | 'id', string[]> = {
  ino: [
    'abc',
    '0',
    '-5',
    '1e3',
    '0x1f',
    '1.0',
    '99999999999999999999',
    '%00',
    '%2e%2e',
    '%20%31',
    '1%20',
    'NaN',
    'Infinity',
  ],
  id: [
    'x',
    '%2e%2e',
    '%2e%2e%2f%2e%2e',
    'zzzzzzzz-zzzz-4zzz-8zzz-zzzzzzzzzzzz',
    'a'.repeat(500),
    '%00',
    '3B241101-E2BB-1255-8CAF-4136C566A962',
  ],
};

/** Deterministic garbage: printable characters that can never start a JSON object or array. */
function garbage(seed: number, count: number): string[] {
  let state = seed;
  const next = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const out: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const length = 1 + Math.floor(next() * 60);
    let text = '';
    for (let char = 0; char < length; char += 1) {
      text += String.fromCharCode(33 + Math.floor(next() * 94));
    }
    out.push(text.replace(/^[[{\s]/, '!'));
  }
  return out;
}

interface Case {
  label: string;
  method: Method;
  url: string;
  body?: string;
  contentType?: string;
}

function fill(route: Route, value: string): string {
  return route.path.replace('{ino}', value).replace('{id}', value);
}

function validUrl(route: Route, dirIno: number): string {
  return route.param === 'ino' ? fill(route, String(dirIno)) : route.param === 'id' ? fill(route, JOB_ID) : route.path;
}

function cases(dirIno: number): Case[] {
  const all: Case[] = [];
  for (const route of ROUTES) {
    const url = validUrl(route, dirIno);
    for (const raw of [...MALFORMED_JSON, ...garbage(route.path.length, 5)]) {
      all.push({ label: `${route.method} ${url} body ${raw}`, method: route.method, url, body: raw });
    }
    if (route.body !== undefined) {
      for (const { label, raw } of badBodies(route.body)) {
        all.push({ label: `${route.method} ${url} body ${label}`, method: route.method, url, body: raw });
      }
      all.push({
        label: `${route.method} ${url} as a form`,
        method: route.method,
        url,
        body: 'path=/docs',
        contentType: 'application/x-www-form-urlencoded',
      });
      all.push({
        label: `${route.method} ${url} as text`,
        method: route.method,
        url,
        body: '{"path": "/docs"}',
        contentType: 'text/plain',
      });
    }
    if (route.query) {
      for (const query of BAD_QUERIES[route.path] ?? []) {
        all.push({ label: `${route.method} ${url}?${query}`, method: route.method, url: `${url}?${query}` });
      }
    }
    if (route.param !== undefined) {
      for (const value of BAD_PARAMS[route.param]) {
        const bad = fill(route, value);
        all.push({ label: `${route.method} ${bad}`, method: route.method, url: bad });
      }
    }
  }
  return all;
}

describe('malformed input to every route', () => {
  let t: TestHttpApp;
  let dirIno: number;

  beforeAll(async () => {
    t = await createTestHttpApp({ settings: { logLevel: 'error' } });
    dirIno = (await t.store.mkdir(ROOT_INO, 'docs', { uid: 0, gid: 0, mode: 0o755 })).ino;
  });

  afterAll(async () => {
    await t?.close();
  });

  it('should answer every case with a 4xx problem that gives a reason, never a 500 or a success', async () => {
    const all = cases(dirIno);
    expect(all.length).toBeGreaterThan(400);
    const failures: string[] = [];
    const codes = new Set<string>();
    for (const item of all) {
      let call = request(t.url)[item.method](item.url).set('authorization', `Bearer ${t.adminToken}`);
      if (item.body !== undefined) {
        call = call.set('content-type', item.contentType ?? 'application/json').send(item.body);
      }
      const response = await call;
      const body = response.body as { code?: unknown; detail?: unknown; errors?: { reason: string }[] };
      const problems: string[] = [];
      // 401 would mean the token was not taken, and nothing after it was exercised.
      if (response.status < 400 || response.status >= 500 || response.status === 401) {
        problems.push(`status ${response.status}`);
      }
      codes.add(String(body.code));
      if (!/^application\/problem\+json/.test(String(response.headers['content-type']))) {
        problems.push(`content-type ${response.headers['content-type']}`);
      }
      if (typeof body.code !== 'string' || typeof body.detail !== 'string' || body.detail === '') {
        problems.push(`body ${JSON.stringify(body).slice(0, 200)}`);
      }
      if (body.code === 'VALIDATION_FAILED' && !(body.errors?.length && body.errors.every((e) => e.reason !== ''))) {
        problems.push('validation failure without per-field reasons');
      }
      if (problems.length > 0) {
        failures.push(`${item.label}: ${problems.join(', ')}`);
      }
    }
    expect(failures).toEqual([]);
    expect([...codes]).toEqual(
      expect.arrayContaining(['VALIDATION_FAILED', 'MALFORMED_JSON', 'UNSUPPORTED_MEDIA_TYPE']),
    );
  });
});
