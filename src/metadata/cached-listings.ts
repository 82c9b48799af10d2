import { makeRoom } from './bounded-map.util';
import type { DirEntryRecord, DirPage } from './metadata.types';

/** A page as remembered: its entries without their inodes (those live in the inode cache, which owns their freshness). */
interface ListedPage {
  entries: readonly DirEntryRecord[];
  next: number | null;
  expires: number;
}

/**
 * Directory pages read from the store, by directory and page (`after`, `limit`), for CachedMetadataStore. A tree
 * walked again (`find` or `du` after `ls -lR`, a build tool's scans) asks for the same pages, and each costs a join
 * of the directory's entries with 30 inode columns: 50 µs of SQLite for a directory of 25 entries, most of a
 * readdirplus. The owner drops a directory's pages whenever its entries may have changed.
 */
export class CachedListings {
  private readonly byDir = new Map<number, Map<string, ListedPage>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxDirectories: number,
    private readonly now: () => number,
  ) {}

  /** The page's entries as they were listed (no `inode`), or undefined when not remembered or expired. */
  get(dir: number, after: number, limit: number): ListedPage | undefined {
    const page = this.byDir.get(dir)?.get(pageKey(after, limit));
    return page !== undefined && page.expires > this.now() ? page : undefined;
  }

  set(dir: number, after: number, limit: number, page: DirPage): void {
    let pages = this.byDir.get(dir);
    if (pages === undefined) {
      makeRoom(this.byDir, this.maxDirectories);
      pages = new Map();
      this.byDir.set(dir, pages);
    }
    const entries = page.entries.map(({ name, ino, type, cookie }) => ({ name, ino, type, cookie }));
    pages.set(pageKey(after, limit), { entries, next: page.next, expires: this.now() + this.ttlMs });
  }

  forget(dir: number): void {
    this.byDir.delete(dir);
  }

  clear(): void {
    this.byDir.clear();
  }

  get directories(): number {
    return this.byDir.size;
  }
}

function pageKey(after: number, limit: number): string {
  return `${after}:${limit}`;
}
