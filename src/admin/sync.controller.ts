import { Body, Controller, Get, HttpCode, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { AdminAuthGuard } from '../http/auth/admin-auth.guard';
import { ApiAdminProblems } from '../http/problem.dto';
import { JobDto } from './dto/job.dto';
import { SyncQueueDto, SyncQueueQueryDto } from './dto/sync.dto';
import { SyncDto, WarmupDto } from './dto/target.dto';
import { answerJob } from './job-answer.util';
import { SyncAdminService } from './sync-admin.service';

@ApiTags('sync')
@ApiBearerAuth('bearer')
@UseGuards(AdminAuthGuard)
@Controller('admin')
export class SyncController {
  constructor(private readonly sync: SyncAdminService) {}

  @Post('sync')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Reconcile with Tahoe now: everything dirty, a path or an inode (its whole tree)',
    description: 'Starts a sync job (202 with the job); with wait=true answers 200 once it has ended.',
    operationId: 'forceSync',
  })
  @ApiAcceptedResponse({ type: JobDto, description: 'The job, still running' })
  @ApiOkResponse({ type: JobDto, description: 'With wait=true: the job, ended' })
  @ApiAdminProblems(404, 429, 503)
  async forceSync(@Body() body: SyncDto, @Res({ passthrough: true }) response: Response): Promise<JobDto> {
    return answerJob(await this.sync.sync(body), response);
  }

  @Get('sync/queue')
  @ApiOperation({
    summary: 'Sync work waiting, running, or failed and waiting for a retry',
    operationId: 'getSyncQueue',
  })
  @ApiOkResponse({ type: SyncQueueDto })
  @ApiAdminProblems(503)
  queue(@Query() query: SyncQueueQueryDto): Promise<SyncQueueDto> {
    return this.sync.queue(query.offset ?? 0, query.limit ?? 100);
  }

  @Post('warmup')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Fetch file data into the cache ahead of use: a file, a directory, or everything',
    description: 'Starts a warmup job with progress (202 with the job); with wait=true answers 200 once it has ended.',
    operationId: 'warmup',
  })
  @ApiAcceptedResponse({ type: JobDto, description: 'The job, still running' })
  @ApiOkResponse({ type: JobDto, description: 'With wait=true: the job, ended' })
  @ApiAdminProblems(404, 429, 503)
  async warmup(@Body() body: WarmupDto, @Res({ passthrough: true }) response: Response): Promise<JobDto> {
    return answerJob(await this.sync.warmup(body), response);
  }
}
