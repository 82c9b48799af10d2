import os from 'node:os';
import path from 'node:path';

/**
 * Every setting RiverFS understands, in one table: its flag, its environment variable, its YAML key,
 * how it is parsed and checked, and whether it is a secret. The loader, the CLI flags and the README's
 * configuration table are all derived from this list, so they cannot drift apart.
 */
export type SettingKind = 'string' | 'path' | 'url' | 'int' | 'number' | 'bytes' | 'boolean' | 'enum' | 'listen';

export interface SettingSpec<K extends keyof RiverFsConfig = keyof RiverFsConfig> {
  key: K;
  flag: string;
  kind: SettingKind;
  description: string;
  /** Shown in --help and the README. A function when the default depends on other settings. */
  defaultText: string;
  secret?: boolean;
  choices?: readonly string[];
  min?: number;
  max?: number;
}

export const MODES = ['writeback', 'writethrough'] as const;
export type SyncMode = (typeof MODES)[number];
export const LOG_LEVELS = ['error', 'warn', 'log', 'debug', 'verbose'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const FUSE_APIS = ['lowlevel', 'highlevel'] as const;
export type FuseApiSetting = (typeof FUSE_APIS)[number];
export const METRICS_AUTH_MODES = ['auto', 'on', 'off'] as const;
export type MetricsAuthMode = (typeof METRICS_AUTH_MODES)[number];

export interface ListenAddress {
  host: string;
  port: number;
}

export interface RiverFsConfig {
  dataDir: string;
  db: string;
  redis: string | undefined;
  tahoeUrl: string | undefined;
  /** The cap's value comes into `rootCap` whichever way it was given; this says which file it was read from. */
  rootCap: string | undefined;
  rootCapFile: string | undefined;
  listen: ListenAddress;
  cacheDir: string;
  cacheSize: number;
  cacheMinFreeRatio: number;
  cacheBlockSize: number;
  mode: SyncMode;
  /** Seconds shutdown waits for the sync queue to drain. */
  syncDrainTimeout: number;
  /** Seconds after a file's last close before it is uploaded (writeback), and a directory change before it is published. */
  syncDelay: number;
  /** Files uploaded to Tahoe at once by the sync worker (each holds one of the tahoe-concurrency slots). */
  uploadConcurrency: number;
  /** Seconds a directory listing fetched from Tahoe is trusted before a lookup fetches it again. */
  dirTtl: number;
  /** Seconds the filesystem lease outlives its holder's last heartbeat. */
  leaseTtl: number;
  /** Seconds between renewals of the Tahoe leases of every cap the filesystem references; 0: only on request. */
  tahoeLeaseRenewal: number;
  /** Seconds between scheduled deep checks of the whole tree in Tahoe; 0: none (only on request). */
  tahoeCheckInterval: number;
  /** Whether the scheduled deep check also repairs what it finds unhealthy. */
  tahoeCheckRepair: boolean;
  /** The FUSE API the mount speaks: low-level (by inode, libfuse 3) or high-level (by path, fuse-native). */
  fuseApi: FuseApiSetting;
  /** Seconds the kernel trusts attributes (low-level API); undefined: the API's safe default. */
  attrTimeout: number | undefined;
  /** Seconds the kernel trusts names (low-level API); undefined: the API's safe default. */
  entryTimeout: number | undefined;
  /** Whether a mount made by root lets other users in (allow_other). */
  allowOtherWhenRoot: boolean;
  logLevel: LogLevel;
  logFormat: LogFormat;
  adminToken: string | undefined;
  adminRevealToken: string | undefined;
  metricsAuth: MetricsAuthMode;
  httpBodyLimit: number;
  /** Most bytes of the JavaScript heap of `riverfs mount` (V8's old space), set when the process starts. */
  maxHeap: number;
  gridDir: string;
  gridStorageNodes: number;
  gridSharesNeeded: number;
  gridSharesHappy: number;
  gridSharesTotal: number;
  tahoeVenv: string;
  python: string | undefined;
  tahoeConnectTimeout: number;
  tahoeHeadersTimeout: number;
  tahoeBodyTimeout: number;
  tahoeConcurrency: number;
  tahoeRetries: number;
}

export const SETTINGS: readonly SettingSpec[] = [
  {
    key: 'dataDir',
    flag: 'data-dir',
    kind: 'path',
    description: 'Where RiverFS keeps its database (SQLite), cache, local grid and generated secrets',
    defaultText: '$XDG_DATA_HOME/riverfs (~/.local/share/riverfs)',
  },
  {
    key: 'db',
    flag: 'db',
    kind: 'url',
    description: 'Metadata database: sqlite:PATH, or mysql://user:password@host:port/database (MariaDB/MySQL)',
    defaultText: 'sqlite:<data-dir>/riverfs.sqlite',
    secret: true,
  },
  {
    key: 'redis',
    flag: 'redis',
    kind: 'url',
    description: 'State store: redis://[user:password@]host:port[/db]; in-process when unset (one gateway only)',
    defaultText: '(in-process)',
    secret: true,
  },
  {
    key: 'tahoeUrl',
    flag: 'tahoe-url',
    kind: 'url',
    description: 'Web-API URL of an existing Tahoe client node; when unset RiverFS runs its own local grid',
    defaultText: '(local grid)',
  },
  {
    key: 'rootCap',
    flag: 'root-cap',
    kind: 'string',
    description: 'Write cap of the root directory (URI:DIR2:… or URI:DIR2-MDMF:…); created on first start when unset',
    defaultText: '(created, stored in <data-dir>)',
    secret: true,
  },
  {
    key: 'rootCapFile',
    flag: 'root-cap-file',
    kind: 'path',
    description:
      'File holding the root write cap (its first line), instead of --root-cap: keeps the cap out of `ps` and of the environment; a file group or others may read is warned about at start',
    defaultText: '(none)',
  },
  {
    key: 'listen',
    flag: 'listen',
    kind: 'listen',
    description: 'Address of the admin HTTP server (host:port)',
    defaultText: '127.0.0.1:7878',
  },
  {
    key: 'cacheDir',
    flag: 'cache-dir',
    kind: 'path',
    description: 'Block cache directory',
    defaultText: '<data-dir>/cache',
  },
  {
    key: 'cacheSize',
    flag: 'cache-size',
    kind: 'bytes',
    description: 'Maximum bytes of the block cache (e.g. 512MiB, 20GiB)',
    defaultText: '10GiB',
    min: 16 * 1024 * 1024,
  },
  {
    key: 'cacheMinFreeRatio',
    flag: 'cache-min-free-ratio',
    kind: 'number',
    description: 'Keep at least this fraction of the cache disk free',
    defaultText: '0.1',
    min: 0,
    max: 0.9,
  },
  {
    key: 'cacheBlockSize',
    flag: 'cache-block-size',
    kind: 'bytes',
    description: "Cache block size; Tahoe's immutable segment size is 1 MiB",
    defaultText: '1MiB',
    min: 64 * 1024,
    max: 64 * 1024 * 1024,
  },
  {
    key: 'mode',
    flag: 'mode',
    kind: 'enum',
    choices: MODES,
    description:
      'writeback: close returns once data survives a crash of RiverFS, fsync once it survives a crash of the machine; writethrough: close and fsync once it is in Tahoe',
    defaultText: 'writeback',
  },
  {
    key: 'syncDrainTimeout',
    flag: 'sync-drain-timeout',
    kind: 'int',
    description:
      'Seconds shutdown (SIGTERM, unmount) waits for dirty data to reach Tahoe; what is left stays in the cache and is pushed at the next start',
    defaultText: '60',
    min: 0,
    max: 86_400,
  },
  {
    key: 'syncDelay',
    flag: 'sync-delay',
    kind: 'number',
    description:
      'Seconds after the last close of a file (writeback) or a namespace change before it is pushed to Tahoe; repeated closes push at most 30 times this late',
    defaultText: '1',
    min: 0,
    max: 3600,
  },
  {
    key: 'uploadConcurrency',
    flag: 'upload-concurrency',
    kind: 'int',
    description:
      'Files uploaded to Tahoe at once; each holds one of the --tahoe-concurrency requests, so keep it below that for reads and publishes to get through',
    defaultText: '6',
    min: 1,
    max: 64,
  },
  {
    key: 'dirTtl',
    flag: 'dir-ttl',
    kind: 'number',
    description:
      'Seconds a directory listing fetched from Tahoe is trusted; a lookup or listing after that fetches it again, so changes made by other Tahoe clients appear within this time (for a directory whose listing takes longer than a quarter of it to fetch and compare, within four times that)',
    defaultText: '10',
    min: 0,
    max: 86_400,
  },
  {
    key: 'leaseTtl',
    flag: 'lease-ttl',
    kind: 'int',
    description:
      'Seconds the filesystem lease (one gateway per database) outlives its holder: after a crash another data directory may mount once this long has passed without a heartbeat; a restart from the same data directory takes it over at once',
    defaultText: '60',
    min: 2,
    max: 3600,
  },
  {
    key: 'tahoeLeaseRenewal',
    flag: 'tahoe-lease-renewal',
    kind: 'int',
    description:
      "Seconds between renewals of the Tahoe leases of every cap the filesystem references (the root, every directory and file); storage servers that expire leases delete shares whose lease lapsed (Tahoe's lease lasts 31 days). 0: only on request (riverfs leases renew)",
    defaultText: '604800 (7 days)',
    min: 0,
    max: 2_419_200,
  },
  {
    key: 'tahoeCheckInterval',
    flag: 'tahoe-check-interval',
    kind: 'int',
    description:
      'Seconds between scheduled deep checks of every file and directory in Tahoe (a `check` job from the root; results kept per inode). 0: none, only on request (riverfs check)',
    defaultText: '0 (off)',
    min: 0,
    max: 31_536_000,
  },
  {
    key: 'tahoeCheckRepair',
    flag: 'tahoe-check-repair',
    kind: 'boolean',
    description: 'Whether the scheduled deep check (--tahoe-check-interval) also repairs what it finds unhealthy',
    defaultText: 'false',
  },
  {
    key: 'fuseApi',
    flag: 'fuse-api',
    kind: 'enum',
    choices: FUSE_APIS,
    description:
      'FUSE API of the mount: lowlevel (requests by inode number, libfuse 3) or highlevel (requests by path, fuse-native on libfuse 2.9; kept while the low-level mount is new)',
    defaultText: 'lowlevel',
  },
  {
    key: 'attrTimeout',
    flag: 'attr-timeout',
    kind: 'number',
    description:
      'Seconds the kernel may cache attributes it got from the mount (lowlevel API only; the highlevel API never caches them)',
    defaultText: '1',
    min: 0,
    max: 3600,
  },
  {
    key: 'entryTimeout',
    flag: 'entry-timeout',
    kind: 'number',
    description:
      'Seconds the kernel may cache names it looked up in the mount (lowlevel API only; the highlevel API uses 1)',
    defaultText: '1',
    min: 0,
    max: 3600,
  },
  {
    key: 'allowOtherWhenRoot',
    flag: 'allow-other-when-root',
    kind: 'boolean',
    description:
      'When `riverfs mount` runs as root, let other users use the mount (allow_other; the kernel checks their permissions against mode bits and owners). Other mounting users get this only with --allow-other',
    defaultText: 'true',
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    kind: 'enum',
    choices: LOG_LEVELS,
    description: 'Least severe level logged',
    defaultText: 'log',
  },
  {
    key: 'logFormat',
    flag: 'log-format',
    kind: 'enum',
    choices: LOG_FORMATS,
    description: 'json, pretty, or auto (pretty on a terminal, JSON otherwise)',
    defaultText: 'auto',
  },
  {
    key: 'adminToken',
    flag: 'admin-token',
    kind: 'string',
    description: 'Bearer token of the admin API; generated into <data-dir>/admin-token (mode 0600) when unset',
    defaultText: '(generated)',
    secret: true,
  },
  {
    key: 'adminRevealToken',
    flag: 'admin-reveal-token',
    kind: 'string',
    description:
      'Bearer token that may also reveal caps in admin answers (?reveal=true); generated into <data-dir>/admin-reveal-token (mode 0600) when unset',
    defaultText: '(generated)',
    secret: true,
  },
  {
    key: 'metricsAuth',
    flag: 'metrics-auth',
    kind: 'enum',
    choices: METRICS_AUTH_MODES,
    description: 'Whether /metrics needs the admin token: on, off, or auto (only when listening beyond loopback)',
    defaultText: 'auto',
  },
  {
    key: 'httpBodyLimit',
    flag: 'http-body-limit',
    kind: 'bytes',
    description: 'Largest request body the admin API accepts; larger ones get 413',
    defaultText: '64KiB',
    min: 1024,
    max: 16 * 1024 * 1024,
  },
  {
    key: 'maxHeap',
    flag: 'max-heap',
    kind: 'bytes',
    description:
      "Most memory the gateway's JavaScript heap may use (node's --max-old-space-size, in whole MiB): without it V8 lets garbage grow toward a quarter of the machine's memory before collecting hard",
    defaultText: '512MiB',
    min: 128 * 1024 * 1024,
    max: 64 * 1024 ** 3,
  },
  {
    key: 'gridDir',
    flag: 'grid-dir',
    kind: 'path',
    description: 'Directory of the local grid (introducer, storage nodes, client node)',
    defaultText: '<data-dir>/grid',
  },
  {
    key: 'gridStorageNodes',
    flag: 'grid-storage-nodes',
    kind: 'int',
    description: 'Storage nodes of the local grid',
    defaultText: '3',
    min: 1,
    max: 32,
  },
  {
    key: 'gridSharesNeeded',
    flag: 'grid-shares-needed',
    kind: 'int',
    description: 'Shares needed to read a file (k)',
    defaultText: '2',
    min: 1,
    max: 256,
  },
  {
    key: 'gridSharesHappy',
    flag: 'grid-shares-happy',
    kind: 'int',
    description: 'Servers an upload must reach (happy)',
    defaultText: '3',
    min: 1,
    max: 256,
  },
  {
    key: 'gridSharesTotal',
    flag: 'grid-shares-total',
    kind: 'int',
    description: 'Shares written per file (N)',
    defaultText: '3',
    min: 1,
    max: 256,
  },
  {
    key: 'tahoeVenv',
    flag: 'tahoe-venv',
    kind: 'path',
    description: 'Python virtual environment holding tahoe-lafs 1.20.0 (created when missing)',
    defaultText: '$XDG_CACHE_HOME/riverfs/tahoe-lafs-1.20.0',
  },
  {
    key: 'python',
    flag: 'python',
    kind: 'path',
    description: 'Python interpreter used to create the venv (3.11 or 3.12)',
    defaultText: '(python3.11, python3.12, python3 from PATH)',
  },
  {
    key: 'tahoeConnectTimeout',
    flag: 'tahoe-connect-timeout',
    kind: 'int',
    description: 'Milliseconds to open a connection to the Tahoe client node',
    defaultText: '10000',
    min: 100,
  },
  {
    key: 'tahoeHeadersTimeout',
    flag: 'tahoe-headers-timeout',
    kind: 'int',
    description: 'Milliseconds to wait for response headers (uploads wait for the whole encode)',
    defaultText: '300000',
    min: 100,
  },
  {
    key: 'tahoeBodyTimeout',
    flag: 'tahoe-body-timeout',
    kind: 'int',
    description: 'Milliseconds of silence allowed while a response body streams',
    defaultText: '60000',
    min: 100,
  },
  {
    key: 'tahoeConcurrency',
    flag: 'tahoe-concurrency',
    kind: 'int',
    description: 'Requests in flight to the Tahoe client node at once',
    defaultText: '8',
    min: 1,
    max: 256,
  },
  {
    key: 'tahoeRetries',
    flag: 'tahoe-retries',
    kind: 'int',
    description: 'Retries of idempotent Tahoe reads that failed for a transient reason',
    defaultText: '3',
    min: 0,
    max: 20,
  },
];

function homeOf(env: NodeJS.ProcessEnv): string {
  return env.HOME && env.HOME !== '' ? env.HOME : os.homedir();
}

export function defaultDataDir(env: NodeJS.ProcessEnv): string {
  const base =
    env.XDG_DATA_HOME && env.XDG_DATA_HOME !== '' ? env.XDG_DATA_HOME : path.join(homeOf(env), '.local', 'share');
  return path.join(base, 'riverfs');
}

export function defaultTahoeVenv(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : path.join(homeOf(env), '.cache');
  return path.join(base, 'riverfs', 'tahoe-lafs-1.20.0');
}

export function envName(spec: Pick<SettingSpec, 'flag'>): string {
  return 'RIVERFS_' + spec.flag.replace(/-/g, '_').toUpperCase();
}
