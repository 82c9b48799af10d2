/**
 * Micro-benchmark of the MetadataStore calls on the FUSE hot path: getattr (getInode), lookup, create +
 * unlink, and the write path's recordContentChange at flush. Its numbers decide whether the gateway needs an
 * in-memory attribute cache in front of the store. Not part of `npm test`: timings vary with the machine.
 *
 *   npx tsc --outDir dist/bench --rootDir . --target es2022 --module commonjs --moduleResolution node \
 *     --esModuleInterop --experimentalDecorators --emitDecoratorMetadata --resolveJsonModule --skipLibCheck \
 *     --strict bench/metadata-micro.ts
 *   node dist/bench/bench/metadata-micro.js sqlite                        # a new file under /tmp
 *   node dist/bench/bench/metadata-micro.js mysql://root@127.0.0.1:3306   # a scratch database, dropped after
 *
 * Options (after the target): --seconds N per measurement (default 3), --files N in the directory (default 1000),
 * --concurrency N callers for the parallel runs (default 8).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { openDataSource, runMigrations } from '../src/metadata/data-source';
import { type InodeRecord, ROOT_INO } from '../src/metadata/metadata.types';
import { SqlMetadataStore } from '../src/metadata/sql-metadata.store';

interface Options {
  target: string;
  seconds: number;
  files: number;
  concurrency: number;
}

interface Result {
  ops: number;
  seconds: number;
  /** Per-call latencies in ms (sequential runs only). */
  latencies: number[];
}

function parseArgs(argv: string[]): Options {
  const options: Options = { target: argv[0] ?? 'sqlite', seconds: 3, files: 1000, concurrency: 8 };
  for (let index = 1; index < argv.length; index += 2) {
    const value = Number(argv[index + 1]);
    if (!Number.isInteger(value) || value <= 0) {
      throw new Error(`${argv[index]} needs a positive integer`);
    }
    switch (argv[index]) {
      case '--seconds':
        options.seconds = value;
        break;
      case '--files':
        options.files = value;
        break;
      case '--concurrency':
        options.concurrency = value;
        break;
      default:
        throw new Error(`unknown option ${argv[index]}`);
    }
  }
  return options;
}

/** A database for the run and how to get rid of it. */
async function scratchDb(target: string): Promise<{ db: string; where: string; dispose(): Promise<void> }> {
  if (target === 'sqlite') {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-bench-'));
    const file = path.join(directory, 'metadata.sqlite');
    return {
      db: `sqlite:${file}`,
      where: file,
      dispose: () => Promise.resolve(fs.rmSync(directory, { recursive: true, force: true })),
    };
  }
  const name = `riverfs_bench_${process.pid}`;
  const admin = await mysql.createConnection({ uri: target });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  const [[settings]] = await admin.query<mysql.RowDataPacket[]>(
    'SELECT VERSION() AS version, @@innodb_flush_log_at_trx_commit AS flush',
  );
  const url = new URL(target);
  url.pathname = `/${name}`;
  return {
    db: url.toString(),
    where: `${String(settings.version)}, innodb_flush_log_at_trx_commit=${String(settings.flush)}, database ${name}`,
    async dispose() {
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.end();
    },
  };
}

/** Calls `op` from `callers` loops at once until the time is up; latencies are kept for a single caller. */
async function measure(seconds: number, callers: number, op: (call: number) => Promise<unknown>): Promise<Result> {
  const latencies: number[] = [];
  let calls = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < end) {
        const call = calls;
        calls += 1;
        const before = performance.now();
        await op(call);
        if (callers === 1) {
          latencies.push(performance.now() - before);
        }
      }
    }),
  );
  return { ops: calls, seconds: (performance.now() - started) / 1000, latencies };
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

function report(label: string, sequential: Result, parallel: Result, concurrency: number): void {
  const sorted = [...sequential.latencies].sort((a, b) => a - b);
  const rate = (result: Result): string => (result.ops / result.seconds).toFixed(0).padStart(7);
  process.stdout.write(
    `${label.padEnd(22)} ${rate(sequential)} ops/s   p50 ${percentile(sorted, 0.5).toFixed(3)} ms  ` +
      `p99 ${percentile(sorted, 0.99).toFixed(3)} ms   ${concurrency} callers: ${rate(parallel)} ops/s\n`,
  );
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const scratch = await scratchDb(options.target);
  try {
    await runMigrations(scratch.db);
    const dataSource = await openDataSource(scratch.db);
    const store = new SqlMetadataStore(dataSource);
    try {
      await store.initFilesystem({ uid: 0, gid: 0, mode: 0o755 });
      await store.openSession({ host: os.hostname(), pid: process.pid, version: 'bench' });
      const owner = { uid: 1000, gid: 1000, mode: 0o644 };
      const dir = await store.mkdir(ROOT_INO, 'bench', { ...owner, mode: 0o755 });
      const files: InodeRecord[] = [];
      for (let index = 0; index < options.files; index += 1) {
        files.push(await store.create(dir.ino, `file-${index}`, owner));
      }
      const pick = (call: number): InodeRecord => files[(call * 7919) % files.length];
      process.stdout.write(
        `${scratch.where}: ${options.files} files in one directory, ${options.seconds} s per run, node ${process.version}\n`,
      );

      const ops: [string, (call: number, tag: string) => Promise<unknown>][] = [
        ['getInode', (call) => store.getInode(pick(call).ino)],
        ['lookup', (call) => store.lookup(dir.ino, `file-${(call * 7919) % files.length}`)],
        [
          'create+unlink (pairs)',
          async (call, tag) => {
            await store.create(dir.ino, `tmp-${tag}-${call}`, owner);
            await store.unlink(dir.ino, `tmp-${tag}-${call}`);
          },
        ],
        ['recordContentChange', (call) => store.recordContentChange(pick(call).ino, { size: call, mtime: 'now' })],
      ];
      for (const [label, op] of ops) {
        await measure(0.5, 1, (call) => op(call, 'warm'));
        const sequential = await measure(options.seconds, 1, (call) => op(call, 'seq'));
        const parallel = await measure(options.seconds, options.concurrency, (call) => op(call, 'par'));
        report(label, sequential, parallel, options.concurrency);
      }
      const stats = store.stats();
      process.stdout.write(
        `transactions ${stats.transactions}, retries ${stats.retries}, restarts ${stats.restarts}\n`,
      );
    } finally {
      await store.close();
    }
  } finally {
    await scratch.dispose();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`metadata-micro: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
