import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/** Inodes per shard directory. */
const SHARD_SIZE = 1024;
const FLOOR_SUFFIX = '.floor';

/** What a name in a shard directory is. */
export type CacheName =
  { kind: 'block'; ino: number; index: number; dirty: boolean } | { kind: 'floor'; ino: number } | { kind: 'other' };

const BLOCK_NAME = /^(\d+)\.(\d+)(\.d)?$/;
const FLOOR_NAME = /^(\d+)\.floor$/;

/**
 * Where the block cache keeps its files: `blocks/<ino / 1024>/<ino>.<index>` (clean), `<ino>.<index>.d` (dirty) and
 * `<ino>.floor` (the hole floor). Files share a directory per 1,024 inodes rather than having one each, as JuiceFS
 * shards its chunks: a directory per file cost a mkdir in every new file's first write and an rmdir in its unlink,
 * about half a millisecond each on ext4 here, a fifth of a small file's create (profiled).
 */
export class CacheLayout {
  readonly root: string;

  constructor(cacheDir: string) {
    this.root = path.join(cacheDir, 'blocks');
  }

  shardOf(ino: number): number {
    return Math.floor(ino / SHARD_SIZE);
  }

  shardDir(shard: number): string {
    return path.join(this.root, String(shard));
  }

  /** The directory holding the file's names. */
  dirOf(ino: number): string {
    return this.shardDir(this.shardOf(ino));
  }

  blockPath(ino: number, index: number, dirty: boolean): string {
    return path.join(this.dirOf(ino), dirty ? `${ino}.${index}.d` : `${ino}.${index}`);
  }

  floorPath(ino: number): string {
    return path.join(this.dirOf(ino), `${ino}${FLOOR_SUFFIX}`);
  }

  /** Whether `name` (in a shard directory) is one of the file's names. */
  belongsTo(name: string, ino: number): boolean {
    return name.startsWith(`${ino}.`);
  }

  parse(name: string): CacheName {
    const block = BLOCK_NAME.exec(name);
    if (block) {
      return { kind: 'block', ino: Number(block[1]), index: Number(block[2]), dirty: block[3] !== undefined };
    }
    const floor = FLOOR_NAME.exec(name);
    return floor ? { kind: 'floor', ino: Number(floor[1]) } : { kind: 'other' };
  }

  /** The shard directories present, by number. */
  async shards(): Promise<number[]> {
    const entries = await fsp.readdir(this.root).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') {
        return [];
      }
      throw error;
    });
    return entries.filter((name) => /^\d+$/.test(name)).map(Number);
  }

  /**
   * Moves a cache written by an earlier version (`files/<ino>/<index>[.d]` and `files/<ino>/hole-floor`) into this
   * layout, file by file with renames: a crash midway leaves every block under one of its two names, and the next
   * start finishes the move. `files/` is removed once empty. Returns the number of files moved.
   */
  async migrateFromInodeDirectories(cacheDir: string, floorFileName: string): Promise<number> {
    const old = path.join(cacheDir, 'files');
    let inodes: string[];
    try {
      inodes = await fsp.readdir(old);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return 0;
      }
      throw error;
    }
    let moved = 0;
    for (const entry of inodes) {
      const ino = Number(entry);
      const dir = path.join(old, entry);
      if (!Number.isSafeInteger(ino) || ino <= 0 || !(await fsp.stat(dir)).isDirectory()) {
        continue;
      }
      fs.mkdirSync(this.dirOf(ino), { recursive: true, mode: 0o700 });
      for (const name of await fsp.readdir(dir)) {
        const block = /^(\d+)(\.d)?$/.exec(name);
        const target =
          block !== null
            ? this.blockPath(ino, Number(block[1]), block[2] !== undefined)
            : name === floorFileName
              ? this.floorPath(ino)
              : undefined;
        if (target !== undefined) {
          await fsp.rename(path.join(dir, name), target);
          moved += 1;
        }
      }
      await fsp.rm(dir, { recursive: true, force: true });
    }
    await fsp.rm(old, { recursive: true, force: true });
    return moved;
  }
}
