import { type DynamicModule, Module } from '@nestjs/common';
import { GridStatusService } from './grid-status.service';
import { RecentErrorsService } from './recent-errors.service';

/** Shared views of the gateway's state for the admin API, health checks, metrics and the dashboard. */
@Module({})
export class StatusModule {
  /** `ports` must export TahoeClient. */
  static forRoot(ports: DynamicModule): DynamicModule {
    return {
      module: StatusModule,
      global: true,
      imports: [ports],
      providers: [GridStatusService, RecentErrorsService],
      exports: [GridStatusService, RecentErrorsService],
    };
  }
}
