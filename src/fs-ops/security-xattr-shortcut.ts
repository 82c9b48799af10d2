/**
 * Owns the low-level binding's "no `security.*` xattr anywhere" flag. While it is set, the binding answers getxattr of
 * such a name ENODATA on its own thread: the kernel asks for security.capability on every write(2) and for
 * security.selinux on every entry `ls -l` shows, and on a filesystem that has none each was a round trip through the
 * JavaScript thread (measured: 5,292 of them in `ls -lR` of a 5,289-entry tree, one per entry).
 *
 * The flag is only ever wrong in the safe direction: it goes off before a `security.*` setxattr through the mount can
 * commit, and a store query (at mount, after each pull) turns it on only if no such setxattr was under way while the
 * query ran. A pull that brings the first `security.*` xattr is answered from the store once its invalidations go out
 * (as the pulled content itself); another gateway's setxattr on a shared database is not seen (issue 16).
 */
export class SecurityXattrShortcut {
  private absent = false;
  private checked = false;
  /** Bumped at each guarded setxattr: a query that overlapped one cannot turn the flag on. */
  private generation = 0;
  private settingNow = 0;

  /** What sets the binding's flag; nothing until the session is mounted (attach), and the flag stays off. */
  private apply: ((absent: boolean) => void) | undefined;

  /** `among`: only these inodes can have gained one (a pull's); absent, the whole store is asked. */
  constructor(private readonly anySecurityXattr: (among?: readonly number[]) => Promise<boolean>) {}

  /** The mounted session's setter: from now on the flag follows the store. */
  async attach(apply: (absent: boolean) => void): Promise<void> {
    this.apply = apply;
    await this.refresh();
  }

  /** Whether the binding answers `security.*` getxattr itself now (tests and diagnostics). */
  get active(): boolean {
    return this.absent;
  }

  /** Runs a setxattr of a `security.*` name with the shortcut off from before it starts. */
  async guardSet<T>(work: () => Promise<T>): Promise<T> {
    this.generation++;
    this.settingNow++;
    if (this.absent) {
      this.absent = false;
      this.apply?.(false);
    }
    try {
      return await work();
    } finally {
      this.settingNow--;
    }
  }

  /**
   * Asks the store whether any `security.*` xattr exists (after a pull: on the inodes it changed, `among`), and sets
   * the flag to match. Once off, it stays off: only a pull, while it is on, can bring the first one.
   */
  async refresh(among?: readonly number[]): Promise<void> {
    if (this.apply === undefined || (this.checked && !this.absent)) {
      return;
    }
    const generation = this.generation;
    let any: boolean;
    try {
      // Until one look at the whole store succeeded, only such a look may turn the flag on.
      any = await this.anySecurityXattr(this.checked ? among : undefined);
    } catch (error) {
      // Not knowing is knowing nothing: off, so every security.* getxattr is asked.
      if (this.absent) {
        this.absent = false;
        this.apply?.(false);
      }
      throw error;
    }
    this.checked = true;
    if (generation !== this.generation || this.settingNow > 0 || this.absent === !any) {
      return;
    }
    this.absent = !any;
    this.apply?.(this.absent);
  }
}
