import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { RIVERFS_CONFIG } from '../config/config.module';
import type { RiverFsConfig } from '../config/config.schema';
import { LocalGrid } from './local-grid';

export function localGridFromConfig(config: RiverFsConfig, log?: (message: string) => void): LocalGrid {
  return new LocalGrid({
    gridDir: config.gridDir,
    venvDir: config.tahoeVenv,
    python: config.python,
    storageNodes: config.gridStorageNodes,
    sharesNeeded: config.gridSharesNeeded,
    sharesHappy: config.gridSharesHappy,
    sharesTotal: config.gridSharesTotal,
    log,
  });
}

/**
 * The embedded default's Tahoe: when no `tahoeUrl` is configured, RiverFS runs its own local grid, started (or
 * adopted, when still running from an earlier RiverFS) before anything talks to Tahoe and stopped at shutdown.
 */
@Injectable()
export class LocalGridService implements OnApplicationShutdown {
  private readonly logger = new Logger(LocalGridService.name);
  private grid: LocalGrid | undefined;

  constructor(@Inject(RIVERFS_CONFIG) private readonly config: RiverFsConfig) {}

  /** The web-API URL RiverFS should use: the configured node, or the embedded grid's client node once it is ready. */
  async webUrl(): Promise<string> {
    if (this.config.tahoeUrl !== undefined) {
      return this.config.tahoeUrl;
    }
    this.grid ??= localGridFromConfig(this.config, (message) => this.logger.log(message));
    this.logger.log(`starting the embedded local grid in ${this.config.gridDir}`);
    const status = await this.grid.start();
    this.logger.log(`embedded grid ready: ${status.connectedServers} servers, web API ${status.webUrl}`);
    return status.webUrl!;
  }

  get embeddedGrid(): LocalGrid | undefined {
    return this.grid;
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.grid !== undefined) {
      this.logger.log('stopping the embedded local grid');
      // Each node's stop is bounded (SIGTERM, then SIGKILL); a failure leaves nodes running, which the next start
      // adopts, and must not stop the rest of the shutdown.
      await this.grid.stop().catch((error: unknown) => {
        this.logger.warn(`stopping the embedded local grid failed; going on: ${String(error)}`);
      });
    }
  }
}
