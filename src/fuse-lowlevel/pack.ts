/**
 * Packing replies for the addon: entries and attributes into a Float64Array laid out as the addon's
 * `entryLayout` says, and readdir replies into a Buffer through the addon's dirent functions (libfuse owns the
 * kernel's directory format).
 */
import type { NativeBinding, NativeName } from './native';
import type {
  Attributes,
  DirectoryEntry,
  DirectoryFiller,
  DirectoryPlusEntry,
  DirectoryPlusFiller,
  Entry,
} from './types';

/** Indices into a packed entry, read from the addon once (it owns the layout). */
export interface EntryLayout {
  ino: number;
  generation: number;
  attrTimeout: number;
  entryTimeout: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blocks: number;
  blksize: number;
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
}

const LAYOUT_FIELDS: ReadonlyArray<keyof EntryLayout> = [
  'ino',
  'generation',
  'attrTimeout',
  'entryTimeout',
  'mode',
  'nlink',
  'uid',
  'gid',
  'rdev',
  'size',
  'blocks',
  'blksize',
  'atimeSec',
  'atimeNsec',
  'mtimeSec',
  'mtimeNsec',
  'ctimeSec',
  'ctimeNsec',
];

export function entryLayout(native: NativeBinding): EntryLayout {
  const layout = {} as EntryLayout;
  for (const field of LAYOUT_FIELDS) {
    const index = native.entryLayout[field];
    if (index === undefined) {
      throw new Error(`the FUSE low-level addon does not know the entry field ${field}: rebuild it`);
    }
    layout[field] = index;
  }
  return layout;
}

export function packedLength(layout: EntryLayout): number {
  return Math.max(...LAYOUT_FIELDS.map((field) => layout[field])) + 1;
}

const DEFAULT_BLKSIZE = 4096;

export function packAttributes(
  layout: EntryLayout,
  out: Float64Array,
  attr: Attributes,
  attrTimeout: number,
): Float64Array {
  out[layout.ino] = attr.ino;
  out[layout.attrTimeout] = attrTimeout;
  out[layout.mode] = attr.mode;
  out[layout.nlink] = attr.nlink;
  out[layout.uid] = attr.uid;
  out[layout.gid] = attr.gid;
  out[layout.rdev] = attr.rdev ?? 0;
  out[layout.size] = attr.size;
  out[layout.blocks] = attr.blocks ?? Math.ceil(attr.size / 512);
  out[layout.blksize] = attr.blksize ?? DEFAULT_BLKSIZE;
  out[layout.atimeSec] = attr.atime.sec;
  out[layout.atimeNsec] = attr.atime.nsec;
  out[layout.mtimeSec] = attr.mtime.sec;
  out[layout.mtimeNsec] = attr.mtime.nsec;
  out[layout.ctimeSec] = attr.ctime.sec;
  out[layout.ctimeNsec] = attr.ctime.nsec;
  return out;
}

export function packEntry(layout: EntryLayout, out: Float64Array, entry: Entry): Float64Array {
  packAttributes(layout, out, entry.attr, entry.attrTimeout);
  out[layout.generation] = entry.generation ?? 0;
  out[layout.entryTimeout] = entry.entryTimeout;
  return out;
}

/**
 * Reply buffers kept for the next request. The kernel asks each readdir for up to max_pages (1 MiB here), and a fresh
 * Buffer of that size per request is memory outside V8's heap, which V8 counts as pressure: listing a small directory
 * in a loop then ran a full mark-compact every ~70 ms, 5 to 7 ms each on RiverFS's heap, and one listing in ten took
 * over a millisecond (p99 9 ms, against 0.3 ms at the median). Replies are written to /dev/fuse before the reply
 * function returns, so a buffer is free again as soon as its request is answered.
 */
export class ReplyBuffers {
  private readonly free: Buffer[] = [];

  /**
   * `keep`: the most buffers kept idle (requests answered at once beyond that allocate and drop theirs). Each is at
   * least `minimumBytes` long, whatever the request asked: the kernel asks readdir for what the caller's getdents
   * buffer holds (glibc: 32 KiB) and its own listings for 1 MiB, and buffers sized to the first small requests
   * filled the pool and could never serve a large one, which then allocated every time.
   */
  constructor(
    private readonly keep = 8,
    private readonly minimumBytes = 1 << 20,
  ) {}

  /** A buffer of at least `size` bytes, to hand back with `give` once the reply went out. */
  take(size: number): Buffer {
    for (let index = this.free.length - 1; index >= 0; index--) {
      if (this.free[index].length >= size) {
        const [buffer] = this.free.splice(index, 1);
        return buffer;
      }
    }
    return Buffer.allocUnsafe(Math.max(size, this.minimumBytes));
  }

  give(buffer: Buffer): void {
    if (this.free.length < this.keep) {
      this.free.push(buffer);
    }
  }

  /** Buffers kept idle now. */
  get idle(): number {
    return this.free.length;
  }
}

/** A readdir reply of at most `size` bytes, written into `storage` (at least that long). */
export class DirectoryBuffer implements DirectoryFiller {
  readonly bytes: Buffer;
  used = 0;

  constructor(
    private readonly native: NativeBinding,
    storage: Buffer,
    size: number,
    private readonly nameOut: (name: string) => NativeName = (name) => name,
  ) {
    this.bytes = storage.subarray(0, size);
  }

  add(entry: DirectoryEntry): boolean {
    const name = this.nameOut(entry.name);
    const used = this.native.direntAdd(this.bytes, this.used, name, entry.ino, entry.mode, entry.nextOffset);
    if (used < 0) {
      return false;
    }
    this.used = used;
    return true;
  }
}

/** A readdirplus reply of at most `size` bytes, written into `storage` (at least that long). */
export class DirectoryPlusBuffer implements DirectoryPlusFiller {
  readonly bytes: Buffer;
  used = 0;

  constructor(
    private readonly native: NativeBinding,
    private readonly layout: EntryLayout,
    private readonly scratch: Float64Array,
    storage: Buffer,
    size: number,
    private readonly nameOut: (name: string) => NativeName = (name) => name,
  ) {
    this.bytes = storage.subarray(0, size);
  }

  add(entry: DirectoryPlusEntry): boolean {
    packEntry(this.layout, this.scratch, entry.entry);
    const name = this.nameOut(entry.name);
    const used = this.native.direntPlusAdd(this.bytes, this.used, name, this.scratch, entry.nextOffset);
    if (used < 0) {
      return false;
    }
    this.used = used;
    return true;
  }
}
