/**
 * The FUSE low-level binding (issue 13 step 1): requests by inode number, lookup/forget counts, per-reply entry and
 * attribute timeouts, readdirplus, kernel invalidations, POSIX and flock locks, fallocate, copy_file_range.
 * The addon is packages/fuse-lowlevel (its README says why it is a package here and not a fuse-native patch).
 *
 * Why libfuse 3 (the system's, Debian libfuse3-dev) and not fuse-native's bundled libfuse 2.9: 2.9's low-level API
 * lacks readdirplus, copy_file_range, per-connection max_pages (requests stay capped at 128 KiB; 3.x allows 1 MiB)
 * and the writeback cache; and fusermount3 is already what we mount with. The measured comparison (a Node
 * pass-through on this binding against bench/passthrough-fs.ts on fuse-native) is in the branch's report.
 */
export { LowLevelMount, type LowLevelMountOptions, errnoOf } from './session';
export * from './types';
