import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminAuthGuard } from '../http/auth/admin-auth.guard';
import { ApiAdminProblems } from '../http/problem.dto';
import { RecentErrorsDto, RecentErrorsQueryDto, StatsDto } from './dto/stats.dto';
import { StatsService } from './stats.service';

@ApiTags('status')
@ApiBearerAuth('bearer')
@UseGuards(AdminAuthGuard)
@Controller('admin')
export class StatsController {
  constructor(private readonly stats: StatsService) {}

  @Get('stats')
  @ApiOperation({
    summary: 'Grid, cache, sync and running totals in one answer (the dashboard polls it)',
    operationId: 'getStats',
  })
  @ApiOkResponse({ type: StatsDto })
  @ApiAdminProblems()
  overview(): Promise<StatsDto> {
    return this.stats.stats();
  }

  @Get('errors')
  @ApiOperation({
    summary: 'The most recent errors seen by any part of the gateway, newest first',
    operationId: 'listRecentErrors',
  })
  @ApiOkResponse({ type: RecentErrorsDto })
  @ApiAdminProblems()
  errors(@Query() query: RecentErrorsQueryDto): RecentErrorsDto {
    return this.stats.recentErrors(query.limit ?? 20);
  }
}
