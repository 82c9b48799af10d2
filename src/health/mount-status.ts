export interface MountState {
  mounted: boolean;
  mountpoint: string | null;
  /** Why it is not mounted, when it is not. */
  detail?: string;
}

/**
 * The port through which readiness learns whether the FUSE mount is alive: FsOps implements it and exports it (as
 * `MountStatus`) once the mount exists. Until then, or in a process that serves only the admin API, `NoMountStatus`
 * says that no mount is expected, which readiness does not count as a failure.
 */
export abstract class MountStatus {
  /** True when this process is meant to hold a mount (a mountpoint is configured). */
  abstract readonly expected: boolean;
  abstract status(): MountState | Promise<MountState>;
}

export class NoMountStatus extends MountStatus {
  readonly expected = false;

  status(): MountState {
    return { mounted: false, mountpoint: null, detail: 'this process does not mount the filesystem' };
  }
}
