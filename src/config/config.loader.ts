import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import {
  defaultDataDir,
  defaultTahoeVenv,
  envName,
  type ListenAddress,
  type RiverFsConfig,
  SETTINGS,
  type SettingSpec,
} from './config.schema';
import { ConfigValidationError } from './config.errors';

export interface ConfigSources {
  /** Values from command-line flags, keyed by setting key (commander's camelCase). */
  flags?: Partial<Record<keyof RiverFsConfig, unknown>>;
  env?: NodeJS.ProcessEnv;
  /** Path of a YAML file; when unset, RIVERFS_CONFIG is used if present. */
  configFile?: string;
  cwd?: string;
}

/** Environment variables with our prefix that are not settings but are still legitimate. */
const RESERVED_ENV = new Set(['RIVERFS_CONFIG', 'RIVERFS_MOUNTPOINT']);
const RESERVED_ENV_PREFIXES = ['RIVERFS_TEST_', 'RIVERFS_BENCH_'];

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
};

export function parseBytes(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!match) {
    return undefined;
  }
  const unit = BYTE_UNITS[match[2].toLowerCase()];
  if (unit === undefined) {
    return undefined;
  }
  const value = Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(value) ? value : undefined;
}

export function parseListen(text: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/i.exec(text.trim());
  if (!match) {
    return undefined;
  }
  const port = Number(match[3]);
  if (port > 65535) {
    return undefined;
  }
  return { host: match[1] ?? match[2], port };
}

/** Shows a URL with any password replaced, for logs and error messages. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password) {
      url.password = '***';
    }
    return url.toString();
  } catch {
    return '<unparseable url>';
  }
}

const DIRCAP_PATTERN = /^URI:DIR2(?:-MDMF)?:[a-z2-7]{26}:[a-z2-7]{52}$/;

interface RawValue {
  value: unknown;
  source: string;
}

function describeSource(spec: SettingSpec, source: string): string {
  return `${spec.key} (${source})`;
}

/**
 * Loads one typed configuration from flags, environment and an optional YAML file (in that order of
 * precedence), checks every setting and throws one error that lists every problem by name.
 */
export function loadConfig(sources: ConfigSources = {}): RiverFsConfig {
  const env = sources.env ?? process.env;
  const cwd = sources.cwd ?? process.cwd();
  const problems: string[] = [];
  const raw = new Map<keyof RiverFsConfig, RawValue>();

  const configFile =
    sources.configFile ?? (env.RIVERFS_CONFIG && env.RIVERFS_CONFIG !== '' ? env.RIVERFS_CONFIG : undefined);
  if (configFile !== undefined) {
    const fromFile = readYaml(path.resolve(cwd, configFile), problems);
    for (const [name, value] of Object.entries(fromFile)) {
      const spec = SETTINGS.find((s) => s.key === name || s.flag === name);
      if (!spec) {
        problems.push(`${configFile}: unknown setting "${name}"`);
        continue;
      }
      raw.set(spec.key, { value, source: `${configFile}: ${name}` });
    }
  }

  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('RIVERFS_') || value === undefined) {
      continue;
    }
    const spec = SETTINGS.find((s) => envName(s) === name);
    if (spec) {
      if (value !== '') {
        raw.set(spec.key, { value, source: name });
      }
    } else if (!RESERVED_ENV.has(name) && !RESERVED_ENV_PREFIXES.some((p) => name.startsWith(p))) {
      problems.push(`${name}: unknown environment variable (settings are ${SETTINGS.map(envName).join(', ')})`);
    }
  }

  for (const spec of SETTINGS) {
    const value = sources.flags?.[spec.key];
    if (value !== undefined) {
      raw.set(spec.key, { value, source: `--${spec.flag}` });
    }
  }

  const parsed: Partial<Record<keyof RiverFsConfig, unknown>> = {};
  for (const spec of SETTINGS) {
    const entry = raw.get(spec.key);
    if (entry === undefined) {
      continue;
    }
    const result = parseSetting(spec, entry.value, cwd);
    if (typeof result === 'object' && result !== null && 'problem' in result) {
      problems.push(`${describeSource(spec, entry.source)}: ${(result as { problem: string }).problem}`);
    } else {
      parsed[spec.key] = result;
    }
  }

  const dataDir = (parsed.dataDir as string | undefined) ?? defaultDataDir(env);
  const config: RiverFsConfig = {
    dataDir,
    db: (parsed.db as string | undefined) ?? `sqlite:${path.join(dataDir, 'riverfs.sqlite')}`,
    redis: parsed.redis as string | undefined,
    tahoeUrl: parsed.tahoeUrl as string | undefined,
    rootCap: parsed.rootCap as string | undefined,
    rootCapFile: parsed.rootCapFile as string | undefined,
    listen: (parsed.listen as ListenAddress | undefined) ?? { host: '127.0.0.1', port: 7878 },
    cacheDir: (parsed.cacheDir as string | undefined) ?? path.join(dataDir, 'cache'),
    cacheSize: (parsed.cacheSize as number | undefined) ?? 10 * 1024 ** 3,
    cacheMinFreeRatio: (parsed.cacheMinFreeRatio as number | undefined) ?? 0.1,
    cacheBlockSize: (parsed.cacheBlockSize as number | undefined) ?? 1024 * 1024,
    mode: (parsed.mode as RiverFsConfig['mode'] | undefined) ?? 'writeback',
    syncDrainTimeout: (parsed.syncDrainTimeout as number | undefined) ?? 60,
    syncDelay: (parsed.syncDelay as number | undefined) ?? 1,
    uploadConcurrency: (parsed.uploadConcurrency as number | undefined) ?? 6,
    dirTtl: (parsed.dirTtl as number | undefined) ?? 10,
    leaseTtl: (parsed.leaseTtl as number | undefined) ?? 60,
    tahoeLeaseRenewal: (parsed.tahoeLeaseRenewal as number | undefined) ?? 604_800,
    tahoeCheckInterval: (parsed.tahoeCheckInterval as number | undefined) ?? 0,
    tahoeCheckRepair: (parsed.tahoeCheckRepair as boolean | undefined) ?? false,
    fuseApi: (parsed.fuseApi as RiverFsConfig['fuseApi'] | undefined) ?? 'lowlevel',
    attrTimeout: parsed.attrTimeout as number | undefined,
    entryTimeout: parsed.entryTimeout as number | undefined,
    allowOtherWhenRoot: (parsed.allowOtherWhenRoot as boolean | undefined) ?? true,
    logLevel: (parsed.logLevel as RiverFsConfig['logLevel'] | undefined) ?? 'log',
    logFormat: (parsed.logFormat as RiverFsConfig['logFormat'] | undefined) ?? 'auto',
    adminToken: parsed.adminToken as string | undefined,
    adminRevealToken: parsed.adminRevealToken as string | undefined,
    metricsAuth: (parsed.metricsAuth as RiverFsConfig['metricsAuth'] | undefined) ?? 'auto',
    httpBodyLimit: (parsed.httpBodyLimit as number | undefined) ?? 64 * 1024,
    maxHeap: (parsed.maxHeap as number | undefined) ?? 512 * 1024 ** 2,
    gridDir: (parsed.gridDir as string | undefined) ?? path.join(dataDir, 'grid'),
    gridStorageNodes: (parsed.gridStorageNodes as number | undefined) ?? 3,
    gridSharesNeeded: (parsed.gridSharesNeeded as number | undefined) ?? 2,
    gridSharesHappy: (parsed.gridSharesHappy as number | undefined) ?? 3,
    gridSharesTotal: (parsed.gridSharesTotal as number | undefined) ?? 3,
    tahoeVenv: (parsed.tahoeVenv as string | undefined) ?? defaultTahoeVenv(env),
    python: parsed.python as string | undefined,
    tahoeConnectTimeout: (parsed.tahoeConnectTimeout as number | undefined) ?? 10_000,
    tahoeHeadersTimeout: (parsed.tahoeHeadersTimeout as number | undefined) ?? 300_000,
    tahoeBodyTimeout: (parsed.tahoeBodyTimeout as number | undefined) ?? 60_000,
    tahoeConcurrency: (parsed.tahoeConcurrency as number | undefined) ?? 8,
    tahoeRetries: (parsed.tahoeRetries as number | undefined) ?? 3,
  };

  if (config.rootCapFile !== undefined) {
    const rootCap = raw.get('rootCap');
    if (rootCap !== undefined) {
      problems.push(
        `rootCap (${rootCap.source}) and rootCapFile (${raw.get('rootCapFile')!.source}) are both set: give the cap one way`,
      );
    } else {
      const fromFile = readRootCapFile(config.rootCapFile);
      if (typeof fromFile === 'string') {
        config.rootCap = fromFile;
      } else {
        problems.push(`rootCapFile (${raw.get('rootCapFile')!.source}): ${fromFile.problem}`);
      }
    }
  }
  checkRelations(config, problems);
  if (problems.length > 0) {
    throw new ConfigValidationError(problems);
  }
  return Object.freeze(config);
}

/** The cap in a root-cap file: its first line, surrounding blanks (a trailing newline) trimmed. */
function readRootCapFile(file: string): string | { problem: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { problem: `${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(error))}` };
  }
  const cap = text.split('\n')[0].trim();
  if (cap === '') {
    return { problem: `${file} is empty` };
  }
  if (!DIRCAP_PATTERN.test(cap)) {
    return { problem: `${file} does not hold a directory write cap (URI:DIR2:… or URI:DIR2-MDMF:…)` };
  }
  return cap;
}

/**
 * Why a file holding a secret is exposed, or undefined: readable by group or others. Not refused, only warned
 * about: secrets that containers mount (Docker, Kubernetes) are often 0444 or 0644 inside a container nobody else
 * shares, and refusing them would push operators back to the command line, which every local user can read.
 */
export function secretFileExposure(file: string): string | undefined {
  try {
    const mode = fs.statSync(file).mode & 0o777;
    return (mode & 0o044) === 0
      ? undefined
      : `${file} (mode 0${mode.toString(8)}) may be read by ${mode & 0o004 ? 'every local user' : 'its group'}; chmod 600 it`;
  } catch {
    return undefined;
  }
}

function readYaml(file: string, problems: string[]): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    problems.push(`config file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    return {};
  }
  try {
    const document: unknown = YAML.parse(text);
    if (document === null || document === undefined) {
      return {};
    }
    if (typeof document !== 'object' || Array.isArray(document)) {
      problems.push(`config file ${file}: must be a mapping of setting names to values`);
      return {};
    }
    return document as Record<string, unknown>;
  } catch (error) {
    problems.push(`config file ${file}: invalid YAML: ${(error as Error).message.split('\n')[0]}`);
    return {};
  }
}

type ParseResult = unknown;

function parseSetting(spec: SettingSpec, value: unknown, cwd: string): ParseResult {
  const shown = spec.secret ? '(value hidden)' : JSON.stringify(value);
  const text =
    typeof value === 'string'
      ? value.trim()
      : typeof value === 'number' || typeof value === 'boolean'
        ? String(value)
        : undefined;
  if (text === undefined) {
    return { problem: `expected a ${spec.kind}, got ${typeof value}` };
  }
  switch (spec.kind) {
    case 'string': {
      if (text === '') {
        return { problem: 'must not be empty' };
      }
      if (spec.key === 'rootCap' && !DIRCAP_PATTERN.test(text)) {
        return { problem: 'is not a directory write cap (URI:DIR2:… or URI:DIR2-MDMF:…)' };
      }
      if ((spec.key === 'adminToken' || spec.key === 'adminRevealToken') && text.length < 16) {
        return { problem: 'must be at least 16 characters' };
      }
      return text;
    }
    case 'path':
      if (text === '') {
        return { problem: 'must not be empty' };
      }
      return path.resolve(cwd, text);
    case 'url':
      return parseUrlSetting(spec, text, cwd, shown);
    case 'int':
    case 'number': {
      const number = Number(text);
      if (text === '' || !Number.isFinite(number) || (spec.kind === 'int' && !Number.isSafeInteger(number))) {
        return { problem: `${shown} is not ${spec.kind === 'int' ? 'a whole number' : 'a number'}` };
      }
      return checkRange(spec, number, shown);
    }
    case 'bytes': {
      const bytes = parseBytes(text);
      if (bytes === undefined) {
        return { problem: `${shown} is not a size such as 512MiB or 20GiB` };
      }
      return checkRange(spec, bytes, shown);
    }
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(text)) {
        return true;
      }
      if (/^(0|false|no|off)$/i.test(text)) {
        return false;
      }
      return { problem: `${shown} is not true or false` };
    case 'enum':
      if (!spec.choices!.includes(text)) {
        return { problem: `${shown} is not one of ${spec.choices!.join(', ')}` };
      }
      return text;
    case 'listen': {
      const address = parseListen(text);
      return address ?? { problem: `${shown} is not host:port (e.g. 127.0.0.1:7878)` };
    }
  }
}

function checkRange(spec: SettingSpec, value: number, shown: string): ParseResult {
  if (spec.min !== undefined && value < spec.min) {
    return { problem: `${shown} is below the minimum ${spec.min}` };
  }
  if (spec.max !== undefined && value > spec.max) {
    return { problem: `${shown} is above the maximum ${spec.max}` };
  }
  return value;
}

function parseUrlSetting(spec: SettingSpec, text: string, cwd: string, shown: string): ParseResult {
  if (spec.key === 'db' && text.startsWith('sqlite:')) {
    const file = text.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (file === '') {
      return { problem: 'sqlite: needs a file path, e.g. sqlite:/var/lib/riverfs/riverfs.sqlite' };
    }
    return `sqlite:${path.resolve(cwd, file)}`;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: `${shown} is not a URL` };
  }
  const allowed: Record<string, string[]> = {
    db: ['mysql:', 'mariadb:'],
    redis: ['redis:', 'rediss:'],
    tahoeUrl: ['http:', 'https:'],
  };
  const schemes = allowed[spec.key] ?? [];
  if (!schemes.includes(url.protocol)) {
    const expected = spec.key === 'db' ? ['sqlite:', ...schemes] : schemes;
    return { problem: `scheme "${url.protocol}" is not one of ${expected.join(', ')}` };
  }
  if (spec.key === 'db' && url.pathname.replace(/^\//, '') === '') {
    return { problem: 'names no database (mysql://user:password@host:3306/riverfs)' };
  }
  if (url.hostname === '') {
    return { problem: 'has no host' };
  }
  return text.replace(/\/+$/, '');
}

function checkRelations(config: RiverFsConfig, problems: string[]): void {
  // The reveal token grants more than the admin token; one value for both would make every admin a revealer.
  if (config.adminToken !== undefined && config.adminToken === config.adminRevealToken) {
    problems.push('adminRevealToken must differ from adminToken');
  }
  const { gridSharesNeeded: k, gridSharesHappy: happy, gridSharesTotal: n } = config;
  if (k > n) {
    problems.push(`gridSharesNeeded (${k}) must not exceed gridSharesTotal (${n})`);
  }
  if (happy < k || happy > n) {
    problems.push(`gridSharesHappy (${happy}) must lie between gridSharesNeeded (${k}) and gridSharesTotal (${n})`);
  }
  if (config.tahoeUrl === undefined && happy > config.gridStorageNodes) {
    problems.push(
      `gridSharesHappy (${happy}) exceeds gridStorageNodes (${config.gridStorageNodes}): every upload to the local grid would fail`,
    );
  }
}

/** The configuration as it may be logged: secrets replaced, URLs with their passwords hidden. */
export function redactConfig(config: RiverFsConfig): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    const value = config[spec.key];
    if (value === undefined) {
      shown[spec.key] = undefined;
    } else if (spec.key === 'db' || spec.key === 'redis') {
      shown[spec.key] = typeof value === 'string' && !value.startsWith('sqlite:') ? redactUrl(value) : value;
    } else if (spec.secret) {
      shown[spec.key] = '<redacted>';
    } else {
      shown[spec.key] = value;
    }
  }
  return shown;
}
