import { Body, Controller, Get, HttpCode, Post, Res, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { AdminAuthGuard } from '../http/auth/admin-auth.guard';
import { ApiAdminProblems } from '../http/problem.dto';
import { CacheAdminService } from './cache-admin.service';
import { CacheStatsDto, EvictResultDto } from './dto/cache.dto';
import { JobDto } from './dto/job.dto';
import { TargetDto, WaitableTargetDto } from './dto/target.dto';
import { answerJob } from './job-answer.util';
import { SyncAdminService } from './sync-admin.service';

@ApiTags('cache')
@ApiBearerAuth('bearer')
@UseGuards(AdminAuthGuard)
@Controller('admin/cache')
export class CacheController {
  constructor(
    private readonly cache: CacheAdminService,
    private readonly sync: SyncAdminService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Cache usage, limits and hit ratio', operationId: 'getCache' })
  @ApiOkResponse({ type: CacheStatsDto })
  @ApiAdminProblems()
  stats(): Promise<CacheStatsDto> {
    return this.cache.stats();
  }

  @Post('flush')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Upload dirty data now: everything, a path or an inode',
    description: 'Starts a flush job (202 with the job); with wait=true answers 200 once it has ended.',
    operationId: 'flushCache',
  })
  @ApiAcceptedResponse({ type: JobDto, description: 'The job, still running' })
  @ApiOkResponse({ type: JobDto, description: 'With wait=true: the job, ended' })
  @ApiAdminProblems(404, 429, 503)
  async flush(@Body() body: WaitableTargetDto, @Res({ passthrough: true }) response: Response): Promise<JobDto> {
    return answerJob(await this.sync.flush(body), response);
  }

  @Post('evict')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Drop clean cached data: everything, a path or an inode (dirty data is never dropped)',
    operationId: 'evictCache',
  })
  @ApiOkResponse({ type: EvictResultDto })
  @ApiAdminProblems(404)
  evict(@Body() body: TargetDto): Promise<EvictResultDto> {
    return this.cache.evict(body);
  }
}
