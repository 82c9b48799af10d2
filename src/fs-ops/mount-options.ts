/**
 * Every FUSE mount option RiverFS uses, in one place, for both APIs.
 *
 * The low-level API (libfuse 3, packages/fuse-lowlevel) takes only what a mount needs: fsname/subtype,
 * default_permissions and allow_other. Request size, inode numbers and cache timeouts are not mount options there:
 * libfuse 3 negotiates up to 1 MiB requests itself, the kernel's node id is our inode number, and every reply carries
 * its own entry and attribute timeouts (`--entry-timeout`, `--attr-timeout`). An unlinked open file keeps its inode
 * (no hidden names): RiverLowLevelFs holds it until the kernel forgets it.
 *
 * The high-level API (fuse-native, libfuse 2.9):
 * fuse-native 2.2.6 exposes only a few named options, and none of those below that matter most. Our patch
 * (patches/fuse-native+2.2.6.patch) adds `extraOptions`, appended to the single `-o` string fuse-native already
 * hands to both fuse_mount() and fuse_new(); libfuse 2 then sorts mount, library and low-level options itself,
 * so any libfuse option works without per-option code. Why each one:
 * - big_writes, max_write=131072: without them the kernel sends 4 KiB writes (measured 48 MB/s through a bare
 *   pass-through mount, against 368 MB/s with them). 128 KiB is FUSE 2's ceiling: libfuse 2.9 clamps max_write
 *   to its 132 KiB channel buffer, so asking for more changes nothing.
 * - use_ino: our inode numbers reach the kernel, so hard links show one inode and numbers stay stable.
 * - not hard_remove: with it libfuse 2 answers ENOENT to fstat() of a file unlinked while open (the kernel sends
 *   GETATTR without the handle, and libfuse has no path left for it). Without it, libfuse renames such a file to
 *   `.fuse_hiddenNNN` until its last close; RiverFs hides those names from listings.
 * - default_permissions: the kernel checks mode bits, owners and the sticky bit against the caller.
 * - attr_timeout=0, entry_timeout=1: how long the kernel trusts attributes and names it got from us. libfuse 2's
 *   high-level API gives each *name* its own kernel inode, so with a positive attr_timeout a write, link or chmod
 *   through one hard link stays invisible through the others until it expires: a reader through the other name
 *   then sees the old size and gets truncated data. Attributes are therefore always asked for again; answering is
 *   cheap, since RiverFs answers getattr from its metadata cache.
 * - fsname / subtype: what `mount` and /proc/mounts show (`riverfs on /mnt type fuse.riverfs`).
 * - allow_other: other users may use the mount (the kernel checks their permissions: default_permissions); on by
 *   default when mounted by root (--allow-other false turns it off), as JuiceFS does; otherwise only when asked for.
 */
export const FUSE_APIS = ['lowlevel', 'highlevel'] as const;
export type FuseApi = (typeof FUSE_APIS)[number];

export interface MountOptionSettings {
  attrTimeoutSeconds: number;
  entryTimeoutSeconds: number;
  allowOther: boolean;
}

export const MAX_WRITE = 131072;
export const DEFAULT_ATTR_TIMEOUT_SECONDS = 0;
/**
 * How long the low-level mount lets the kernel keep names and attributes (as JuiceFS, 1 s). Every change made through
 * the mount reaches the kernel in its reply (one kernel inode per inode, so hard links stay coherent), and a pull from
 * Tahoe invalidates the inodes and names it changed (FuseService.remoteApplied). Changes made by another gateway are
 * seen within this time, as the high-level mount's 1 s entry timeout already allowed.
 */
export const DEFAULT_LOWLEVEL_TIMEOUT_SECONDS = 1;
/** The high-level mount's entry timeout: its names are per-path kernel inodes, revalidated by GETATTR anyway. */
export const DEFAULT_HIGHLEVEL_ENTRY_TIMEOUT_SECONDS = 1;

export function lowLevelMountOptions(settings: Pick<MountOptionSettings, 'allowOther'>): string[] {
  const options = ['default_permissions', 'fsname=riverfs', 'subtype=riverfs'];
  if (settings.allowOther) {
    options.push('allow_other');
  }
  return options;
}

export function fuseMountOptions(settings: MountOptionSettings): string[] {
  const options = [
    'big_writes',
    `max_write=${MAX_WRITE}`,
    'use_ino',
    'default_permissions',
    `attr_timeout=${settings.attrTimeoutSeconds}`,
    `entry_timeout=${settings.entryTimeoutSeconds}`,
    'fsname=riverfs',
    'subtype=riverfs',
  ];
  if (settings.allowOther) {
    options.push('allow_other');
  }
  return options;
}
