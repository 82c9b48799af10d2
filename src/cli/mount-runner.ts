/**
 * What `riverfs mount` runs. Kept apart from the command's definition so that every other command starts without
 * loading the whole application (Nest, TypeORM, the HTTP surface): about a second per call otherwise.
 */
import fs from 'node:fs';
import path from 'node:path';
import { publishMountRuntime } from './mount-runtime';
import { MountAppModule } from '../app.module';
import { RiverFsLogger } from '../common/logging/riverfs-logger';
import { secretFileExposure } from '../config/config.loader';
import type { RiverFsConfig } from '../config/config.schema';
import { createHttpApp, listenHttpApp } from '../http/http-app.factory';
import { FilesystemLeaseHeldError, FilesystemLeaseKeeper } from '../metadata/filesystem-lease-keeper';
import { RiverFsMetrics } from '../metrics/riverfs-metrics.service';
import { MountpointError, prepareMountpoint } from '../fs-ops/mountpoint';
import { protectRootCapFile } from '../sync/root-cap.service';
import { EXIT } from './exit-codes';
import { runUntilStopped } from './mount-shutdown';

export interface MountFlags {
  allowOther?: boolean;
  mkdir?: boolean;
}

/**
 * Runs RiverFS mounted at `mountpoint` until SIGINT/SIGTERM or until the mount is removed from outside; returns the
 * exit code (see runUntilStopped).
 */
export async function runMount(config: RiverFsConfig, mountpoint: string, flags: MountFlags = {}): Promise<number> {
  const target = path.resolve(mountpoint);
  if (flags.mkdir) {
    try {
      fs.mkdirSync(target, { recursive: true });
    } catch (error) {
      process.stderr.write(`riverfs: cannot create mount point ${target}: ${(error as NodeJS.ErrnoException).code}\n`);
      return EXIT.USAGE;
    }
  }
  const logger = new RiverFsLogger({ level: config.logLevel, format: config.logFormat });
  try {
    const { recoveredStaleMount } = await prepareMountpoint(target);
    if (recoveredStaleMount) {
      logger.warn(
        `${target} held a dead mount of an earlier process (transport endpoint not connected); cleaned it up`,
        'Mount',
      );
    }
  } catch (error) {
    if (error instanceof MountpointError) {
      process.stderr.write(`riverfs: ${error.message}\n`);
      return EXIT.USAGE;
    }
    throw error;
  }
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  protectRootCapFile(config.dataDir);
  const exposed = config.rootCapFile === undefined ? undefined : secretFileExposure(config.rootCapFile);
  if (exposed !== undefined) {
    logger.warn(`the root cap file ${exposed}: whoever reads it can read and change everything`, 'Mount');
  }
  let lease: FilesystemLeaseKeeper;
  try {
    lease = await FilesystemLeaseKeeper.acquire({
      db: config.db,
      dataDir: config.dataDir,
      ttlMs: config.leaseTtl * 1000,
    });
  } catch (error) {
    if (error instanceof FilesystemLeaseHeldError) {
      process.stderr.write(`riverfs: ${error.message}\n`);
      return EXIT.USAGE;
    }
    throw error;
  }
  try {
    return await serveMount(config, target, flags, logger, lease);
  } finally {
    // After the application closed: its last uploads ran under the lease.
    await lease.release();
  }
}

/**
 * Other users may use the mount when asked (--allow-other), and by default when root mounts it (issue 13 step 5): a
 * shared filesystem, with the kernel checking permissions (default_permissions). FUSE lets other mounting users have
 * it only with user_allow_other in /etc/fuse.conf, so for them it stays opt-in.
 */
function allowOther(config: RiverFsConfig, flags: MountFlags): boolean {
  return flags.allowOther === true || (process.getuid?.() === 0 && config.allowOtherWhenRoot);
}

/** The mount itself, once this gateway holds the filesystem lease. */
async function serveMount(
  config: RiverFsConfig,
  target: string,
  flags: MountFlags,
  logger: RiverFsLogger,
  lease: FilesystemLeaseKeeper,
): Promise<number> {
  const metrics = new RiverFsMetrics();
  const app = await createHttpApp(
    MountAppModule.forRoot(config, { mountpoint: target, allowOther: allowOther(config, flags) }, metrics),
    config,
    { logger },
  );
  await app.init();
  const address = await listenHttpApp(app, config);
  process.stdout.write(
    [
      `RiverFS mounted on ${target}`,
      `  data directory: ${config.dataDir}`,
      `  metadata:       ${config.db.startsWith('sqlite:') ? config.db : 'MariaDB/MySQL'}`,
      `  state:          ${config.redis === undefined ? 'in-process' : 'Redis'}`,
      `  tahoe:          ${config.tahoeUrl ?? 'embedded local grid in ' + config.gridDir}`,
      `  mode:           ${config.mode}`,
      `  fuse api:       ${config.fuseApi}`,
      `  admin:          http://${address.address}:${address.port}/ (token in ${config.adminToken === undefined ? path.join(config.dataDir, 'admin-token') : 'the configured adminToken'})`,
      'Stop with Ctrl-C or SIGTERM (a second signal exits at once; what is dirty is pushed at the next start).',
      '',
    ].join('\n'),
  );

  const connectHost = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
  const removeRuntime = publishMountRuntime({
    pid: process.pid,
    mountpoint: target,
    dataDir: config.dataDir,
    adminUrl: `http://${connectHost.includes(':') ? `[${connectHost}]` : connectHost}:${address.port}`,
    ...(config.adminToken === undefined ? {} : { adminToken: config.adminToken }),
    ...(config.adminRevealToken === undefined ? {} : { adminRevealToken: config.adminRevealToken }),
  });
  try {
    return await runUntilStopped(app, target, logger, { onLeaseLost: (stop) => lease.onLost(stop) });
  } finally {
    removeRuntime();
  }
}
