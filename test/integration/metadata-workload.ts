import { seededRandom } from '../support/seeded-random';
import { type ErrnoName, FsError } from '../../src/common/errors/fs-error';
import type { MetadataStore } from '../../src/metadata/metadata.store';
import { ROOT_INO } from '../../src/metadata/metadata.types';

/** Errnos a random mix of namespace operations legitimately runs into; anything else is a bug. */
const EXPECTED: ReadonlySet<ErrnoName> = new Set([
  'ENOENT',
  'EEXIST',
  'ENOTEMPTY',
  'EISDIR',
  'ENOTDIR',
  'EINVAL',
  'EPERM',
]);

export interface WorkloadOptions {
  /** Workers per store; all run at once. */
  workers: number;
  opsPerWorker: number;
  seed: number;
}

export interface WorkloadResult {
  succeeded: number;
  expectedFailures: Partial<Record<ErrnoName, number>>;
  /** Failures that are not one of the POSIX answers above: must be empty. */
  unexpected: string[];
}

/**
 * Many workers doing random creates, mkdirs, renames (files and directories, across directories, onto
 * existing names), links, unlinks, content changes and rmdirs on a handful of shared directories and names, so that they
 * collide on the same rows all the time.
 */
export async function runRandomWorkload(stores: MetadataStore[], options: WorkloadOptions): Promise<WorkloadResult> {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const owner = { uid: 1000, gid: 1000 };
  const base = await stores[0].mkdir(ROOT_INO, `workload-${options.seed}`, { ...owner, mode: 0o755 });
  const dirs = [base.ino];
  for (let index = 0; index < 4; index += 1) {
    dirs.push((await stores[0].mkdir(base.ino, `d${index}`, { ...owner, mode: 0o755 })).ino);
  }
  const names = Array.from({ length: 8 }, (_, index) => `n${index}`);
  const result: WorkloadResult = { succeeded: 0, expectedFailures: {}, unexpected: [] };

  async function step(store: MetadataStore): Promise<void> {
    const roll = random();
    const dir = pick(dirs);
    const name = pick(names);
    if (roll < 0.22) {
      await store.create(dir, name, { ...owner, mode: 0o644 });
    } else if (roll < 0.32) {
      dirs.push((await store.mkdir(dir, name, { ...owner, mode: 0o755 })).ino);
    } else if (roll < 0.67) {
      await store.rename(dir, name, pick(dirs), pick(names));
    } else if (roll < 0.77) {
      const target = await store.lookup(dir, name);
      await store.link(target.ino, pick(dirs), pick(names));
    } else if (roll < 0.86) {
      await store.unlink(dir, name);
    } else if (roll < 0.92) {
      // A flush racing with renames and unlinks of the same file.
      const target = await store.lookup(dir, name);
      await store.recordContentChange(target.ino, { size: Math.floor(random() * 1e6), mtime: 'now' });
    } else {
      await store.rmdir(dir, name);
    }
  }

  async function worker(store: MetadataStore): Promise<void> {
    for (let op = 0; op < options.opsPerWorker; op += 1) {
      try {
        await step(store);
        result.succeeded += 1;
      } catch (error) {
        if (error instanceof FsError && EXPECTED.has(error.code)) {
          result.expectedFailures[error.code] = (result.expectedFailures[error.code] ?? 0) + 1;
        } else {
          result.unexpected.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
        }
      }
    }
  }

  await Promise.all(stores.flatMap((store) => Array.from({ length: options.workers }, () => worker(store))));
  return result;
}

export function workloadSeed(): number {
  const fromEnv = Number(process.env.RIVERFS_TEST_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.floor(Math.random() * 2 ** 31) + 1;
}
