import { type DynamicModule, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { boundedStep, SHUTDOWN_STEP_MS } from '../common/lifecycle/bounded-step';
import { redactUrl } from '../config/config.loader';
import type { RiverFsConfig } from '../config/config.schema';
import { InProcessStateStore } from './in-process-state-store';
import { RedisStateStore } from './redis-state-store';
import { StateStore } from './state-store';

export interface StateModuleOptions {
  /** Prefix of every Redis key and channel (default "riverfs:"); ignored in process. */
  keyPrefix?: string;
}

/** Redis when the configuration names one, else in-process (a single gateway). */
export function createStateStore(config: Pick<RiverFsConfig, 'redis'>, options: StateModuleOptions = {}): StateStore {
  if (config.redis !== undefined) {
    new Logger(StateModule.name).log(`State store: Redis at ${redactUrl(config.redis)}`);
    return new RedisStateStore({ url: config.redis, keyPrefix: options.keyPrefix });
  }
  new Logger(StateModule.name).log('State store: in-process (one gateway only; set --redis to share state)');
  return new InProcessStateStore();
}

/** Provides the `StateStore` port; the driver behind it stays inside this module. */
@Module({})
export class StateModule implements OnApplicationShutdown {
  constructor(@Inject(StateStore) private readonly store: StateStore) {}

  static forRoot(config: Pick<RiverFsConfig, 'redis'>, options: StateModuleOptions = {}): DynamicModule {
    return {
      module: StateModule,
      providers: [{ provide: StateStore, useFactory: () => createStateStore(config, options) }],
      exports: [StateStore],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await boundedStep('closing the state store', SHUTDOWN_STEP_MS, new Logger(StateModule.name), () =>
      this.store.close(),
    );
  }
}
