import fs from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import type { EvictResultDto } from '../admin/dto/cache.dto';
import type { InodeDto } from '../admin/dto/inode.dto';
import type { JobDto } from '../admin/dto/job.dto';
import type { LeasesStatusDto } from '../admin/dto/leases.dto';
import type { ShareDto } from '../admin/dto/share.dto';
import type { StatsDto } from '../admin/dto/stats.dto';
import type { SyncQueueDto } from '../admin/dto/sync.dto';
import type { RiverFsConfig } from '../config/config.schema';
import type { HealthDto } from '../health/health.controller';
import { ADMIN_TOKEN_FILE, REVEAL_TOKEN_FILE } from '../http/auth/admin-token.service';
import { CliError, EXIT, type ExitCode, UsageError } from './exit-codes';

/** An RFC 9457 problem as the admin API answers errors (see src/http/problem.dto.ts). */
export interface ApiProblem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  code?: string;
  correlationId?: string;
  errors?: { field: string; reason: string }[];
  [extension: string]: unknown;
}

/** What the CLI acts on: a path from the filesystem root, an inode number, or (neither) everything. Never both. */
export interface AdminTarget {
  path?: string;
  ino?: number;
}

export type JobKind = 'flush' | 'sync' | 'warmup' | 'lease-renewal' | 'check';

const JOB_ROUTES: Record<JobKind, string> = {
  flush: '/admin/cache/flush',
  sync: '/admin/sync',
  warmup: '/admin/warmup',
  'lease-renewal': '/admin/leases/renew',
  check: '/admin/check',
};

/** Connection failures: nothing answers at the address, so RiverFS is not running there (exit 3). */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** The exit code an error answer of the admin API maps to; see EXIT_CODE_TABLE. */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 403) {
    return EXIT.UNAUTHORIZED;
  }
  if (status === 404) {
    return EXIT.NOT_FOUND;
  }
  if (status >= 400 && status < 500) {
    return EXIT.USAGE;
  }
  return EXIT.FAILURE;
}

/** A failed request: unreachable server, error answer or unexpected answer, with its exit code and, if any, problem. */
export class AdminApiError extends CliError {
  constructor(
    message: string,
    exitCode: ExitCode,
    /** The HTTP status, or null when no answer came. */
    readonly status: number | null = null,
    readonly problem: ApiProblem | null = null,
  ) {
    super(message, exitCode);
    this.name = 'AdminApiError';
  }
}

/** Interrupted by the caller's signal (Ctrl-C): not an error of the server. */
export class RequestInterrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'RequestInterrupted';
  }
}

function errorCode(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  // The code may sit on the error, on its cause, or on the parts of an AggregateError (several addresses tried).
  while (current instanceof Error && !seen.has(current)) {
    seen.add(current);
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      return code;
    }
    if (current instanceof AggregateError && current.errors.length > 0) {
      current = current.errors[0];
      continue;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'host name lookup failed',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
};

/** The one-line (plus indented details) message for an error answer. */
export function describeProblem(status: number, problem: ApiProblem | null, text: string): string {
  if (problem === null) {
    const snippet = text.trim().slice(0, 200);
    return `unexpected answer ${status}${snippet === '' ? '' : `: ${snippet}`} (is this the RiverFS admin API?)`;
  }
  const title = problem.title ?? `HTTP ${status}`;
  const code = problem.code === undefined ? '' : ` [${problem.code}]`;
  const lines = [`${title}: ${problem.detail ?? '(no detail)'}${code}`];
  for (const field of problem.errors ?? []) {
    lines.push(`  ${field.field}: ${field.reason}`);
  }
  if (problem.correlationId !== undefined) {
    lines.push(`  correlation id: ${problem.correlationId} (the server log has the details under it)`);
  }
  return lines.join('\n');
}

function asProblem(value: unknown): ApiProblem | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return null;
  }
  const candidate = value as ApiProblem;
  return typeof candidate.title === 'string' || typeof candidate.detail === 'string' ? candidate : null;
}

export interface AdminApiClientOptions {
  /** http://host:port, optionally with a path prefix (behind a reverse proxy). */
  baseUrl: string;
  token?: string;
  /** Where the token came from, or why there is none; added to 401/403 messages. */
  tokenSource?: string;
  /** Longest wait for one answer. */
  timeoutMs?: number;
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
}

interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Send the bearer token (default true). */
  auth?: boolean;
  /** Error statuses the caller handles itself: answered, not thrown. */
  accept?: number[];
  signal?: AbortSignal;
}

/** The admin REST API of a running RiverFS (openapi.json), for the CLI: JSON in, JSON out, errors as AdminApiError. */
export class AdminApiClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly tokenSource: string;
  private readonly timeoutMs: number;

  constructor(options: AdminApiClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new UsageError(`--url ${options.baseUrl} is not a URL (expected http://host:port)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UsageError(`--url ${options.baseUrl}: only http:// and https:// are supported`);
    }
    if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
      throw new UsageError(`--url must be http(s)://host:port[/prefix] only (give the token with --token)`);
    }
    this.baseUrl = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    this.token = options.token;
    this.tokenSource = options.tokenSource ?? (options.token === undefined ? 'none found' : 'given');
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async request<T>(method: 'GET' | 'POST', route: string, options: RequestOptions = {}): Promise<ApiAnswer<T>> {
    const url = new URL(this.baseUrl + route);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) {
        url.searchParams.set(name, String(value));
      }
    }
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    if (options.auth !== false && this.token !== undefined) {
      headers.authorization = `Bearer ${this.token}`;
    }
    let payload: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(options.body);
    }
    let status: number;
    let text: string;
    try {
      const response = await request(url, {
        method,
        headers,
        body: payload,
        signal: options.signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      throw this.transportError(error, options.signal);
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if ((status >= 200 && status < 300) || options.accept?.includes(status)) {
      if (parsed === undefined) {
        throw new AdminApiError(
          `${method} ${url.pathname}: ${describeProblem(status, null, text)}`,
          EXIT.FAILURE,
          status,
        );
      }
      return { status, body: parsed as T };
    }
    const problem = asProblem(parsed);
    let message = describeProblem(status, problem, text);
    if (status === 401 || status === 403) {
      message += `\n  token: ${this.tokenSource}`;
    }
    throw new AdminApiError(message, exitCodeForStatus(status), status, problem);
  }

  private transportError(error: unknown, signal: AbortSignal | undefined): Error {
    if (signal?.aborted) {
      return new RequestInterrupted();
    }
    const code = errorCode(error);
    if (code !== undefined && UNREACHABLE.has(code)) {
      return new AdminApiError(
        `cannot reach the RiverFS admin API at ${this.baseUrl}: ${REASONS[code] ?? code}\n` +
          '  is `riverfs mount` running? The address comes from --url, or else from the listen setting.',
        EXIT.NOT_RUNNING,
      );
    }
    if (code !== undefined && TIMEOUTS.has(code)) {
      return new AdminApiError(
        `the RiverFS admin API at ${this.baseUrl} did not answer within ${this.timeoutMs / 1000} s (--timeout)`,
        EXIT.FAILURE,
      );
    }
    const reason = error instanceof Error ? error.message : String(error);
    return new AdminApiError(`request to ${this.baseUrl} failed: ${reason}${code ? ` (${code})` : ''}`, EXIT.FAILURE);
  }

  private get<T>(route: string, options?: RequestOptions): Promise<T> {
    return this.request<T>('GET', route, options).then((answer) => answer.body);
  }

  private post<T>(route: string, body: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>('POST', route, { ...options, body }).then((answer) => answer.body);
  }

  /** GET /health/ready (no token needed): ready with the checks, or not ready with the problem naming what fails. */
  async ready(): Promise<{ ready: true; health: HealthDto } | { ready: false; problem: ApiProblem }> {
    const answer = await this.request<unknown>('GET', '/health/ready', { auth: false, accept: [503] });
    if (answer.status === 503) {
      return { ready: false, problem: asProblem(answer.body) ?? { status: 503 } };
    }
    return { ready: true, health: answer.body as HealthDto };
  }

  stats(): Promise<StatsDto> {
    return this.get<StatsDto>('/admin/stats');
  }

  /** The sync queue's first items and depth; null when this gateway has no sync worker (503). */
  async syncQueue(limit: number): Promise<SyncQueueDto | null> {
    const answer = await this.request<unknown>('GET', '/admin/sync/queue', { query: { limit }, accept: [503] });
    return answer.status === 503 ? null : (answer.body as SyncQueueDto);
  }

  jobs(filter: { state?: string; kind?: string; limit?: number } = {}): Promise<JobDto[]> {
    return this.get<JobDto[]>('/admin/jobs', { query: filter });
  }

  job(id: string, signal?: AbortSignal): Promise<JobDto> {
    return this.get<JobDto>(`/admin/jobs/${encodeURIComponent(id)}`, { signal });
  }

  cancelJob(id: string): Promise<JobDto> {
    return this.post<JobDto>(`/admin/jobs/${encodeURIComponent(id)}/cancel`, undefined);
  }

  inode(target: AdminTarget, reveal = false): Promise<InodeDto> {
    const query = { reveal: reveal ? true : undefined };
    if (target.path !== undefined) {
      return this.get<InodeDto>('/admin/inodes', { query: { path: target.path, ...query } });
    }
    if (target.ino === undefined) {
      throw new UsageError('a path or an inode number is needed');
    }
    return this.get<InodeDto>(`/admin/inodes/${target.ino}`, { query });
  }

  /** Needs the cap-revealing token (403 otherwise). */
  share(target: AdminTarget, write: boolean): Promise<ShareDto> {
    return this.post<ShareDto>('/admin/share', { ...target, write: write ? true : undefined });
  }

  leases(): Promise<LeasesStatusDto> {
    return this.get<LeasesStatusDto>('/admin/leases');
  }

  evict(target: AdminTarget): Promise<EvictResultDto> {
    return this.post<EvictResultDto>('/admin/cache/evict', target);
  }

  /** Starts a job without waiting (202): the job as it stands, to be followed with job(). */
  startJob(
    kind: JobKind,
    body: AdminTarget & { recursive?: boolean; repair?: boolean; deep?: boolean },
    signal?: AbortSignal,
  ): Promise<JobDto> {
    return this.post<JobDto>(JOB_ROUTES[kind], body, { signal });
  }
}

/** Where the CLI finds the admin API: --url, or the listen setting as a URL a client can connect to. */
export function adminBaseUrl(config: Pick<RiverFsConfig, 'listen'>, url: string | undefined): string {
  if (url !== undefined) {
    return url;
  }
  const { host, port } = config.listen;
  if (port === 0) {
    throw new UsageError('the listen setting has port 0 (chosen at start-up): give the address with --url');
  }
  // A server listening on every interface is reached through loopback.
  const connectTo = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${connectTo.includes(':') ? `[${connectTo}]` : connectTo}:${port}`;
}

function readTokenFile(file: string): { token?: string; source: string } {
  try {
    const token = fs.readFileSync(file, 'utf8').trim();
    return token === '' ? { source: `${file} is empty` } : { token, source: file };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      source:
        code === 'ENOENT'
          ? `none: no --token, no adminToken setting (RIVERFS_ADMIN_TOKEN), and no ${file}`
          : `none: cannot read ${file} (${code ?? String(error)})`,
    };
  }
}

/**
 * The token to present, in this order: --token; with --reveal, the adminRevealToken setting or
 * <dataDir>/admin-reveal-token; the adminToken setting (--admin-token, RIVERFS_ADMIN_TOKEN, YAML); <dataDir>/admin-token.
 */
export function adminToken(
  config: Pick<RiverFsConfig, 'dataDir' | 'adminToken' | 'adminRevealToken'>,
  options: { token?: string; reveal?: boolean },
): { token?: string; source: string } {
  if (options.token !== undefined && options.token !== '') {
    return { token: options.token, source: '--token' };
  }
  if (options.reveal) {
    if (config.adminRevealToken !== undefined) {
      return { token: config.adminRevealToken, source: 'the adminRevealToken setting' };
    }
    const revealFile = readTokenFile(path.join(config.dataDir, REVEAL_TOKEN_FILE));
    if (revealFile.token !== undefined) {
      return revealFile;
    }
  }
  if (config.adminToken !== undefined) {
    return { token: config.adminToken, source: 'the adminToken setting (--admin-token or RIVERFS_ADMIN_TOKEN)' };
  }
  return readTokenFile(path.join(config.dataDir, ADMIN_TOKEN_FILE));
}
