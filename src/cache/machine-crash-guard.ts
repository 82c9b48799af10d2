import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MARKER = 'cache-state.json';
const BOOT_ID = '/proc/sys/kernel/random/boot_id';
/** `sync -f` of a big cache may take a while; past this the shutdown goes on and the next boot treats it as a crash. */
const SYNC_TIMEOUT_MS = 60_000;

interface CacheState {
  /** The kernel boot the cache was last used in. */
  bootId: string;
  /** Whether that use ended with the cache's filesystem synced (an orderly close). */
  syncedAtClose: boolean;
}

/**
 * Tells the block cache whether its clean blocks can be trusted at start. A clean block fetched from Tahoe is written
 * without an fsync (it can always be fetched again, and an fsync per fetched block would halve cold reads). A crash of
 * RiverFS loses nothing of it (the kernel still holds the page cache), but a crash of the machine can leave the block
 * file shorter than it was written (ext4's delayed allocation commits the size before the data), and a short clean
 * block reads as zeros where the file has bytes. So: when the machine restarted since the cache was last used (the
 * kernel's boot id changed) and that use did not end with the cache synced to disk, clean blocks are dropped and
 * fetched again. Dirty blocks are kept: their durability is the fsync contract's (DESIGN.md §3).
 */
export class MachineCrashGuard {
  private readonly file: string;

  constructor(
    private readonly dir: string,
    private readonly bootIdFile = BOOT_ID,
  ) {
    this.file = path.join(dir, MARKER);
  }

  /**
   * Records this use of the cache (not synced at close until `closed` says so) and answers whether clean blocks of
   * the previous use may be torn. A cache without a marker (new, or from before markers) is trusted as before.
   */
  async opened(): Promise<{ cleanBlocksSuspect: boolean }> {
    const bootId = await currentBootId(this.bootIdFile);
    const previous = await this.read();
    const cleanBlocksSuspect =
      previous !== undefined && bootId !== undefined && previous.bootId !== bootId && !previous.syncedAtClose;
    await this.write({ bootId: bootId ?? 'unknown', syncedAtClose: false });
    return { cleanBlocksSuspect };
  }

  /** After an orderly close: syncs the cache's filesystem, then says so in the marker. */
  async closed(): Promise<void> {
    const bootId = await currentBootId(this.bootIdFile);
    try {
      await run('sync', ['-f', this.dir], { timeout: SYNC_TIMEOUT_MS });
    } catch {
      // Not synced: the marker keeps saying so, and after a reboot the clean blocks are fetched again.
      return;
    }
    await this.write({ bootId: bootId ?? 'unknown', syncedAtClose: true });
  }

  private async read(): Promise<CacheState | undefined> {
    try {
      const state = JSON.parse(await fsp.readFile(this.file, 'utf8')) as Partial<CacheState>;
      return typeof state.bootId === 'string'
        ? { bootId: state.bootId, syncedAtClose: state.syncedAtClose === true }
        : undefined;
    } catch {
      // Missing, or torn by the very crash it guards against: a torn marker means the previous use did not close.
      return fs.existsSync(this.file) ? { bootId: '', syncedAtClose: false } : undefined;
    }
  }

  /** Through a new file renamed over the old one, fsync'd: the marker must never be half written. */
  private async write(state: CacheState): Promise<void> {
    // Unique: two caches of one directory closing at once (tests reopen one) must not share it.
    const temporary = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const handle = await fsp.open(temporary, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(state));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temporary, this.file);
    const dir = await fsp.open(this.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

async function currentBootId(file: string): Promise<string | undefined> {
  try {
    return (await fsp.readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}
