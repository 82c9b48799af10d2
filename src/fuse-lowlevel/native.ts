/**
 * The compiled addon (packages/fuse-lowlevel, built at install by scripts/build-fuse-lowlevel.js) and its types.
 * Only session.ts and the packing helpers talk to it; everything else uses LowLevelMount.
 */
import fs from 'node:fs';
import path from 'node:path';

export type SessionHandle = { readonly __fuseLowLevelSession: unique symbol };

export interface NativeMountOptions {
  maxWrite?: number;
  maxReadahead?: number;
  writebackCache?: boolean;
  readdirplus?: boolean;
  posixLocks?: boolean;
  flockLocks?: boolean;
  /** Names (and link targets) reach JavaScript as latin1 strings, one char per byte. */
  byteNames?: boolean;
  /** False: libfuse answers opendir itself (handle 0), with no JavaScript round trip. */
  opendir?: boolean;
  /** False: libfuse answers releasedir itself. */
  releasedir?: boolean;
}

/** A name handed back to the addon: a string is sent as UTF-8, a Buffer byte for byte. */
export type NativeName = string | Buffer;

export type Dispatch = (op: number, id: number, ...args: unknown[]) => void;

export interface NativeBinding {
  /** libfuse's version, e.g. 314 for 3.14. */
  readonly libfuseVersion: number;
  /** Request kind → the number `dispatch` receives as `op`. */
  readonly ops: Readonly<Record<string, number>>;
  /** Field → index in the Float64Array entries and attributes are packed into. */
  readonly entryLayout: Readonly<Record<string, number>>;
  readonly contextLayout: Readonly<Record<string, number>>;

  mount(
    mountpoint: string,
    fuseArguments: string[],
    options: NativeMountOptions,
    dispatch: Dispatch,
    context: Float64Array,
  ): Promise<SessionHandle>;
  notifyInvalInode(session: SessionHandle, ino: number, offset: number, length: number): Promise<number>;
  notifyInvalEntry(session: SessionHandle, parent: number, name: NativeName): Promise<number>;
  notifyDelete(session: SessionHandle, parent: number, child: number, name: NativeName): Promise<number>;
  /** While true, the loop thread answers getxattr of a `security.*` name ENODATA without a dispatch. */
  setSecurityXattrsAbsent(session: SessionHandle, absent: boolean): void;

  replyError(id: number, errno: number): boolean;
  replyEntry(id: number, entry: Float64Array): boolean;
  replyCreate(id: number, entry: Float64Array, fh: number, openFlags: number): boolean;
  replyAttr(id: number, entry: Float64Array): boolean;
  replyReadlink(id: number, target: NativeName): boolean;
  replyOpen(id: number, fh: number, openFlags: number): boolean;
  replyCount(id: number, count: number): boolean;
  replyBuffer(id: number, data: Buffer, length: number): boolean;
  replyStatfs(id: number, values: Float64Array): boolean;
  replyXattrSize(id: number, size: number): boolean;
  replyLock(id: number, type: number, start: number, length: number, pid: number): boolean;
  /** Appends a directory entry to `buffer` at `used`; the new length, or -1 when it does not fit. */
  direntAdd(buffer: Buffer, used: number, name: NativeName, ino: number, mode: number, nextOffset: number): number;
  direntPlusAdd(buffer: Buffer, used: number, name: NativeName, entry: Float64Array, nextOffset: number): number;
}

const ADDON_RELATIVE = path.join('packages', 'fuse-lowlevel', 'build', 'Release', 'fuse_lowlevel.node');

/** The addon sits in the package root: two levels above src/ when run from source, three above dist/src/. */
export function addonPath(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, ADDON_RELATIVE);
    if (fs.existsSync(candidate)) {
      return candidate;
    }
    if (path.dirname(dir) === dir) {
      throw new Error(
        `the FUSE low-level addon (${ADDON_RELATIVE}) is not built: run \`node scripts/build-fuse-lowlevel.js\` ` +
          '(it needs libfuse3-dev, pkg-config, gcc and make)',
      );
    }
  }
}

let loaded: NativeBinding | undefined;

export function nativeBinding(): NativeBinding {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded ??= require(addonPath()) as NativeBinding;
  return loaded;
}
