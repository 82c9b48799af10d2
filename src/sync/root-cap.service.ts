import fs from 'node:fs';
import path from 'node:path';
import type { LoggerService } from '@nestjs/common';
import type { MetadataStore } from '../metadata/metadata.store';
import { ROOT_INO } from '../metadata/metadata.types';
import type { SyncJournal } from '../metadata/sync-journal';
import type { StateStore } from '../state/state-store';
import type { TahoeClient } from '../tahoe/tahoe.client';

export const ROOT_CAP_FILE = 'root-cap';

export interface RootCapOptions {
  /** The `rootCap` setting, when given. */
  configuredCap: string | undefined;
  dataDir: string;
  /** How long mount start waits for the grid to create a root directory before going on without one. */
  createTimeoutMs: number;
}

export interface RootCapDeps {
  meta: MetadataStore;
  journal: SyncJournal;
  tahoe: TahoeClient;
  state: StateStore;
  logger: LoggerService;
}

/** Writes the cap to `<dataDir>/root-cap`, mode 0600, atomically (never a half-written key). */
export function writeRootCapFile(dataDir: string, cap: string): string {
  const file = path.join(dataDir, ROOT_CAP_FILE);
  const temporary = `${file}.${process.pid}.tmp`;
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(temporary, `${cap}\n`, { mode: 0o600 });
  fs.chmodSync(temporary, 0o600);
  fs.renameSync(temporary, file);
  return file;
}

/** Narrows an existing `<dataDir>/root-cap` to 0600 (one written by an older RiverFS, or copied in by hand). */
export function protectRootCapFile(dataDir: string): void {
  const file = path.join(dataDir, ROOT_CAP_FILE);
  try {
    if ((fs.statSync(file).mode & 0o077) !== 0) {
      fs.chmodSync(file, 0o600);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw error;
    }
  }
}

/**
 * The write cap of the root dirnode (DESIGN.md §7): the configured one, else the one the database recorded, else a
 * new directory created on the grid — once, by one gateway — stored in SQL and in `<dataDir>/root-cap`, and
 * announced with a warning, because it is the key to all data. The cap itself is never logged.
 */
export class RootCapService {
  private cap: string | null = null;
  private creating: Promise<string> | undefined;

  constructor(
    private readonly deps: RootCapDeps,
    private readonly options: RootCapOptions,
  ) {}

  /** The cap once known (null before the grid could create one). */
  get current(): string | null {
    return this.cap;
  }

  /**
   * At mount start: settles the root cap, creating it when there is none. An unreachable grid is not an error here:
   * the mount starts without one and the sync worker creates it later (ensure()).
   */
  async resolveAtStart(): Promise<string | null> {
    const { meta, journal, logger } = this.deps;
    const settings = await meta.getSettings();
    const configured = this.options.configuredCap;
    if (configured !== undefined) {
      if (settings.rootCap !== configured) {
        if (settings.rootCap !== null) {
          logger.warn(
            "The configured root directory differs from the one the database recorded: the root's entries " +
              'will be linked into the configured one',
          );
          await journal.forgetDirectory(ROOT_INO);
          await journal.markDirty(ROOT_INO, { entries: true });
        }
        await meta.setRootCap(configured);
      }
      this.cap = configured;
      return configured;
    }
    if (settings.rootCap !== null) {
      this.cap = settings.rootCap;
      return this.cap;
    }
    try {
      return await this.ensure(AbortSignal.timeout(this.options.createTimeoutMs));
    } catch (error) {
      logger.warn(
        `No root directory yet and the grid could not create one (${(error as Error).message}); ` +
          'files are kept locally and the root directory is created once the grid answers',
      );
      return null;
    }
  }

  /** The root cap, created when there is none yet (concurrent callers share one creation). */
  async ensure(signal?: AbortSignal): Promise<string> {
    if (this.cap !== null) {
      return this.cap;
    }
    this.creating ??= this.create(signal).finally(() => {
      this.creating = undefined;
    });
    return this.creating;
  }

  private async create(signal: AbortSignal | undefined): Promise<string> {
    const { meta, tahoe, state, logger } = this.deps;
    // Gateways sharing a database must not each create a root: one does, under a lock, the others find it.
    return state.withLock('rootcap', { ttlMs: 30_000, waitMs: 60_000 }, async (lock) => {
      const settings = await meta.getSettings();
      if (settings.rootCap !== null) {
        this.cap = settings.rootCap;
        return this.cap;
      }
      const cap = await tahoe.mkdir({ signal });
      lock.assertHeld();
      await meta.setRootCap(cap);
      const file = writeRootCapFile(this.options.dataDir, cap);
      logger.warn(
        'Created the root directory. Its write cap is the key to all data in this filesystem: ' +
          `it is stored in ${file} (mode 0600) and in the metadata database. Back it up and keep it secret; ` +
          'whoever holds it can read and change everything, and without it the data cannot be found again.',
      );
      this.cap = cap;
      return cap;
    });
  }
}
