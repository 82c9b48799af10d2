import {
  type DynamicModule,
  Inject,
  Logger,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { boundedStep, SHUTDOWN_STEP_MS } from '../common/lifecycle/bounded-step';
import { StateStore } from '../state/state-store';
import { FileLockService, type FileLockServiceOptions } from './file-lock.service';

/**
 * Provides `FileLockService` over the application's `StateStore` (StateModule must be global or imported
 * alongside). Starts the lock session at bootstrap; releases this gateway's locks and ends it at shutdown,
 * before StateModule closes the store (a module's providers shut down before the modules it depends on).
 */
@Module({})
export class LocksModule implements OnApplicationBootstrap, OnApplicationShutdown {
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

  async onApplicationShutdown(): Promise<void> {
    await boundedStep('releasing file locks', SHUTDOWN_STEP_MS, new Logger(LocksModule.name), () => this.locks.stop());
  }
}
