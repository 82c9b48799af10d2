/**
 * What `riverfs fsck` runs (loaded only for that command): the database compared with the Tahoe tree, or rebuilt
 * from it. Talks to the database and Tahoe directly, without the mount application.
 */
import fs from 'node:fs';
import { Logger } from '@nestjs/common';
import path from 'node:path';
import { RiverFsLogger } from '../common/logging/riverfs-logger';
import type { RiverFsConfig } from '../config/config.schema';
import { localGridFromConfig } from '../grid/local-grid.service';
import type { LocalGrid } from '../grid/local-grid';
import { openDataSource, runMigrations } from '../metadata/data-source';
import { describeHolder, readLeaseHolder } from '../metadata/filesystem-lease';
import { ROOT_INO } from '../metadata/metadata.types';
import { SqlMetadataStore } from '../metadata/sql-metadata.store';
import { createStateStore } from '../state/state.module';
import { isCap } from '../tahoe/cap.util';
import { TahoeClient } from '../tahoe/tahoe.client';
import { tahoeClientOptions } from '../tahoe/tahoe.module';
import { DEFAULT_PULL_OPTIONS, DownstreamPuller } from '../sync/downstream-puller';
import { ROOT_CAP_FILE } from '../sync/root-cap.service';
import { TreeChecker, type TreeCheckReport } from '../sync/tree-check';
import { EXIT } from './exit-codes';

export interface FsckFlags {
  rebuild?: boolean;
  force?: boolean;
  json?: boolean;
}

class FsckError extends Error {}

function stamp(): string {
  return new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

function mountingUser(): { uid: number; gid: number } {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

/** The root cap: configured, else the one kept in the data directory (the database may be the thing lost). */
function rootCapFromDisk(config: RiverFsConfig): string | undefined {
  if (config.rootCap !== undefined) {
    return config.rootCap;
  }
  const file = path.join(config.dataDir, ROOT_CAP_FILE);
  if (!fs.existsSync(file)) {
    return undefined;
  }
  const cap = fs.readFileSync(file, 'utf8').trim();
  return isCap(cap) ? cap : undefined;
}

/** Moves a directory or file aside (never deletes what may hold the only copy of something). */
function moveAside(target: string, suffix: string): string | undefined {
  if (!fs.existsSync(target)) {
    return undefined;
  }
  const aside = `${target}.before-rebuild-${suffix}`;
  fs.renameSync(target, aside);
  return aside;
}

function countDirtyBlocks(dir: string): number {
  let count = 0;
  const walk = (current: string): void => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        walk(path.join(current, entry.name));
      } else if (entry.name.endsWith('.d')) {
        count += 1;
      }
    }
  };
  if (fs.existsSync(dir)) {
    walk(dir);
  }
  return count;
}

async function tahoeFor(
  config: RiverFsConfig,
  logger: RiverFsLogger,
): Promise<{ tahoe: TahoeClient; stopGrid: () => Promise<void> }> {
  if (config.tahoeUrl !== undefined) {
    return { tahoe: new TahoeClient(tahoeClientOptions(config, config.tahoeUrl)), stopGrid: () => Promise.resolve() };
  }
  const grid: LocalGrid = localGridFromConfig(config, (message) => logger.log(message, 'LocalGrid'));
  // A grid a running mount uses is left running; one started here is stopped again.
  const wasRunning = (await grid.status()).ready;
  const status = await grid.start();
  return {
    tahoe: new TahoeClient(tahoeClientOptions(config, status.webUrl!)),
    stopGrid: () => (wasRunning ? Promise.resolve() : grid.stop()),
  };
}

/** Refuses to replace a database a running mount still uses (a live gateway session). */
async function assertNoLiveMount(config: RiverFsConfig): Promise<void> {
  const dataSource = await openDataSource(config.db);
  try {
    const rows = await dataSource
      .query<{ n: unknown }[]>('SELECT COUNT(*) AS n FROM gateway_session WHERE expires_at > ?', [Date.now()])
      .catch(() => [{ n: 0 }]);
    // No lease table yet (a database from before it) reads as no holder.
    const holder = await readLeaseHolder(dataSource, Date.now()).catch(() => null);
    if (holder !== null) {
      throw new FsckError(
        `a RiverFS mount holds this database's filesystem lease (${describeHolder(holder)}): stop it first`,
      );
    }
    if (Number(rows[0]?.n ?? 0) > 0) {
      throw new FsckError('a RiverFS mount is using this database (a live gateway session): stop it first');
    }
  } finally {
    await dataSource.destroy();
  }
}

/** An empty database for the rebuild: a new one, or (with --force) the old one moved aside or emptied. */
async function prepareEmptyDatabase(config: RiverFsConfig, force: boolean, suffix: string): Promise<string[]> {
  const notes: string[] = [];
  if (force) {
    await assertNoLiveMount(config);
  }
  if (config.db.startsWith('sqlite:')) {
    const file = config.db.slice('sqlite:'.length);
    if (fs.existsSync(file) && fs.statSync(file).size > 0) {
      if (!force) {
        throw new FsckError(`${file} exists: --rebuild --force moves it aside and builds a new one`);
      }
      for (const extra of ['-wal', '-shm']) {
        moveAside(file + extra, suffix);
      }
      notes.push(`moved the old database to ${moveAside(file, suffix)}`);
    }
    return notes;
  }
  const dataSource = await openDataSource(config.db);
  try {
    const tables = await dataSource.query<unknown[]>('SHOW TABLES');
    if (tables.length > 0) {
      if (!force) {
        throw new FsckError('the database is not empty: --rebuild --force drops its tables and builds new ones');
      }
      await dataSource.dropDatabase();
      notes.push(`dropped the ${tables.length} table(s) of the old database`);
    }
  } finally {
    await dataSource.destroy();
  }
  return notes;
}

async function rebuild(config: RiverFsConfig, flags: FsckFlags, logger: RiverFsLogger): Promise<number> {
  const rootCap = rootCapFromDisk(config);
  if (rootCap === undefined) {
    throw new FsckError(`no root cap: give --root-cap, or keep it in ${path.join(config.dataDir, ROOT_CAP_FILE)}`);
  }
  const { tahoe, stopGrid } = await tahoeFor(config, logger);
  try {
    // Reachable before anything is moved: a rebuild that cannot read the tree must not start.
    await tahoe.listDirectory(rootCap);
    const suffix = stamp();
    const notes = await prepareEmptyDatabase(config, flags.force === true, suffix);
    const dirtyBlocks = countDirtyBlocks(config.cacheDir);
    const cacheAside = fs.existsSync(config.cacheDir) && fs.readdirSync(config.cacheDir).length > 0;
    if (cacheAside) {
      // Cached blocks belong to inodes of the old database: kept aside, never served for the new one.
      notes.push(`moved the block cache to ${moveAside(config.cacheDir, suffix)}`);
      if (dirtyBlocks > 0) {
        logger.warn(
          `${dirtyBlocks} cached block(s) had not reached Tahoe; they are kept in the moved cache directory, not in the rebuilt filesystem`,
          'Fsck',
        );
      }
    }
    await runMigrations(config.db);
    const store = new SqlMetadataStore(await openDataSource(config.db));
    const state = createStateStore(config);
    try {
      await store.initFilesystem({ ...mountingUser(), mode: 0o755 });
      await store.setRootCap(rootCap);
      const puller = new DownstreamPuller(
        {
          journal: store.syncJournal(),
          tahoe,
          state,
          cache: { drop: () => Promise.resolve() },
          // A rebuild runs with nothing mounted: no file is being written.
          localContent: { holdForRemoteChange: () => () => undefined },
          rootCap: { current: rootCap },
          logger,
          defaultOwner: mountingUser(),
          events: store.events,
        },
        { ...DEFAULT_PULL_OPTIONS, ttlMs: 0 },
      );
      let lastReport = 0;
      const totals = await puller.pullTree(ROOT_INO, {
        keepInodeNumbers: true,
        onProgress: (done, queued) => {
          if (!flags.json && Date.now() - lastReport >= 1000) {
            lastReport = Date.now();
            process.stderr.write(`rebuilding: ${done} directories read, ${queued} to go\n`);
          }
        },
      });
      const summary = {
        rebuilt: true,
        directories: totals.directories,
        entries: totals.added,
        notes,
        dirtyBlocksLeftAside: dirtyBlocks,
      };
      if (flags.json) {
        process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      } else {
        process.stdout.write(
          [
            `Rebuilt the metadata database from Tahoe: ${totals.directories} directories, ${totals.added} entries`,
            ...notes.map((note) => `  ${note}`),
            '',
          ].join('\n'),
        );
      }
      return EXIT.OK;
    } finally {
      await store.close();
      await state.close();
    }
  } finally {
    await tahoe.close();
    await stopGrid();
  }
}

function printReport(report: TreeCheckReport): void {
  const lines = report.differences.map(
    (difference) => `${difference.kind.padEnd(16)} ${difference.path}: ${difference.detail}`,
  );
  process.stdout.write(
    [
      ...lines,
      `${report.directories} directories, ${report.entries} entries compared: ${report.differences.length} difference(s), ` +
        `${report.pending.length} entr${report.pending.length === 1 ? 'y' : 'ies'} with changes not pushed yet`,
      '',
    ].join('\n'),
  );
}

async function check(config: RiverFsConfig, flags: FsckFlags, logger: RiverFsLogger): Promise<number> {
  await runMigrations(config.db);
  const store = new SqlMetadataStore(await openDataSource(config.db));
  try {
    const settings = await store.getSettings().catch(() => null);
    const rootCap = config.rootCap ?? settings?.rootCap ?? rootCapFromDisk(config);
    if (rootCap === undefined || rootCap === null) {
      throw new FsckError('no root cap: the database has none and none is configured');
    }
    const { tahoe, stopGrid } = await tahoeFor(config, logger);
    try {
      const report = await new TreeChecker({ journal: store.syncJournal(), tahoe }).check(rootCap);
      if (flags.json) {
        process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      } else {
        printReport(report);
      }
      return report.differences.length === 0 ? EXIT.OK : EXIT.FAILURE;
    } finally {
      await tahoe.close();
      await stopGrid();
    }
  } finally {
    await store.close();
  }
}

export async function runFsck(config: RiverFsConfig, flags: FsckFlags): Promise<number> {
  const logger = new RiverFsLogger({ level: config.logLevel, format: config.logFormat });
  // Modules log through Nest's Logger: to stderr like ours, so stdout carries only the report (--json).
  Logger.overrideLogger(logger);
  try {
    return flags.rebuild ? await rebuild(config, flags, logger) : await check(config, flags, logger);
  } catch (error) {
    if (error instanceof FsckError) {
      process.stderr.write(`riverfs fsck: ${error.message}\n`);
      if (flags.json) {
        process.stdout.write(JSON.stringify({ error: error.message }) + '\n');
      }
      return EXIT.USAGE;
    }
    throw error;
  }
}
