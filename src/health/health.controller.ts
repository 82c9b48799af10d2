import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, HealthIndicatorService, type HealthCheckResult } from '@nestjs/terminus';
import { AdminError } from '../admin/admin.errors';
import { ApiProblems } from '../http/problem.dto';
import { ReadinessIndicators } from './readiness.service';

export class HealthDto {
  @ApiProperty({ enum: ['ok'] })
  status!: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'Each check by name (database, stateStore, grid, mount) with status "up" and its details',
  })
  details!: Record<string, unknown>;
}

/**
 * Liveness (the process answers) and readiness (the database, the state store, the grid and, when one is
 * expected, the mount). Neither needs the token, so load balancers and orchestrators can probe them; neither
 * shows anything secret. A failed readiness check is a 503 problem naming the failing parts.
 */
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly readiness: ReadinessIndicators,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'The process is up', operationId: 'live' })
  @ApiOkResponse({ type: HealthDto })
  @ApiProblems(500)
  async live(): Promise<HealthDto> {
    const result = await this.health.check([
      () => this.indicators.check('process').up({ uptimeSeconds: Math.round(process.uptime()) }),
    ]);
    return { status: result.status, details: result.details };
  }

  @Get('ready')
  @ApiOperation({
    summary: 'The gateway can serve: database, state store, grid happy, mount alive',
    operationId: 'ready',
  })
  @ApiOkResponse({ type: HealthDto })
  @ApiProblems(500, 503)
  async ready(): Promise<HealthDto> {
    try {
      const result = await this.health.check([
        () => this.readiness.database(),
        () => this.readiness.stateStore(),
        () => this.readiness.grid(),
        () => this.readiness.mountPoint(),
      ]);
      return { status: result.status, details: result.details };
    } catch (error) {
      if (error instanceof ServiceUnavailableException) {
        throw notReady(error.getResponse() as HealthCheckResult);
      }
      throw error;
    }
  }
}

function notReady(result: HealthCheckResult): AdminError {
  const failing = Object.keys(result.error ?? {});
  const reasons = failing.map((name) => {
    const message = (result.error?.[name] as { message?: unknown } | undefined)?.message;
    return typeof message === 'string' ? `${name} (${message})` : name;
  });
  return new AdminError('NOT_READY', `not ready: ${reasons.join('; ') || result.status}`, {
    extensions: { failing, checks: result.details },
  });
}
