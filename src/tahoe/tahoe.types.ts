import type { Readable } from 'node:stream';
import type { CapFormat } from './cap.util';

/** Settings of a TahoeClient; plain values so the client works without Nest (see TahoeModule for the wiring). */
export interface TahoeClientOptions {
  /** Web-API URL of the client node, e.g. http://127.0.0.1:3456 (a path prefix is allowed). */
  url: string;
  /** Milliseconds to open a TCP connection. */
  connectTimeout: number;
  /** Milliseconds until response headers arrive, counted from the end of the request body (uploads wait for the encode). */
  headersTimeout: number;
  /** Milliseconds of silence allowed while a response body streams. */
  bodyTimeout: number;
  /** Requests in flight at once, response bodies included (also the pool's connection count). */
  concurrency: number;
  /** Extra attempts for idempotent reads that failed transiently. Writes are never retried here. */
  retries: number;
  /** First retry delay in ms (doubled each attempt, with jitter). Default 250. */
  retryBaseDelay?: number;
  /** Cap on a single retry delay in ms. Default 5000. */
  retryMaxDelay?: number;
  /** Receives debug lines about requests and retries; caps are already redacted. */
  logger?: TahoeClientLogger;
  /** Told about every request sent (for metrics); its exceptions are ignored. */
  observer?: TahoeRequestObserver;
}

/** One request to the node, as the observer sees it: no path, no query, so never a cap. */
export interface TahoeRequestEvent {
  /** The client operation, e.g. "listDirectory". */
  operation: string;
  /** The HTTP status, or the failure code when no response came (e.g. "UNAVAILABLE", "AbortError"). */
  status: string;
  /** From sending the request until the response headers arrived or the request failed. */
  durationMs: number;
}

export interface TahoeRequestObserver {
  request(event: TahoeRequestEvent): void;
  /** Body bytes: `sent` once a request body of known length was accepted, `received` as response bodies stream. */
  bytes(direction: 'sent' | 'received', count: number): void;
}

export interface TahoeClientLogger {
  debug(message: string): void;
  warn(message: string): void;
}

export type MutableFormat = 'SDMF' | 'MDMF';

/**
 * What to do when a name already exists. `false` → ALREADY_EXISTS; `'only-files'` replaces files but refuses to
 * replace a directory. Every method of TahoeClient defaults to `false` (Tahoe's own default is `true`, which lets a
 * mkdir silently replace a whole subtree).
 */
export type ReplaceMode = boolean | 'only-files';

/** Body of an upload: bytes in memory, a stream, or a file on disk (streamed, never read whole). */
export type UploadSource = Uint8Array | Readable | AsyncIterable<Uint8Array> | { path: string };

export interface RequestControl {
  signal?: AbortSignal;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive; omitted for "to the end". */
  end?: number;
}

export interface TahoeReadResult {
  /**
   * The bytes. The stream fails with TahoeError TRUNCATED_BODY if it ends before `contentLength` bytes. It holds one
   * of the client's concurrency slots until it ends, fails or is destroyed: always consume or destroy it.
   */
  stream: Readable;
  /** Bytes this response carries (Content-Length). */
  contentLength: number;
  /** Size of the whole file (from Content-Range on a 206, else Content-Length). */
  totalSize: number;
  /** The range served, inclusive, when the server answered 206. */
  range?: { start: number; end: number };
}

/** Edge metadata of a directory entry. Times are float Unix seconds. */
export interface EdgeMetadata {
  /** When the name was first linked (metadata.tahoe.linkcrtime). */
  linkcrtime?: number;
  /** When the link was last (re)written (metadata.tahoe.linkmotime); content overwrites do not touch it. */
  linkmotime?: number;
  /** Every key outside `tahoe` (e.g. `riverfs`), as stored. Clients cannot write under `tahoe`. */
  custom: Record<string, unknown>;
  /** The metadata object exactly as received. */
  raw: Record<string, unknown>;
}

interface NodeCaps {
  /** Write cap; present only for mutable objects addressed through a write cap. */
  rwUri?: string;
  /** Read cap; for unknown children possibly with a `ro.`/`imm.` prefix. */
  roUri?: string;
  /** Verify cap; absent for LIT files and LIT directories. */
  verifyUri?: string;
}

export interface TahoeFileNode extends NodeCaps {
  type: 'file';
  mutable: boolean;
  /** Format reported by the node (LIT files report CHK), falling back to the cap prefix. */
  format?: CapFormat;
  /** For mutable children in a listing, often missing or stale: ask the child itself for an authoritative size. */
  size?: number;
  /** Present when the node was addressed through its parent (a child of a listing, or getChild). */
  metadata?: EdgeMetadata;
}

export interface TahoeDirectoryNode extends NodeCaps {
  type: 'directory';
  mutable: boolean;
  /** From the cap prefix: Tahoe's JSON has no format key for directories. */
  format?: CapFormat;
  metadata?: EdgeMetadata;
}

/** A node Tahoe could not interpret (a future cap format), or JSON this client does not recognise. */
export interface TahoeUnknownNode extends NodeCaps {
  type: 'unknown';
  metadata?: EdgeMetadata;
}

export type TahoeNode = TahoeFileNode | TahoeDirectoryNode | TahoeUnknownNode;

export interface TahoeDirectoryListing extends TahoeDirectoryNode {
  /** Children by name (a Map: names are arbitrary strings, "__proto__" included). Names are NFC, as Tahoe stores them. */
  children: Map<string, TahoeNode>;
}

/** One entry of a set_children / mkdir-with-children body. */
export interface ChildSpec {
  /** Tahoe ignores the type string; it is sent for readability of the request. */
  type?: 'file' | 'directory' | 'unknown';
  rwUri?: string;
  roUri?: string;
  /** Custom metadata keys (e.g. `riverfs`). Omit to keep an existing link's metadata; keys under `tahoe` are ignored by Tahoe. */
  metadata?: Record<string, unknown>;
}

export interface CheckResults {
  storageIndex: string;
  healthy: boolean;
  /** Absent for LIT objects (nothing to recover). */
  recoverable?: boolean;
  summary?: string;
  countHappiness?: number;
  countSharesGood?: number;
  countSharesNeeded?: number;
  countSharesExpected?: number;
  countGoodShareHosts?: number;
  countCorruptShares?: number;
  countWrongShares?: number;
  /** Mutable objects only. */
  countRecoverableVersions?: number;
  countUnrecoverableVersions?: number;
  serversResponding?: string[];
  /** Share identifier → server ids holding it. */
  sharemap?: Record<string, string[]>;
  listCorruptShares?: unknown[];
  raw: Record<string, unknown>;
}

export interface CheckAndRepairResults {
  storageIndex: string;
  repairAttempted: boolean;
  repairSuccessful: boolean;
  preRepair: CheckResults;
  postRepair: CheckResults;
  raw: Record<string, unknown>;
}

export interface CheckOptions extends RequestControl {
  /** Download and verify every share (≈ N/k × size of traffic) instead of only asking the servers. */
  verify?: boolean;
  addLease?: boolean;
}

export interface ManifestNodeEntry {
  type: 'file' | 'directory' | 'unknown';
  /** Names from the walked directory down to this node; [] for the directory itself. */
  path: string[];
  cap: string;
  verifyCap?: string;
  repairCap?: string;
  storageIndex?: string;
}

export interface ManifestStatsEntry {
  type: 'stats';
  stats: Record<string, unknown>;
}

export type ManifestEntry = ManifestNodeEntry | ManifestStatsEntry;

export interface GridServer {
  nodeId: string;
  nickname: string;
  connectionStatus: string;
  /** Status starts with "connected" (HTTPS storage) or "Connected to" (Foolscap). */
  connected: boolean;
  availableSpace: number | null;
  version: string | null;
  /** Float Unix seconds, or null if nothing was ever received. */
  lastReceivedData: number | null;
}

export interface TahoeStatistics {
  counters: Record<string, number>;
  stats: Record<string, number>;
}

export interface MkdirOptions extends RequestControl {
  /** Default SDMF, whatever the node's mutable.format says. */
  format?: MutableFormat;
}

export interface LinkOptions extends RequestControl {
  /** Default false. */
  replace?: ReplaceMode;
}

export interface MkdirChildOptions extends MkdirOptions {
  /** Default false. */
  replace?: ReplaceMode;
}

export interface UploadOptions extends RequestControl {
  /** Byte length of a stream body, sent as Content-Length (chunked transfer otherwise). */
  length?: number;
}

export interface OffsetWriteOptions extends RequestControl {
  /**
   * The file's current size if the caller knows it; otherwise the client asks the grid (`t=json`, one servermap
   * query) so that it can refuse an offset past the end, which Tahoe cannot do (MDMF: assertion 500; SDMF: data
   * silently lands at EOF instead of at the offset).
   */
  currentSize?: number;
}
