import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Inject,
  Injectable,
  Res,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { RIVERFS_CONFIG } from '../config/config.module';
import type { RiverFsConfig } from '../config/config.schema';
import { bearerTokenOf, unauthorized } from '../http/auth/admin-auth.guard';
import { AdminTokenService } from '../http/auth/admin-token.service';
import { ApiProblems } from '../http/problem.dto';
import { RiverFsMetrics } from './riverfs-metrics.service';

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Whether /metrics needs the admin token: `metricsAuth` on/off, or (auto) only when listening beyond loopback. */
export function metricsNeedToken(config: Pick<RiverFsConfig, 'metricsAuth' | 'listen'>): boolean {
  switch (config.metricsAuth) {
    case 'on':
      return true;
    case 'off':
      return false;
    case 'auto':
      return !isLoopbackHost(config.listen.host);
  }
}

@Injectable()
export class MetricsAuthGuard implements CanActivate {
  private readonly required: boolean;

  constructor(
    private readonly tokens: AdminTokenService,
    @Inject(RIVERFS_CONFIG) config: RiverFsConfig,
  ) {
    this.required = metricsNeedToken(config);
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.required) {
      return true;
    }
    const header = context.switchToHttp().getRequest<Request>().headers.authorization;
    if (this.tokens.authenticate(bearerTokenOf(header)) === undefined) {
      throw unauthorized(header !== undefined);
    }
    return true;
  }
}

@ApiTags('metrics')
@ApiBearerAuth('bearer')
@UseGuards(MetricsAuthGuard)
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: RiverFsMetrics) {}

  @Get()
  @ApiOperation({
    summary: 'Prometheus metrics (text exposition)',
    description: 'Needs the token when metricsAuth is on, or auto while listening beyond loopback.',
    operationId: 'metrics',
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text format 0.0.4', schema: { type: 'string' } })
  @ApiProblems(401, 500)
  async expose(@Res() response: Response): Promise<void> {
    const text = await this.metrics.expose();
    response.setHeader('content-type', this.metrics.contentType);
    response.send(text);
  }
}
