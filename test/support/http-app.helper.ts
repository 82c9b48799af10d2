import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type DynamicModule, Module } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Response } from 'supertest';
import { SyncControl } from '../../src/admin/sync-control';
import { BlockCache } from '../../src/cache/block-cache';
import { LocalContentGate } from '../../src/cache/local-content-gate';
import { RiverFsLogger } from '../../src/common/logging/riverfs-logger';
import { ConfigModule } from '../../src/config/config.module';
import { loadConfig } from '../../src/config/config.loader';
import type { RiverFsConfig } from '../../src/config/config.schema';
import { MountStatus } from '../../src/health/mount-status';
import { createHttpApp, listenHttpApp } from '../../src/http/http-app.factory';
import { HttpAppModule } from '../../src/http/http-app.module';
import { MetadataModule } from '../../src/metadata/metadata.module';
import { MetadataStore } from '../../src/metadata/metadata.store';
import { RiverFsMetrics } from '../../src/metrics/riverfs-metrics.service';
import { StateModule } from '../../src/state/state.module';
import { StateStore } from '../../src/state/state-store';
import { TahoeModule } from '../../src/tahoe/tahoe.module';
import { createTestDatabase, type TestDatabase } from './mariadb.helper';
import { createTestRedis, type TestRedis } from './redis.helper';
import { testTahoeUrl } from './tahoe.helper';

/** The parsed answer, as the DTO the route documents (supertest types bodies as any). */
export function body<T>(response: Response): T {
  return response.body as T;
}

/** An RFC 9457 problem as the API answers it; members beyond the standard ones are the route's extensions. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  code: string;
  correlationId: string;
  errors?: { field: string; reason: string }[];
  [extension: string]: unknown;
}

export interface TestHttpAppOptions {
  /** Metadata database: a SQLite file in the data directory (default) or a fresh MariaDB database. */
  db?: 'sqlite' | 'mariadb';
  /** Default: the test grid's node. */
  tahoeUrl?: string;
  /** Provided to the app as the sync worker's SyncControl (otherwise the stand-in answers 503). */
  syncControl?: (deps: { store: MetadataStore; state: StateStore; cache: BlockCache }) => SyncControl;
  mountStatus?: MountStatus;
  /** More settings, by key (flag values as strings are fine). */
  settings?: Record<string, unknown>;
  /** Log lines the app writes (default: dropped, except errors to stderr). */
  log?: (line: string) => void;
}

export interface TestHttpApp {
  app: NestExpressApplication;
  config: RiverFsConfig;
  /** http://127.0.0.1:<port> */
  url: string;
  adminToken: string;
  revealToken: string;
  store: MetadataStore;
  state: StateStore;
  cache: BlockCache;
  metrics: RiverFsMetrics;
  close(): Promise<void>;
}

@Module({})
class TestPortsModule {}

/** Redis connects in the background; a gateway is not ready (and readiness says so) until it has. */
async function connected(state: StateStore): Promise<void> {
  await new Promise<void>((resolve) => {
    const stop = state.onHealthChange((health) => {
      if (health.status === 'up') {
        stop();
        resolve();
      }
    });
    if (state.health().status === 'up') {
      stop();
      resolve();
    }
  });
}

/**
 * The whole HTTP surface as the application will run it (HttpAppModule bootstrapped by createHttpApp, listening
 * on 127.0.0.1), over real parts: the test grid's Tahoe node, a real metadata database, Redis for the state
 * store, and a BlockCache in a temporary directory. Tokens are generated into the data directory, as on a first
 * start.
 */
export async function createTestHttpApp(options: TestHttpAppOptions = {}): Promise<TestHttpApp> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-http-'));
  const redis: TestRedis = createTestRedis('http');
  let database: TestDatabase | undefined;
  if (options.db === 'mariadb') {
    database = await createTestDatabase('http');
  }
  const config = loadConfig({
    env: { HOME: dataDir },
    flags: {
      dataDir,
      db: database?.url ?? `sqlite:${path.join(dataDir, 'riverfs.sqlite')}`,
      redis: redis.url,
      tahoeUrl: options.tahoeUrl ?? testTahoeUrl(),
      listen: '127.0.0.1:0',
      cacheSize: '64MiB',
      cacheBlockSize: '64KiB',
      logLevel: 'warn',
      logFormat: 'json',
      ...options.settings,
    },
    cwd: dataDir,
  });
  const cache = new BlockCache({
    dir: config.cacheDir,
    blockSize: config.cacheBlockSize,
    maxBytes: config.cacheSize,
    minFreeRatio: 0,
  });
  await cache.init();
  const metrics = new RiverFsMetrics();

  const metadata = MetadataModule.forRoot(config, { onTransaction: metrics.metadataTransactionListener });
  const state = StateModule.forRoot(config, { keyPrefix: redis.keyPrefix });
  const cacheModule: DynamicModule = {
    module: class TestCacheModule {},
    providers: [
      { provide: BlockCache, useValue: cache },
      { provide: LocalContentGate, useValue: new LocalContentGate(cache) },
    ],
    exports: [BlockCache, LocalContentGate],
  };
  const extra: DynamicModule = {
    module: TestPortsModule,
    imports: [metadata, state],
    providers: [
      ...(options.syncControl === undefined
        ? []
        : [
            {
              provide: SyncControl,
              inject: [MetadataStore, StateStore],
              useFactory: (store: MetadataStore, stateStore: StateStore) =>
                options.syncControl!({ store, state: stateStore, cache }),
            },
          ]),
      ...(options.mountStatus === undefined ? [] : [{ provide: MountStatus, useValue: options.mountStatus }]),
    ],
    exports: [
      ...(options.syncControl === undefined ? [] : [SyncControl]),
      ...(options.mountStatus ? [MountStatus] : []),
    ],
  };
  const root: DynamicModule = {
    module: class TestHttpRootModule {},
    imports: [
      ConfigModule.forRoot(config),
      metadata,
      state,
      TahoeModule,
      cacheModule,
      HttpAppModule.forRoot({ imports: [metadata, state, TahoeModule, cacheModule, extra], metrics }),
    ],
  };
  const logger = new RiverFsLogger({
    level: config.logLevel,
    format: 'json',
    write: options.log ?? ((line) => process.stderr.write(`${line}\n`)),
  });
  const app = await createHttpApp(root, config, { logger });
  const address = await listenHttpApp(app, config);
  const stateStore = app.get(StateStore);
  await connected(stateStore);
  const store = app.get(MetadataStore);
  await store.initFilesystem({ uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, mode: 0o755 });

  return {
    app,
    config,
    url: `http://127.0.0.1:${address.port}`,
    adminToken: fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim(),
    revealToken: fs.readFileSync(path.join(dataDir, 'admin-reveal-token'), 'utf8').trim(),
    store,
    state: stateStore,
    cache,
    metrics,
    async close() {
      try {
        await app.close();
        await cache.close();
      } finally {
        await redis.cleanup();
        await database?.drop();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}
