import { type DynamicModule, Module, type Type } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { AdminModule } from '../admin/admin.module';
import { HealthModule } from '../health/health.module';
import { MetricsModule } from '../metrics/metrics.module';
import type { RiverFsMetrics } from '../metrics/riverfs-metrics.service';
import { StatusModule } from '../status/status.module';
import { AuthModule } from './auth/auth.module';
import { ProblemFilter } from './problem.filter';
import { createValidationPipe } from './validation.util';

export interface HttpAppModuleOptions {
  /**
   * The modules that provide what the HTTP surface inspects and drives: they must export MetadataStore,
   * SyncJournal, StateStore, TahoeClient and BlockCache, and may export SyncControl (sync) and MountStatus (FsOps).
   * Pass the very module objects the application imports (the same `MetadataModule.forRoot(…)` value), so each is
   * one instance.
   */
  imports: (Type<unknown> | DynamicModule)[];
  /** The application's metrics, when it made them before Nest starts (see MetricsModule). */
  metrics?: RiverFsMetrics;
}

/** Re-exports the application's modules to every module of the HTTP surface. */
@Module({})
class HttpPortsModule {}

/**
 * The operator surface in one import: /admin (REST), /health, /metrics, the problem+json filter and the
 * validation pipe. ConfigModule must be imported (it is global). Bootstrap with createHttpApp, which adds the
 * body limit, /docs, /docs-json and the dashboard.
 */
@Module({})
export class HttpAppModule {
  static forRoot(options: HttpAppModuleOptions): DynamicModule {
    const ports: DynamicModule = { module: HttpPortsModule, imports: options.imports, exports: options.imports };
    return {
      module: HttpAppModule,
      imports: [
        AuthModule,
        StatusModule.forRoot(ports),
        MetricsModule.forRoot({ metrics: options.metrics, ports }),
        HealthModule.forRoot(ports),
        AdminModule.forRoot(ports),
      ],
      providers: [
        { provide: APP_FILTER, useClass: ProblemFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
      ],
    };
  }
}
