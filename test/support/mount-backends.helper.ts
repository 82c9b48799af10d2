import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { RiverFsProcess, type RiverFsProcessOptions, unmount } from './fuse-mount.helper';
import { createTestDatabase } from './mariadb.helper';
import { createTestRedis } from './redis.helper';

/** The two metadata/state configurations every core suite runs on. */
export type BackendKind = 'sqlite' | 'mariadb';

export interface MountBackend {
  kind: BackendKind;
  title: string;
}

export const SQLITE_BACKEND: MountBackend = { kind: 'sqlite', title: 'SQLite, in-process state' };
export const MARIADB_BACKEND: MountBackend = { kind: 'mariadb', title: 'MariaDB + Redis' };
export const BACKENDS: readonly MountBackend[] = [SQLITE_BACKEND, MARIADB_BACKEND];

/** What a backend needs outside the data directory (a database, a Redis namespace), and how to remove it. */
export interface BackendResources {
  options: Pick<RiverFsProcessOptions, 'db' | 'redis'>;
  release(): Promise<void>;
}

/**
 * The Redis logical database each suite that mounts on MariaDB + Redis uses. RiverFS keys everything under one fixed
 * prefix ("riverfs:") whatever filesystem it serves, and metadata session ids start at 1 in every new database: two
 * suites mounting different filesystems on the same Redis database at the same time would share session and lock
 * keys. Suites run in parallel, so each gets a database of its own (0, the default, is left to the others).
 */
export const REDIS_DATABASES = {
  lease: 7,
  mountedAdmin: 8,
  crashSoak: 9,
  adminSync: 10,
  posix: 11,
  differential: 12,
  restart: 13,
  tools: 14,
  identity: 15,
} as const;

async function deleteRiverFsKeys(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', 'riverfs:*', 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) {
        await client.del(...keys);
      }
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

export async function backendResources(
  backend: MountBackend,
  label: string,
  redisDatabase: (typeof REDIS_DATABASES)[keyof typeof REDIS_DATABASES],
): Promise<BackendResources> {
  if (backend.kind === 'sqlite') {
    return { options: {}, release: () => Promise.resolve() };
  }
  const database = await createTestDatabase(label);
  const redis = createTestRedis(label);
  const url = new URL(redis.url);
  url.pathname = `/${redisDatabase}`;
  // Keys of an earlier run that died before its cleanup.
  await deleteRiverFsKeys(url.toString());
  return {
    options: { db: database.url, redis: url.toString() },
    async release() {
      try {
        await database.drop();
      } finally {
        await redis.cleanup();
        await deleteRiverFsKeys(url.toString());
      }
    },
  };
}

export interface SuiteMount {
  mountpoint: string;
  riverfs: RiverFsProcess;
  /** A new, empty directory in the mount for one test. */
  dir(label: string): string;
  /** A new, empty directory on the local disk (ext4/tmpfs) for the same test, to compare with. */
  localDir(label: string): string;
}

let counter = 0;

/**
 * One RiverFS mount for a whole describe block: mounted in beforeAll, and in afterAll stopped, unmounted (whatever
 * happened) and its mountpoint, data directory, local scratch directories and backend resources removed.
 */
export function useSuiteMount(
  backend: MountBackend,
  suite: keyof typeof REDIS_DATABASES,
  extra: Omit<RiverFsProcessOptions, 'db' | 'redis'> = {},
): () => SuiteMount {
  const label = `${suite}${backend.kind}`;
  let mount: SuiteMount | undefined;
  let resources: BackendResources | undefined;
  let mountpoint: string | undefined;
  let dataDir: string | undefined;
  let localRoot: string | undefined;

  beforeAll(async () => {
    resources = await backendResources(backend, label, REDIS_DATABASES[suite]);
    mountpoint = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-mnt-'));
    // Ours, not RiverFsProcess's: removed below even when the mount never came up.
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-data-'));
    localRoot = fs.mkdtempSync(path.join(os.tmpdir(), `riverfs-local-${label}-`));
    // These suites check what the mount answers, not uploads: stopping need not wait for the sync to drain (what is
    // left would be pushed at the next start, and the data directory goes away with the suite).
    const riverfs = await RiverFsProcess.start(mountpoint, {
      ...extra,
      ...resources.options,
      dataDir,
      args: ['--sync-drain-timeout', '0', ...(extra.args ?? [])],
    });
    const mnt = mountpoint;
    const local = localRoot;
    mount = {
      mountpoint: mnt,
      riverfs,
      dir: (name) => {
        const dir = path.join(mnt, `${name}-${++counter}`);
        fs.mkdirSync(dir);
        return dir;
      },
      localDir: (name) => {
        const dir = path.join(local, `${name}-${++counter}`);
        fs.mkdirSync(dir);
        return dir;
      },
    };
  }, 180_000);

  afterAll(async () => {
    try {
      await mount?.riverfs.dispose();
    } finally {
      try {
        if (mountpoint !== undefined) {
          await unmount(mountpoint);
          fs.rmSync(mountpoint, { recursive: true, force: true });
        }
        for (const dir of [dataDir, localRoot]) {
          if (dir !== undefined) {
            fs.rmSync(dir, { recursive: true, force: true });
          }
        }
      } finally {
        await resources?.release();
      }
    }
  }, 120_000);

  return () => {
    if (mount === undefined) {
      throw new Error('the suite mount is not ready (did beforeAll fail?)');
    }
    return mount;
  };
}
