/**
 * What the publish's re-read of a dirnode (issue 12: conflict copies on publish) costs, and how long the window is
 * that Tahoe's lack of compare-and-swap leaves: from the re-read's answer until the publish's last mutation completed,
 * another writer's change to an entry being replaced is lost. For directories of several sizes, one entry changed per
 * publish, as a file saved again does. Not part of `npm test`: timings vary with the machine.
 *
 *   npx tsc -p bench/tsconfig.json
 *   node dist/bench/bench/publish-recheck.js http://127.0.0.1:PORT [--sizes 10,1000] [--publishes 40]
 *
 * The URL is a Tahoe node's web API (the test grid: `node bin/riverfs.js grid start --grid-dir DIR` prints it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDataSource, runMigrations } from '../src/metadata/data-source';
import { ROOT_INO } from '../src/metadata/metadata.types';
import { SqlMetadataStore } from '../src/metadata/sql-metadata.store';
import { InProcessStateStore } from '../src/state/in-process-state-store';
import { DirnodePublisher } from '../src/sync/dirnode-publisher.service';
import { RootCapService } from '../src/sync/root-cap.service';
import { TahoeClient } from '../src/tahoe/tahoe.client';

interface Options {
  url: string;
  sizes: number[];
  publishes: number;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { url: argv[0] ?? '', sizes: [10, 1000], publishes: 40 };
  for (let index = 1; index < argv.length; index += 2) {
    const value = argv[index + 1] ?? '';
    if (argv[index] === '--sizes') {
      options.sizes = value.split(',').map(Number);
    } else if (argv[index] === '--publishes') {
      options.publishes = Number(value);
    } else {
      throw new Error(`unknown option ${argv[index]}`);
    }
  }
  if (!/^https?:\/\//.test(options.url)) {
    throw new Error('usage: publish-recheck.js TAHOE_URL [--sizes 10,1000] [--publishes 40]');
  }
  return options;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
  return `median ${percentile(sorted, 50)} ms, mean ${mean.toFixed(0)} ms, p90 ${percentile(sorted, 90)} ms, max ${sorted[sorted.length - 1]} ms`;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
  const tahoe = new TahoeClient({
    url: options.url,
    connectTimeout: 5000,
    headersTimeout: 120_000,
    bodyTimeout: 60_000,
    concurrency: 8,
    retries: 2,
  });
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-publish-recheck-'));
  const url = `sqlite:${path.join(directory, 'metadata.sqlite')}`;
  const state = new InProcessStateStore();
  await runMigrations(url);
  const store = new SqlMetadataStore(await openDataSource(url));
  try {
    await store.initFilesystem({ uid: 0, gid: 0, mode: 0o755 });
    const journal = store.syncJournal();
    const rootCaps = new RootCapService(
      { meta: store, journal, tahoe, state, logger: quiet },
      { configuredCap: await tahoe.mkdir(), dataDir: directory, createTimeoutMs: 10_000 },
    );
    await rootCaps.resolveAtStart();
    const publisher = new DirnodePublisher({
      journal,
      tahoe,
      state,
      rootCap: rootCaps,
      logger: quiet,
      events: store.events,
      lockTtlMs: 60_000,
      lockWaitMs: 60_000,
    });
    const owner = { uid: 1000, gid: 1000, mode: 0o644 };
    const newVersion = async (ino: number, text: string): Promise<void> => {
      const cap = await tahoe.upload(Buffer.from(text));
      const version = (await journal.getSyncInode(ino))!.contentVersion;
      if (!(await journal.recordUpload(ino, version, cap, cap))) {
        throw new Error(`inode ${ino} changed while recording its upload`);
      }
    };
    for (const size of options.sizes) {
      const dir = (await store.mkdir(ROOT_INO, `dir-${size}`, { ...owner, mode: 0o755 })).ino;
      const files: number[] = [];
      for (let index = 0; index < size; index += 1) {
        const file = await store.create(dir, `entry-${index}`, owner);
        // ≤ 55 bytes: LIT caps, made by the node without touching the storage servers.
        await newVersion(file.ino, `${size}/${index}`);
        files.push(file.ino);
      }
      await publisher.publish(ROOT_INO);
      await publisher.publish(dir);
      const recheck: number[] = [];
      const window: number[] = [];
      const total: number[] = [];
      for (let round = 0; round < options.publishes; round += 1) {
        const ino = files[round % files.length];
        await journal.markDirty(ino, { data: true });
        await newVersion(ino, `${size}/${round}/again`);
        const started = Date.now();
        const result = await publisher.publish(dir);
        total.push(Date.now() - started);
        if (typeof result?.recheckMs !== 'number' || typeof result.raceWindowMs !== 'number') {
          throw new Error('a publish that replaced an entry did not re-read the dirnode');
        }
        recheck.push(result.recheckMs);
        window.push(result.raceWindowMs);
      }
      console.log(`directory of ${size} entries, ${options.publishes} publishes of one changed entry:`);
      console.log(`  publish          ${summary(total)}`);
      console.log(`  re-read (GET)    ${summary(recheck)}`);
      console.log(`  window (no CAS)  ${summary(window)}`);
    }
  } finally {
    await store.close();
    await state.close();
    await tahoe.close();
    fs.rmSync(directory, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
