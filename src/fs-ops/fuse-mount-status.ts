import { MountStatus, type MountState } from '../health/mount-status';
import type { FuseService } from './fuse.service';

/** Readiness of the mount: FuseService holds it and the kernel still lists it. */
export class FuseMountStatus extends MountStatus {
  readonly expected = true;

  constructor(private readonly fuse: FuseService) {
    super();
  }

  async status(): Promise<MountState> {
    if (!this.fuse.mounted) {
      return { mounted: false, mountpoint: this.fuse.mountpoint, detail: 'not mounted (starting or stopping)' };
    }
    if (!(await this.fuse.listedByKernel())) {
      return { mounted: false, mountpoint: this.fuse.mountpoint, detail: 'the kernel no longer lists the mount' };
    }
    return { mounted: true, mountpoint: this.fuse.mountpoint };
  }
}
