import {
  type DynamicModule,
  Inject,
  Logger,
  Module,
  type OnApplicationBootstrap,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import { boundedStep, SHUTDOWN_STEP_MS } from '../common/lifecycle/bounded-step';
import { StateStore } from '../state/state-store';
import { FileLockService, type FileLockServiceOptions } from './file-lock.service';

/**
 * Provides `FileLockService` over the application's `StateStore` (StateModule must be global or imported
 * alongside). Starts the lock session at bootstrap; releases this gateway's locks and ends it at shutdown, in
 * `beforeApplicationShutdown`: every module's hook of that phase runs before any `onApplicationShutdown`, where
 * StateModule closes the store (the order of modules within one phase is not one to rely on: a CI run saw the store
 * closed first, and the locks then waited out their session instead of being released).
 */
@Module({})
export class LocksModule implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(@Inject(FileLockService) private readonly locks: FileLockService) {}

  static forRoot(options: FileLockServiceOptions = {}): DynamicModule {
    return {
      module: LocksModule,
      providers: [
        {
          provide: FileLockService,
          inject: [StateStore],
          useFactory: (store: StateStore) => new FileLockService(store, options),
        },
      ],
      exports: [FileLockService],
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.locks.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await boundedStep('releasing file locks', SHUTDOWN_STEP_MS, new Logger(LocksModule.name), () => this.locks.stop());
  }
}
