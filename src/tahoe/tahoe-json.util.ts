import { type CapFormat, tryParseCap } from './cap.util';
import type {
  CheckAndRepairResults,
  CheckResults,
  EdgeMetadata,
  GridServer,
  ManifestEntry,
  ManifestNodeEntry,
  TahoeDirectoryListing,
  TahoeNode,
  TahoeStatistics,
} from './tahoe.types';

/**
 * Defensive parsers for the JSON the web API returns. Shapes were checked against tahoe-lafs 1.20.0; anything
 * unexpected becomes an "unknown" node or an omitted field rather than an exception, because a listing written by
 * another (newer) Tahoe client must never make a whole directory unreadable.
 */

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function bool(value: unknown): boolean | undefined {
  return typeof value === 'boolean' ? value : undefined;
}

const FORMATS: ReadonlySet<string> = new Set<CapFormat>(['LIT', 'CHK', 'SDMF', 'MDMF']);

function formatFromCaps(...caps: (string | undefined)[]): CapFormat | undefined {
  for (const cap of caps) {
    const parsed = cap === undefined ? undefined : tryParseCap(cap);
    if (parsed?.known) {
      return parsed.format;
    }
  }
  return undefined;
}

export function parseEdgeMetadata(value: unknown): EdgeMetadata | undefined {
  if (!isObject(value)) {
    return undefined;
  }
  const tahoe = isObject(value.tahoe) ? value.tahoe : {};
  const custom: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [key, item] of Object.entries(value)) {
    if (key !== 'tahoe') {
      custom[key] = item;
    }
  }
  const metadata: EdgeMetadata = { custom, raw: value };
  const linkcrtime = num(tahoe.linkcrtime);
  const linkmotime = num(tahoe.linkmotime);
  if (linkcrtime !== undefined) {
    metadata.linkcrtime = linkcrtime;
  }
  if (linkmotime !== undefined) {
    metadata.linkmotime = linkmotime;
  }
  return metadata;
}

function withDefined<T extends object>(target: T, values: Record<string, unknown>): T {
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined) {
      (target as Record<string, unknown>)[key] = value;
    }
  }
  return target;
}

/** Parses `[type, {…}]` as returned by `t=json` and as the values of a listing's `children`. */
export function parseNode(value: unknown): TahoeNode {
  if (!Array.isArray(value) || typeof value[0] !== 'string' || !isObject(value[1])) {
    return { type: 'unknown' };
  }
  const [type, data] = value as [string, Json];
  const caps = { rwUri: str(data.rw_uri), roUri: str(data.ro_uri), verifyUri: str(data.verify_uri) };
  const metadata = parseEdgeMetadata(data.metadata);
  if (type === 'filenode') {
    const reported = str(data.format)?.toUpperCase();
    const format =
      reported !== undefined && FORMATS.has(reported)
        ? (reported as CapFormat)
        : formatFromCaps(caps.rwUri, caps.roUri);
    const mutable = bool(data.mutable) ?? (format === 'SDMF' || format === 'MDMF');
    return withDefined({ type: 'file' as const, mutable }, { ...caps, format, size: num(data.size), metadata });
  }
  if (type === 'dirnode') {
    const format = formatFromCaps(caps.rwUri, caps.roUri, caps.verifyUri);
    const mutable = bool(data.mutable) ?? (format === 'SDMF' || format === 'MDMF');
    return withDefined({ type: 'directory' as const, mutable }, { ...caps, format, metadata });
  }
  return withDefined({ type: 'unknown' as const }, { ...caps, metadata });
}

/** Parses a directory's `t=json`; undefined when the JSON describes something else. */
export function parseDirectoryListing(value: unknown): TahoeDirectoryListing | undefined {
  const node = parseNode(value);
  if (node.type !== 'directory') {
    return undefined;
  }
  const children = new Map<string, TahoeNode>();
  const rawChildren = (value as [string, Json])[1].children;
  if (isObject(rawChildren)) {
    for (const [name, child] of Object.entries(rawChildren)) {
      children.set(name, parseNode(child));
    }
  }
  return { ...node, children };
}

export function parseCheckResults(value: unknown): CheckResults {
  const top = isObject(value) ? value : {};
  const results = isObject(top.results) ? top.results : {};
  const sharemap: Record<string, string[]> | undefined = isObject(results.sharemap)
    ? Object.fromEntries(
        Object.entries(results.sharemap).map(([share, servers]) => [
          share,
          Array.isArray(servers) ? servers.filter((item): item is string => typeof item === 'string') : [],
        ]),
      )
    : undefined;
  const serversResponding = Array.isArray(results['servers-responding'])
    ? results['servers-responding'].filter((item): item is string => typeof item === 'string')
    : undefined;
  return withDefined(
    {
      storageIndex: typeof top['storage-index'] === 'string' ? top['storage-index'] : '',
      healthy: bool(results.healthy) ?? false,
      raw: top,
    },
    {
      recoverable: bool(results.recoverable),
      summary: str(top.summary),
      countHappiness: num(results['count-happiness']),
      countSharesGood: num(results['count-shares-good']),
      countSharesNeeded: num(results['count-shares-needed']),
      countSharesExpected: num(results['count-shares-expected']),
      countGoodShareHosts: num(results['count-good-share-hosts']),
      countCorruptShares: num(results['count-corrupt-shares']),
      countWrongShares: num(results['count-wrong-shares']),
      countRecoverableVersions: num(results['count-recoverable-versions']),
      countUnrecoverableVersions: num(results['count-unrecoverable-versions']),
      serversResponding,
      sharemap,
      listCorruptShares: Array.isArray(results['list-corrupt-shares']) ? results['list-corrupt-shares'] : undefined,
    },
  );
}

/**
 * Parses the answer of `t=check&repair=true`. LIT objects answer with plain check results even when a repair was
 * asked for (there is nothing to repair): they come back as "healthy, no repair attempted".
 */
export function parseCheckAndRepairResults(value: unknown): CheckAndRepairResults {
  const top = isObject(value) ? value : {};
  if (!('pre-repair-results' in top)) {
    const plain = parseCheckResults(top);
    return {
      storageIndex: plain.storageIndex,
      repairAttempted: false,
      repairSuccessful: false,
      preRepair: plain,
      postRepair: plain,
      raw: top,
    };
  }
  const preRepair = parseCheckResults(top['pre-repair-results']);
  const postRepair = 'post-repair-results' in top ? parseCheckResults(top['post-repair-results']) : preRepair;
  return {
    storageIndex: typeof top['storage-index'] === 'string' ? top['storage-index'] : preRepair.storageIndex,
    repairAttempted: bool(top['repair-attempted']) ?? false,
    repairSuccessful: bool(top['repair-successful']) ?? false,
    preRepair,
    postRepair,
    raw: top,
  };
}

/** Parses one line of `t=stream-manifest`; undefined for lines that are not a recognisable entry. */
export function parseManifestLine(line: string): ManifestEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isObject(value)) {
    return undefined;
  }
  if (value.type === 'stats') {
    return { type: 'stats', stats: isObject(value.stats) ? value.stats : {} };
  }
  const cap = str(value.cap);
  if (cap === undefined || !Array.isArray(value.path)) {
    return undefined;
  }
  const type: ManifestNodeEntry['type'] = value.type === 'file' || value.type === 'directory' ? value.type : 'unknown';
  return withDefined(
    { type, path: value.path.filter((item): item is string => typeof item === 'string'), cap },
    { verifyCap: str(value.verifycap), repairCap: str(value.repaircap), storageIndex: str(value['storage-index']) },
  );
}

/** The welcome page's view of the grid (`GET /?t=json`). Tahoe has no "ready" flag: readiness is derived here. */
export class GridStatus {
  constructor(
    readonly servers: readonly GridServer[],
    readonly introducerStatuses: readonly string[],
  ) {}

  /** Servers whose connection status says connected. */
  get connectedCount(): number {
    return this.servers.filter((server) => server.connected).length;
  }

  get connectedIntroducers(): number {
    return this.introducerStatuses.filter((status) => /^connected/i.test(status)).length;
  }

  /** Free space reported by connected servers (null entries ignored); a basis for statfs. */
  get availableSpace(): number {
    return this.servers.reduce((sum, server) => sum + (server.connected ? (server.availableSpace ?? 0) : 0), 0);
  }

  /**
   * Whether an immutable upload can reach `happy` servers: at least that many connected servers that have actually
   * sent data (the same test as Tahoe's own integration suite). With `maxSilenceSeconds`, a server whose last data
   * is older than that (relative to `nowSeconds`, default the current time) does not count.
   */
  isHappy(happy: number, options: { maxSilenceSeconds?: number; nowSeconds?: number } = {}): boolean {
    const now = options.nowSeconds ?? Date.now() / 1000;
    const usable = this.servers.filter(
      (server) =>
        server.connected &&
        server.lastReceivedData !== null &&
        (options.maxSilenceSeconds === undefined || now - server.lastReceivedData <= options.maxSilenceSeconds),
    );
    return usable.length >= happy;
  }
}

export function parseWelcome(value: unknown): GridStatus {
  const top = isObject(value) ? value : {};
  const introducers = isObject(top.introducers) ? top.introducers : {};
  const statuses = Array.isArray(introducers.statuses)
    ? introducers.statuses.filter((item): item is string => typeof item === 'string')
    : [];
  const servers: GridServer[] = (Array.isArray(top.servers) ? top.servers : []).filter(isObject).map((server) => {
    const connectionStatus = typeof server.connection_status === 'string' ? server.connection_status : '';
    return {
      nodeId: typeof server.nodeid === 'string' ? server.nodeid : '',
      nickname: typeof server.nickname === 'string' ? server.nickname : '',
      connectionStatus,
      // HTTPS storage says "connected"; Foolscap says "Connected to <hint> via <handler>".
      connected: /^connected/i.test(connectionStatus),
      availableSpace: num(server.available_space) ?? null,
      version: str(server.version) ?? null,
      lastReceivedData: num(server.last_received_data) ?? null,
    };
  });
  return new GridStatus(servers, statuses);
}

function numbersOf(value: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (typeof item === 'number' && Number.isFinite(item)) {
        out[key] = item;
      }
    }
  }
  return out;
}

export function parseStatistics(value: unknown): TahoeStatistics {
  const top = isObject(value) ? value : {};
  return { counters: numbersOf(top.counters), stats: numbersOf(top.stats) };
}
