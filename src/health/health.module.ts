import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';
import { MountStatus, NoMountStatus } from './mount-status';
import { ACTIVE_MOUNT_STATUS, ReadinessIndicators } from './readiness.service';

/** /health/live and /health/ready. `ports` must export MetadataStore and StateStore, and may export MountStatus. */
@Module({})
export class HealthModule {
  static forRoot(ports: DynamicModule): DynamicModule {
    return {
      module: HealthModule,
      // The controller reports failures itself (as problems, logged by the filter); terminus would log them again.
      imports: [TerminusModule.forRoot({ logger: false }), ports],
      controllers: [HealthController],
      providers: [
        ReadinessIndicators,
        {
          provide: ACTIVE_MOUNT_STATUS,
          inject: [{ token: MountStatus, optional: true }],
          useFactory: (mount: MountStatus | undefined): MountStatus => mount ?? new NoMountStatus(),
        },
      ],
    };
  }
}
