import { FileOnDisk } from './file-on-disk';

/**
 * Keeps recently used cache files open (opening a file per 128 KiB FUSE write would dominate the cost) while
 * bounding open descriptors. A file in use is never closed under its user.
 */
export class HandlePool {
  private readonly open = new Map<string, { file: FileOnDisk; users: number }>();

  constructor(private readonly maxOpen = 256) {}

  async use<T>(path: string, work: (file: FileOnDisk) => Promise<T>): Promise<T> {
    let entry = this.open.get(path);
    if (entry) {
      this.open.delete(path);
    } else {
      entry = { file: new FileOnDisk(path), users: 0 };
    }
    this.open.set(path, entry);
    entry.users++;
    try {
      return await work(entry.file);
    } finally {
      entry.users--;
      await this.trim();
    }
  }

  /** Closes the file at `path` (before it is renamed or deleted). */
  async forget(path: string): Promise<void> {
    const entry = this.open.get(path);
    if (entry) {
      this.open.delete(path);
      await entry.file.close();
    }
  }

  /** fdatasync through a counted use, so the descriptor cannot be closed (and reused) while the call runs. */
  async datasync(path: string): Promise<void> {
    await this.use(path, (file) => file.datasync());
  }

  private async trim(): Promise<void> {
    if (this.open.size <= this.maxOpen) {
      return;
    }
    for (const [path, entry] of this.open) {
      if (this.open.size <= this.maxOpen) {
        break;
      }
      if (entry.users === 0) {
        this.open.delete(path);
        await entry.file.close();
      }
    }
  }

  async closeAll(): Promise<void> {
    const entries = [...this.open.values()];
    this.open.clear();
    await Promise.all(entries.map((entry) => entry.file.close()));
  }
}
