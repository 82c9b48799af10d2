import { execFileSync } from 'node:child_process';

/** One entry of a directory tree, as lstat (statx, never from the kernel's attribute cache) and reading it show it. */
export interface TreeEntry {
  /** Path below the root, '/'-separated; bytes that are not UTF-8 appear as \xNN. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';
  /** Permission bits, including set-ID and sticky bits. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: number;
  /** null for directories (their size means nothing portable). */
  size: number | null;
  atimeNs: string;
  mtimeNs: string;
  ctimeNs: string;
  /** sha256 of a regular file's content. */
  sha256: string | null;
  /** A symlink's target. */
  target: string | null;
  /** For a file with several names: every path of its inode in this tree, sorted. */
  links: string[] | null;
  /** Extended attributes (name → hex value). */
  xattrs: Record<string, string>;
}

const SCRIPT = String.raw`
import ctypes, errno, hashlib, json, os, stat, sys
libc = ctypes.CDLL(None, use_errno=True)
class TS(ctypes.Structure):
    _fields_ = [('sec', ctypes.c_int64), ('nsec', ctypes.c_uint32), ('reserved', ctypes.c_int32)]
class STATX(ctypes.Structure):
    _fields_ = [('mask', ctypes.c_uint32), ('blksize', ctypes.c_uint32), ('attributes', ctypes.c_uint64),
                ('nlink', ctypes.c_uint32), ('uid', ctypes.c_uint32), ('gid', ctypes.c_uint32),
                ('mode', ctypes.c_uint16), ('pad', ctypes.c_uint16), ('ino', ctypes.c_uint64),
                ('size', ctypes.c_uint64), ('blocks', ctypes.c_uint64), ('attributes_mask', ctypes.c_uint64),
                ('atime', TS), ('btime', TS), ('ctime', TS), ('mtime', TS),
                ('rdev_major', ctypes.c_uint32), ('rdev_minor', ctypes.c_uint32),
                ('dev_major', ctypes.c_uint32), ('dev_minor', ctypes.c_uint32), ('spare', ctypes.c_uint64 * 14)]
def statx(path):
    st = STATX()
    if libc.statx(-100, path, 0x100 | 0x2000, 0xfff, ctypes.byref(st)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return st
def ns(ts):
    return str(ts.sec * 1000000000 + ts.nsec)
def show(raw):
    return raw.decode('utf-8', 'backslashreplace')
TYPES = {stat.S_IFREG: 'file', stat.S_IFDIR: 'dir', stat.S_IFLNK: 'symlink', stat.S_IFIFO: 'fifo',
         stat.S_IFSOCK: 'socket', stat.S_IFCHR: 'char', stat.S_IFBLK: 'block'}
root = os.fsencode(sys.argv[1])
skip = set(os.fsencode(name) for name in sys.argv[2:])
entries = []
def walk(rel):
    full = os.path.join(root, rel) if rel else root
    for name in sorted(os.listdir(full)):
        if not rel and name in skip:
            continue
        child = os.path.join(rel, name) if rel else name
        path = os.path.join(root, child)
        st = statx(path)
        kind = TYPES[st.mode & 0o170000]
        entry = {'path': show(child), 'type': kind, 'mode': st.mode & 0o7777, 'uid': st.uid, 'gid': st.gid,
                 'nlink': st.nlink, 'ino': st.ino, 'size': None if kind == 'dir' else st.size,
                 'atimeNs': ns(st.atime), 'mtimeNs': ns(st.mtime), 'ctimeNs': ns(st.ctime),
                 'sha256': None, 'target': None, 'links': None, 'xattrs': {}}
        if kind == 'file':
            with open(path, 'rb') as f:
                entry['sha256'] = hashlib.sha256(f.read()).hexdigest()
        if kind == 'symlink':
            entry['target'] = show(os.readlink(path))
        if kind in ('file', 'dir'):
            for attr in sorted(os.listxattr(path, follow_symlinks=False)):
                entry['xattrs'][attr] = os.getxattr(path, attr, follow_symlinks=False).hex()
        entries.append(entry)
        if kind == 'dir':
            walk(child)
walk(b'')
by_ino = {}
for entry in entries:
    if entry['type'] != 'dir' and entry['nlink'] > 1:
        by_ino.setdefault(entry['ino'], []).append(entry['path'])
for entry in entries:
    if entry['type'] != 'dir' and entry['nlink'] > 1:
        entry['links'] = sorted(by_ino[entry['ino']])
print(json.dumps(entries))
`;

/** Every entry below `root` (not `root` itself), sorted by path; top-level names in `skip` are left out. */
export function snapshotTree(root: string, skip: string[] = []): TreeEntry[] {
  const output = execFileSync('python3', ['-c', SCRIPT, root, ...skip], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return JSON.parse(output) as TreeEntry[];
}

/** The fields of each entry worth comparing between two trees (another filesystem, or the same one later). */
export function comparable<K extends keyof TreeEntry>(
  entries: TreeEntry[],
  fields: readonly K[],
): Pick<TreeEntry, K | 'path'>[] {
  return entries.map((entry) => {
    const picked = { path: entry.path } as Pick<TreeEntry, K | 'path'>;
    for (const field of fields) {
      picked[field] = entry[field];
    }
    return picked;
  });
}

/**
 * Everything a restart or a rebuild must keep exactly; atime is left out (reading the tree to compare it moves it,
 * and Tahoe does not keep it).
 */
export const DURABLE_FIELDS = [
  'type',
  'mode',
  'uid',
  'gid',
  'nlink',
  'ino',
  'size',
  'mtimeNs',
  'ctimeNs',
  'sha256',
  'target',
  'links',
  'xattrs',
] as const;

export function durable(entries: TreeEntry[]): Pick<TreeEntry, (typeof DURABLE_FIELDS)[number] | 'path'>[] {
  return comparable(entries, DURABLE_FIELDS);
}
