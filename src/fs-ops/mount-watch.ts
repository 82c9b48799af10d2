/**
 * Notices that the kernel stopped listing a mount (an operator's `fusermount -u`, a clean-up script): libfuse then
 * ends its session quietly and fuse-native tells nobody, so without this the gateway would keep running, unmounted,
 * with nothing to serve and its dirty data waiting. Polls a cheap check (reading /proc/self/mountinfo, never the
 * mount itself: a synchronous look into our own mount would deadlock the event loop that serves it). Two misses in a
 * row are needed, since a read of mountinfo racing another mount or unmount may skip lines.
 */
export class MountWatch {
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private misses = 0;
  private gone = false;

  constructor(
    private readonly isListed: () => Promise<boolean>,
    private readonly onGone: () => void,
    private readonly intervalMs = MOUNT_WATCH_INTERVAL_MS,
  ) {}

  start(): void {
    if (this.timer !== undefined || this.gone) {
      return;
    }
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    // The watch is never what keeps the process alive.
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    if (this.checking || this.timer === undefined) {
      return;
    }
    this.checking = true;
    try {
      const listed = await this.isListed();
      this.misses = listed ? 0 : this.misses + 1;
    } catch {
      // mountinfo unreadable for a moment: no evidence either way.
    } finally {
      this.checking = false;
    }
    if (this.misses >= MISSES_NEEDED && this.timer !== undefined) {
      this.stop();
      this.gone = true;
      this.onGone();
    }
  }
}

/** How often the mount is looked for: the gateway notices a vanished mount within about twice this. */
export const MOUNT_WATCH_INTERVAL_MS = 1000;
const MISSES_NEEDED = 2;
