import { type DynamicModule, Module } from '@nestjs/common';
import { RecentErrorsService } from '../status/recent-errors.service';
import { TAHOE_REQUEST_OBSERVER } from '../tahoe/tahoe.module';
import type { TahoeRequestObserver } from '../tahoe/tahoe.types';
import { MetricsAuthGuard, MetricsController } from './metrics.controller';
import { MetricsSources } from './metrics-sources.service';
import { RiverFsMetrics } from './riverfs-metrics.service';

/** A Tahoe failure worth an operator's attention: the node failing or unreachable, or data that cannot be read. */
function isTahoeFailure(status: string): boolean {
  if (/^\d+$/.test(status)) {
    return Number(status) >= 500 || status === '410';
  }
  // Transport failures carry a code; a caller's own abort is not a failure of Tahoe.
  return status !== 'AbortError';
}

/** Feeds the metrics with every request and the recent errors with the failed ones. */
function tahoeObserver(metrics: RiverFsMetrics, errors: RecentErrorsService | undefined): TahoeRequestObserver {
  return {
    request: (event) => {
      metrics.tahoeObserver.request(event);
      if (errors !== undefined && isTahoeFailure(event.status)) {
        errors.record({
          source: 'tahoe',
          code: /^\d+$/.test(event.status) ? `HTTP_${event.status}` : event.status,
          message: `Tahoe ${event.operation} failed (${event.status}) after ${event.durationMs} ms`,
        });
      }
    },
    bytes: (direction, count) => metrics.tahoeObserver.bytes(direction, count),
  };
}

/**
 * /metrics, and RiverFsMetrics for every layer to feed (global). Pass the application's own RiverFsMetrics when
 * something needs it before Nest starts (MetadataModule's onTransaction listener); TahoeModule picks up the
 * request observer from TAHOE_REQUEST_OBSERVER.
 */
@Module({})
export class MetricsModule {
  static forRoot(options: { metrics?: RiverFsMetrics; ports: DynamicModule }): DynamicModule {
    return {
      module: MetricsModule,
      global: true,
      imports: [options.ports],
      controllers: [MetricsController],
      providers: [
        { provide: RiverFsMetrics, useValue: options.metrics ?? new RiverFsMetrics() },
        {
          provide: TAHOE_REQUEST_OBSERVER,
          inject: [RiverFsMetrics, { token: RecentErrorsService, optional: true }],
          useFactory: (metrics: RiverFsMetrics, errors: RecentErrorsService | undefined): TahoeRequestObserver =>
            tahoeObserver(metrics, errors),
        },
        MetricsSources,
        MetricsAuthGuard,
      ],
      exports: [RiverFsMetrics, TAHOE_REQUEST_OBSERVER],
    };
  }
}
