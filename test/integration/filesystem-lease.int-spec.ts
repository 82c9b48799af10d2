import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { DATA_DIRECTORY_ID_FILE } from '../../src/metadata/data-directory-id';
import { openDataSource, runMigrations } from '../../src/metadata/data-source';
import {
  type LeaseClaim,
  readLeaseHolder,
  releaseLease,
  renewLease,
  tryAcquireLease,
} from '../../src/metadata/filesystem-lease';
import { FilesystemLeaseHeldError, FilesystemLeaseKeeper } from '../../src/metadata/filesystem-lease-keeper';
import { ROOT_INO } from '../../src/metadata/metadata.types';
import { SqlMetadataStore } from '../../src/metadata/sql-metadata.store';
import { type TestDatabase, createTestDatabase } from '../support/mariadb.helper';

const DIST = path.join(__dirname, '..', '..', 'dist', 'src', 'metadata');

function claim(name: string): LeaseClaim {
  return { dataDirId: `${name}`.padEnd(32, '0'), host: `host-${name}`, pid: 1000, dataDir: `/data/${name}` };
}

/**
 * One `tryAcquireLease` in a process of its own (the compiled code, as `riverfs mount` runs it), started at
 * `startAt` so that the contenders really are at the database together.
 */
function acquireInChild(db: string, name: string, startAt: number): Promise<boolean> {
  const script = `
    const { openDataSource } = require(${JSON.stringify(path.join(DIST, 'data-source.js'))});
    const { tryAcquireLease } = require(${JSON.stringify(path.join(DIST, 'filesystem-lease.js'))});
    (async () => {
      const dataSource = await openDataSource(process.argv[1], { poolSize: 1 });
      const startAt = Number(process.argv[3]);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now() - 20)));
      while (Date.now() < startAt) {}
      const claim = { dataDirId: process.argv[2].padEnd(32, '0'), host: 'h', pid: process.pid, dataDir: '/d' };
      const result = await tryAcquireLease(dataSource, claim, { nowMs: Date.now(), ttlMs: 60000 });
      await dataSource.destroy();
      process.stdout.write(JSON.stringify({ acquired: result.acquired }));
    })().catch((error) => { process.stderr.write(String(error && error.stack)); process.exit(1); });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, db, name, String(startAt)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) {
        reject(new Error(`acquirer ${name} exited with ${code}: ${err}`));
        return;
      }
      resolve((JSON.parse(out) as { acquired: boolean }).acquired);
    });
  });
}

describe.each(['SQLite', 'MariaDB'])('the filesystem lease on %s', (title) => {
  let directory: string;
  let mariadb: TestDatabase | undefined;
  let db: string;
  const sources: DataSource[] = [];

  async function connection(): Promise<DataSource> {
    const dataSource = await openDataSource(db, { poolSize: 1 });
    sources.push(dataSource);
    return dataSource;
  }

  beforeAll(async () => {
    // Made here, not while the suite is collected: a run filtered to other tests would leave it behind.
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-lease-'));
    if (title === 'MariaDB') {
      mariadb = await createTestDatabase('lease');
      db = mariadb.url;
    } else {
      db = `sqlite:${path.join(directory, 'metadata.sqlite')}`;
    }
    await runMigrations(db);
  });

  afterAll(async () => {
    for (const dataSource of sources.splice(0)) {
      await dataSource.destroy();
    }
    await mariadb?.drop();
    fs.rmSync(directory, { recursive: true, force: true });
  });

  beforeEach(async () => {
    await (await connection()).query('DELETE FROM filesystem_lease');
  });

  it('should let exactly one of four acquirers on separate connections win, round after round', async () => {
    const contenders = await Promise.all([connection(), connection(), connection(), connection()]);
    for (let round = 0; round < 10; round += 1) {
      await contenders[0].query('DELETE FROM filesystem_lease');
      const nowMs = Date.now();
      const results = await Promise.all(
        contenders.map((dataSource, index) =>
          tryAcquireLease(dataSource, claim(`r${round}c${index}`), { nowMs, ttlMs: 60_000 }),
        ),
      );
      const winners = results.flatMap((result, index) => (result.acquired ? [index] : []));
      expect(winners).toHaveLength(1);
      const holder = await readLeaseHolder(contenders[0], nowMs);
      expect(holder).toMatchObject(claim(`r${round}c${winners[0]}`));
      for (const result of results) {
        if (!result.acquired) {
          expect(result.holder).toMatchObject(claim(`r${round}c${winners[0]}`));
        }
      }
    }
  });

  it('should let exactly one of four processes starting at the same instant win', async () => {
    const startAt = Date.now() + 4000;
    const results = await Promise.all(['p0', 'p1', 'p2', 'p3'].map((name) => acquireInChild(db, name, startAt)));
    expect(results.filter(Boolean)).toHaveLength(1);
  }, 60_000);

  it('should hand the lease to the same data directory at once and to another only after expiry', async () => {
    const dataSource = await connection();
    const ttlMs = 100;
    const first = await tryAcquireLease(dataSource, claim('a'), { nowMs: 1000, ttlMs });
    expect(first.acquired).toBe(true);

    const other = await tryAcquireLease(dataSource, claim('b'), { nowMs: 1050, ttlMs });
    expect(other).toEqual({
      acquired: false,
      holder: { ...claim('a'), since: 1000, renewedAt: 1000, expiresAt: 1100 },
    });

    // A restart from a's data directory (kill -9 left the lease live) takes it over; the dead holder's token is void.
    const restarted = await tryAcquireLease(dataSource, claim('a'), { nowMs: 1060, ttlMs });
    expect(restarted.acquired).toBe(true);
    expect(await renewLease(dataSource, (first as { token: string }).token, { nowMs: 1070, ttlMs })).toBe(false);
    const token = (restarted as { token: string }).token;
    expect(await renewLease(dataSource, token, { nowMs: 1070, ttlMs })).toBe(true);

    expect((await tryAcquireLease(dataSource, claim('b'), { nowMs: 1169, ttlMs })).acquired).toBe(false);
    const afterExpiry = await tryAcquireLease(dataSource, claim('b'), { nowMs: 1170, ttlMs });
    expect(afterExpiry.acquired).toBe(true);
    expect(await renewLease(dataSource, token, { nowMs: 1171, ttlMs })).toBe(false);
    expect(await releaseLease(dataSource, token, 1172)).toBe(false);

    // A clean release frees it for anyone at once.
    expect(await releaseLease(dataSource, (afterExpiry as { token: string }).token, 1180)).toBe(true);
    expect(await readLeaseHolder(dataSource, 1181)).toBeNull();
    expect((await tryAcquireLease(dataSource, claim('c'), { nowMs: 1182, ttlMs })).acquired).toBe(true);
  });

  it('should record which cache holds a file’s dirty content, and forget it once the content is uploaded', async () => {
    const dataSource = await connection();
    const store = new SqlMetadataStore(dataSource, { cacheOwner: 'a'.repeat(32) });
    const journal = store.syncJournal();
    await store.initFilesystem({ uid: 0, gid: 0, mode: 0o755 });
    const file = await store.create(ROOT_INO, `owned-${Date.now()}`, { uid: 1, gid: 1, mode: 0o644 });
    expect((await journal.getSyncInode(file.ino))?.dirtyOwner).toBe('a'.repeat(32));

    const cap = 'URI:LIT:mfrgg';
    const written = await new SqlMetadataStore(dataSource, { cacheOwner: 'b'.repeat(32) }).recordContentChange(
      file.ino,
      { size: 3, mtime: 'now' },
    );
    expect((await journal.getSyncInode(file.ino))?.dirtyOwner).toBe('b'.repeat(32));
    expect(await journal.recordUpload(file.ino, written.contentVersion, cap, cap)).toBe(true);
    expect((await journal.getSyncInode(file.ino))?.dirtyOwner).toBeNull();
  });
});

describe('FilesystemLeaseKeeper on SQLite', () => {
  let directory: string;
  let db: string;
  let dataDirA: string;
  let dataDirB: string;

  beforeAll(() => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-leasekeeper-'));
    db = `sqlite:${path.join(directory, 'metadata.sqlite')}`;
    dataDirA = path.join(directory, 'data-a');
    dataDirB = path.join(directory, 'data-b');
  });

  afterAll(() => {
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it('should refuse a second data directory naming the holder, renew without stalling on a busy database, and free the lease on release', async () => {
    const keeperA = await FilesystemLeaseKeeper.acquire({ db, dataDir: dataDirA, ttlMs: 60_000 });
    try {
      expect(fs.statSync(path.join(dataDirA, DATA_DIRECTORY_ID_FILE)).mode & 0o777).toBe(0o600);
      const refusal = await FilesystemLeaseKeeper.acquire({ db, dataDir: dataDirB, ttlMs: 60_000 }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refusal).toBeInstanceOf(FilesystemLeaseHeldError);
      expect((refusal as Error).message).toContain(
        `mounted by another gateway (host ${os.hostname()}, pid ${process.pid}, data directory ${dataDirA}, since `,
      );

      // The gateway's own connection holds a write transaction across awaits, as its store does; the renewal must
      // wait for it without blocking the event loop (SQLite's busy handler would sleep through the commit).
      const gateway = await openDataSource(db);
      try {
        const before = (await readLeaseHolder(gateway, Date.now()))!;
        const transaction = gateway.createQueryRunner();
        await transaction.startTransaction();
        await transaction.query('UPDATE fs_setting SET value = value');
        await transaction.query("INSERT INTO fs_setting (name, value) VALUES ('lease-test', 'x')");
        const committed = new Promise<void>((resolve, reject) => {
          setTimeout(() => {
            transaction
              .commitTransaction()
              .then(() => transaction.release())
              .then(resolve, reject);
          }, 300);
        });
        const started = Date.now();
        await new Promise((resolve) => setTimeout(resolve, 5));
        await keeperA.beat();
        await committed;
        expect(Date.now() - started).toBeLessThan(2_000);
        expect((await readLeaseHolder(gateway, Date.now()))!.renewedAt).toBeGreaterThan(before.renewedAt);
        expect(keeperA.held).toBe(true);
      } finally {
        await gateway.destroy();
      }
    } finally {
      await keeperA.release();
    }
    const keeperB = await FilesystemLeaseKeeper.acquire({ db, dataDir: dataDirB, ttlMs: 60_000 });
    await keeperB.release();
  });

  it('should notice, and say loudly, that another process took the lease over', async () => {
    const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const keeper = await FilesystemLeaseKeeper.acquire({ db, dataDir: dataDirA, ttlMs: 60_000 });
    const other = await openDataSource(db);
    try {
      // What a restart from the same data directory does while this keeper (a hung gateway) still runs.
      const takeover = await tryAcquireLease(
        other,
        { ...keeper.claim, pid: 999_999 },
        { nowMs: Date.now(), ttlMs: 60_000 },
      );
      expect(takeover.acquired).toBe(true);
      await keeper.beat();
      expect(keeper.held).toBe(false);
      expect(errors).toHaveBeenCalledWith(expect.stringContaining('This gateway lost the filesystem lease'));
      // Its release leaves the new holder's lease alone.
      await keeper.release();
      expect(await readLeaseHolder(other, Date.now())).toMatchObject({ pid: 999_999 });
    } finally {
      errors.mockRestore();
      await keeper.release();
      await other.destroy();
    }
  });
});
