import { Body, Controller, Get, HttpCode, Inject, Post, Res, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { RIVERFS_CONFIG } from '../config/config.module';
import type { RiverFsConfig } from '../config/config.schema';
import { AdminAuthGuard } from '../http/auth/admin-auth.guard';
import { ApiAdminProblems } from '../http/problem.dto';
import { TahoeLeaseRenewalService } from '../lifecycle/tahoe-lease-renewal.service';
import { JobDto } from './dto/job.dto';
import { LeasesStatusDto, RenewLeasesDto } from './dto/leases.dto';
import { answerJob } from './job-answer.util';
import { JobsService } from './jobs.service';

const DEFAULT_WAIT_SECONDS = 300;

@ApiTags('leases')
@ApiBearerAuth('bearer')
@UseGuards(AdminAuthGuard)
@Controller('admin/leases')
export class LeasesController {
  constructor(
    private readonly renewal: TahoeLeaseRenewalService,
    private readonly jobs: JobsService,
    @Inject(RIVERFS_CONFIG) private readonly config: RiverFsConfig,
  ) {}

  @Get()
  @ApiOperation({
    summary: 'Tahoe lease renewal: the last complete run and the one in progress',
    operationId: 'getLeases',
  })
  @ApiOkResponse({ type: LeasesStatusDto })
  @ApiAdminProblems(503)
  async status(): Promise<LeasesStatusDto> {
    const progress = await this.renewal.status();
    const job = this.jobs.list({ kind: 'lease-renewal', state: 'running', limit: 1 })[0];
    return {
      intervalSeconds: this.config.tahoeLeaseRenewal,
      run:
        progress.runStartedAt === null
          ? null
          : {
              startedAt: new Date(progress.runStartedAt).toISOString(),
              cursor: progress.cursor,
              renewed: progress.renewed,
              failed: progress.failed,
            },
      lastCompleteAt: progress.lastCompleteAt === null ? null : new Date(progress.lastCompleteAt).toISOString(),
      lastCompleteRenewed: progress.lastCompleteRenewed,
      lastCompleteFailed: progress.lastCompleteFailed,
      jobId: job?.id ?? null,
    };
  }

  @Post('renew')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Renew the Tahoe lease of every cap the filesystem references now',
    description:
      'Starts a lease-renewal job (202), resuming a run a restart cut short, or answers the run in progress; with ' +
      'wait=true answers 200 once it has ended. Its result counts renewed and failed caps.',
    operationId: 'renewLeases',
  })
  @ApiAcceptedResponse({ type: JobDto, description: 'The job, still running' })
  @ApiOkResponse({ type: JobDto, description: 'With wait=true: the job, ended' })
  @ApiAdminProblems(429, 503)
  async renew(@Body() body: RenewLeasesDto, @Res({ passthrough: true }) response: Response): Promise<JobDto> {
    const job = this.renewal.start();
    if (body.wait !== true) {
      return answerJob({ job, ended: false }, response);
    }
    const waited = await this.jobs.wait(job.id, (body.waitSeconds ?? DEFAULT_WAIT_SECONDS) * 1000);
    return answerJob({ job: waited, ended: waited.finishedAt !== null }, response);
  }
}
