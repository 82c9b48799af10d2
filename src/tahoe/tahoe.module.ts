import { Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { boundedStep, SHUTDOWN_STEP_MS } from '../common/lifecycle/bounded-step';
import { RIVERFS_CONFIG } from '../config/config.module';
import type { RiverFsConfig } from '../config/config.schema';
import { TahoeClient } from './tahoe.client';
import type { TahoeClientLogger, TahoeClientOptions, TahoeRequestObserver } from './tahoe.types';

/**
 * Web-API URL of the Tahoe client node when it is not configured (`tahoeUrl` unset): the module that runs the
 * embedded local grid provides it (globally, or exported to the importer of TahoeModule) once the grid is up.
 */
export const TAHOE_NODE_URL = Symbol('TAHOE_NODE_URL');

/** Optional TahoeRequestObserver for the client (MetricsModule provides one globally). */
export const TAHOE_REQUEST_OBSERVER = Symbol('TAHOE_REQUEST_OBSERVER');

export function tahoeClientOptions(
  config: RiverFsConfig,
  url: string,
  logger?: TahoeClientLogger,
  observer?: TahoeRequestObserver,
): TahoeClientOptions {
  return {
    url,
    connectTimeout: config.tahoeConnectTimeout,
    headersTimeout: config.tahoeHeadersTimeout,
    bodyTimeout: config.tahoeBodyTimeout,
    concurrency: config.tahoeConcurrency,
    retries: config.tahoeRetries,
    logger,
    observer,
  };
}

/** Exports TahoeClient only; undici stays an implementation detail of this module. */
@Module({
  providers: [
    {
      provide: TahoeClient,
      inject: [
        RIVERFS_CONFIG,
        { token: TAHOE_NODE_URL, optional: true },
        { token: TAHOE_REQUEST_OBSERVER, optional: true },
      ],
      useFactory: (
        config: RiverFsConfig,
        nodeUrl: string | undefined,
        observer: TahoeRequestObserver | undefined,
      ): TahoeClient => {
        const url = config.tahoeUrl ?? nodeUrl;
        if (url === undefined) {
          throw new Error(
            'TahoeModule: no Tahoe web-API URL (tahoeUrl is unset and no local grid provides TAHOE_NODE_URL)',
          );
        }
        return new TahoeClient(tahoeClientOptions(config, url, new Logger(TahoeClient.name), observer));
      },
    },
  ],
  exports: [TahoeClient],
})
export class TahoeModule implements OnApplicationShutdown {
  constructor(@Inject(TahoeClient) private readonly client: TahoeClient) {}

  // At application shutdown, not module destroy: services may still flush to Tahoe in their own destroy hooks.
  async onApplicationShutdown(): Promise<void> {
    // Bounded: closing waits for requests in flight, and an upload the drain gave up on may still be one.
    await boundedStep('closing the Tahoe client', SHUTDOWN_STEP_MS, new Logger(TahoeModule.name), () =>
      this.client.close(),
    );
  }
}
