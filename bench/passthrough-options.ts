/**
 * How both low-level pass-throughs (`passthrough`, on the Node binding, and `passthrough-c`) are mounted: RiverFS's
 * own options and timeouts by default (`--fuse-api lowlevel`: default_permissions, allow_other when root, entry and
 * attribute timeouts in every reply), only fsname/subtype renamed, so that the three differ only in the code behind.
 */
import { DEFAULT_LOWLEVEL_TIMEOUT_SECONDS, lowLevelMountOptions } from '../src/fs-ops/mount-options';

export const PASSTHROUGH_TIMEOUT_SECONDS = DEFAULT_LOWLEVEL_TIMEOUT_SECONDS;

export function passthroughMountOptions(): string[] {
  // mount-runner's default: allow_other when mounted by root.
  return lowLevelMountOptions({ allowOther: process.getuid?.() === 0 }).map((option) =>
    option.startsWith('fsname=') || option.startsWith('subtype=') ? option.replace(/=.*/, '=passthrough') : option,
  );
}
