import { TahoeChecks } from './tahoe-checks';
import { TahoeDirectories } from './tahoe-directories';
import { TahoeFiles } from './tahoe-files';
import { TahoeHttp } from './tahoe-http';
import type { GridStatus } from './tahoe-json.util';
import type {
  ByteRange,
  CheckAndRepairResults,
  CheckOptions,
  CheckResults,
  ChildSpec,
  LinkOptions,
  ManifestEntry,
  MkdirChildOptions,
  MkdirOptions,
  MutableFormat,
  OffsetWriteOptions,
  RequestControl,
  TahoeClientOptions,
  TahoeDirectoryListing,
  TahoeNode,
  TahoeReadResult,
  TahoeStatistics,
  UploadOptions,
  UploadSource,
} from './tahoe.types';

/**
 * The Tahoe web-API client: one keep-alive connection pool to a Tahoe client node, bounded concurrency, timeouts,
 * retries of idempotent reads, and one error type (TahoeError) for every failure. Caps never appear unredacted in
 * errors or logs. Usable without Nest: `new TahoeClient({ url, … })`, then `close()`.
 *
 * Objects are addressed by cap (`/uri/$CAP`), with a child name only for operations on a link, so that no request
 * ever walks a path (one directory fetch per level) or creates intermediate directories as a side effect.
 *
 * The one class callers use, a facade: the transport (tahoe-http.ts) holds all the state (pool, concurrency bound,
 * closed flag); the operation groups (tahoe-files.ts, tahoe-directories.ts, tahoe-checks.ts) are stateless over it.
 * Each method's contract is documented here, where callers read it.
 */
export class TahoeClient {
  private readonly http: TahoeHttp;
  private readonly files: TahoeFiles;
  private readonly directories: TahoeDirectories;
  private readonly checks: TahoeChecks;

  constructor(options: TahoeClientOptions) {
    this.http = new TahoeHttp(options);
    this.files = new TahoeFiles(this.http, (cap, control) => this.getNode(cap, control));
    this.directories = new TahoeDirectories(this.http);
    this.checks = new TahoeChecks(this.http);
  }

  /** Waits for requests in flight, then closes every connection. */
  close(): Promise<void> {
    return this.http.close();
  }

  // ------------------------------------------------------------------------------------------------ immutable files

  /** Uploads an immutable file (`PUT /uri?format=CHK`); ≤ 55 bytes become a LIT cap. Returns the cap. */
  upload(source: UploadSource, options: UploadOptions = {}): Promise<string> {
    return this.files.upload(source, options);
  }

  /** Uploads a file from disk, streamed (never held whole in memory). */
  uploadFile(filePath: string, options: RequestControl = {}): Promise<string> {
    return this.upload({ path: filePath }, options);
  }

  // -------------------------------------------------------------------------------------------------- mutable files

  /** Creates a mutable file (`PUT /uri?format=…`, always explicit). Returns its write cap. */
  createMutable(
    format: MutableFormat,
    initial: UploadSource = Buffer.alloc(0),
    options: UploadOptions = {},
  ): Promise<string> {
    return this.files.createMutable(format, initial, options);
  }

  /** Replaces the whole content of a mutable file (the only way to shrink one: Tahoe has no truncate). */
  overwriteMutable(writecap: string, source: UploadSource, options: UploadOptions = {}): Promise<void> {
    return this.files.overwriteMutable(writecap, source, options);
  }

  /**
   * Writes `data` at `offset` of a mutable file (`PUT ?offset=`). `offset == size` appends. An offset past the end is
   * refused here with BAD_REQUEST, because Tahoe cannot zero-fill: MDMF fails an assertion and SDMF silently writes
   * at EOF instead. The size check and the write are two requests: callers must serialise writers (as the gateway
   * does with its dirnode/file locks).
   */
  writeMutableAt(writecap: string, offset: number, data: Uint8Array, options: OffsetWriteOptions = {}): Promise<void> {
    return this.files.writeMutableAt(writecap, offset, data, options);
  }

  // ----------------------------------------------------------------------------------------------------------- reads

  /**
   * Reads a file, whole or a byte range, as a stream. Failures before the body starts are retried (idempotent); the
   * returned stream checks its byte count against Content-Length and fails with TRUNCATED_BODY when short.
   */
  read(filecap: string, options: RequestControl & { range?: ByteRange } = {}): Promise<TahoeReadResult> {
    return this.files.read(filecap, options);
  }

  /** Reads `length` bytes from `start` into memory (fewer at the end of the file). Retried as a whole when transient. */
  readRange(filecap: string, start: number, length: number, options: RequestControl = {}): Promise<Buffer> {
    return this.files.readRange(filecap, start, length, options);
  }

  /** Reads a whole (small) file into memory. Retried as a whole when transient. */
  readAll(filecap: string, options: RequestControl = {}): Promise<Buffer> {
    return this.files.readAll(filecap, options);
  }

  // ------------------------------------------------------------------------------------------------------- metadata

  /** `t=json` of any file or directory by cap (no edge metadata: that belongs to a link, see getChild). */
  getNode(cap: string, options: RequestControl = {}): Promise<TahoeNode> {
    return this.directories.getNode(cap, options);
  }

  /** `t=json` of a directory's child by name: the node plus the link's metadata. */
  getChild(dircap: string, name: string, options: RequestControl = {}): Promise<TahoeNode> {
    return this.directories.getChild(dircap, name, options);
  }

  /** The whole listing of a directory in one request (Tahoe has no pagination). */
  listDirectory(dircap: string, options: RequestControl = {}): Promise<TahoeDirectoryListing> {
    return this.directories.listDirectory(dircap, options);
  }

  // ---------------------------------------------------------------------------------------------------- directories

  /** Creates an unlinked empty directory (`POST /uri?t=mkdir&format=…`). Returns its write cap. */
  mkdir(options: MkdirOptions = {}): Promise<string> {
    return this.directories.mkdir(options);
  }

  /** Creates an empty directory linked under `name`; with the default `replace: false` an existing name → ALREADY_EXISTS. */
  mkdirChild(dircap: string, name: string, options: MkdirChildOptions = {}): Promise<string> {
    return this.directories.mkdirChild(dircap, name, options);
  }

  /**
   * Creates an unlinked directory with its children in one publish. Always SDMF: Tahoe ignores `format=` on the
   * unlinked form (use mkdirChildWithChildren for MDMF).
   */
  mkdirWithChildren(
    children: ReadonlyMap<string, ChildSpec> | Record<string, ChildSpec>,
    options: RequestControl = {},
  ): Promise<string> {
    return this.directories.mkdirWithChildren(children, options);
  }

  /** Creates a directory with children, linked under `name` (an existing name is always ALREADY_EXISTS here). */
  mkdirChildWithChildren(
    dircap: string,
    name: string,
    children: ReadonlyMap<string, ChildSpec> | Record<string, ChildSpec>,
    options: MkdirOptions = {},
  ): Promise<string> {
    return this.directories.mkdirChildWithChildren(dircap, name, children, options);
  }

  /** Links an existing cap under `name` (`PUT …/NAME?t=uri`). Metadata cannot be set this way: use setChildren. */
  link(dircap: string, name: string, childcap: string, options: LinkOptions = {}): Promise<void> {
    return this.directories.link(dircap, name, childcap, options);
  }

  /**
   * Adds or replaces several links in one directory publish (atomic as a version). Tahoe reads `replace=` here (the
   * docs say `overwrite=`, which the code ignores). An entry without `metadata` keeps the existing link's metadata.
   */
  setChildren(
    dircap: string,
    children: ReadonlyMap<string, ChildSpec> | Record<string, ChildSpec>,
    options: LinkOptions = {},
  ): Promise<void> {
    return this.directories.setChildren(dircap, children, options);
  }

  /** Removes the link `name` (the object itself survives until garbage collection). Returns the removed child's cap. */
  unlink(dircap: string, name: string, options: RequestControl = {}): Promise<string> {
    return this.directories.unlink(dircap, name, options);
  }

  /** Renames a link within one directory (`t=rename`). Not atomic in Tahoe: the new link is added, then the old removed. */
  rename(dircap: string, fromName: string, toName: string, options: LinkOptions = {}): Promise<void> {
    return this.directories.rename(dircap, fromName, toName, options);
  }

  /** Moves a link to another directory, keeping its metadata (`t=relink`). Two publishes: add, then remove. */
  relink(
    fromDircap: string,
    fromName: string,
    toDircap: string,
    toName: string = fromName,
    options: LinkOptions = {},
  ): Promise<void> {
    return this.directories.relink(fromDircap, fromName, toDircap, toName, options);
  }

  // --------------------------------------------------------------------------------------------- check and manifest

  /** Checks an object's shares (cheap: one query per server; `verify` downloads them all). Retried when transient. */
  check(cap: string, options: CheckOptions = {}): Promise<CheckResults> {
    return this.checks.check(cap, options);
  }

  /** Checks and repairs if needed. Not retried: a repair is a write. */
  checkAndRepair(cap: string, options: CheckOptions = {}): Promise<CheckAndRepairResults> {
    return this.checks.checkAndRepair(cap, options);
  }

  /**
   * Walks a directory tree (`t=stream-manifest`), yielding entries as their lines arrive; the last one is `stats`.
   * Stopping the iteration closes the connection, which cancels the walk. A walk that Tahoe aborts (its "ERROR:"
   * line, typically an unrecoverable directory) fails with UNRECOVERABLE.
   */
  streamManifest(dircap: string, options: RequestControl = {}): AsyncGenerator<ManifestEntry> {
    return this.checks.streamManifest(dircap, options);
  }

  // ---------------------------------------------------------------------------------------------------- node status

  /** The client node's view of the grid (`GET /?t=json`). */
  gridStatus(options: RequestControl = {}): Promise<GridStatus> {
    return this.checks.gridStatus(options);
  }

  /** Node counters and stats (`GET /statistics?t=json`). */
  statistics(options: RequestControl = {}): Promise<TahoeStatistics> {
    return this.checks.statistics(options);
  }
}
