import { Body, Controller, Get, HttpCode, Post, Res, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { AdminAuthGuard } from '../http/auth/admin-auth.guard';
import { ApiAdminProblems } from '../http/problem.dto';
import { TahoeCheckService } from '../lifecycle/tahoe-check.service';
import { ROOT_INO } from '../metadata/metadata.types';
import { CheckCountsDto, CheckRequestDto } from './dto/check.dto';
import { JobDto } from './dto/job.dto';
import { FsLookupService } from './fs-lookup.service';
import { answerJob } from './job-answer.util';
import { JobsService } from './jobs.service';

const DEFAULT_WAIT_SECONDS = 300;

@ApiTags('check')
@ApiBearerAuth('bearer')
@UseGuards(AdminAuthGuard)
@Controller('admin/check')
export class CheckController {
  constructor(
    private readonly checks: TahoeCheckService,
    private readonly jobs: JobsService,
    private readonly lookup: FsLookupService,
  ) {}

  @Get()
  @ApiOperation({
    summary: 'How many inodes their last check found unhealthy or unrecoverable',
    operationId: 'getCheckCounts',
  })
  @ApiOkResponse({ type: CheckCountsDto })
  @ApiAdminProblems()
  counts(): Promise<CheckCountsDto> {
    return this.checks.counts();
  }

  @Post()
  @HttpCode(202)
  @ApiOperation({
    summary: 'Check (and repair) the shares of a file or directory in Tahoe; deep: its whole tree',
    description:
      'Starts a check job (202); with wait=true answers 200 once it has ended. Its result counts healthy, ' +
      'unhealthy, unrecoverable and repaired caps and lists them (the unhealthy first) with shares found and ' +
      'needed and servers; each inode keeps its last result (inode inspection, /metrics). Without a target: the root.',
    operationId: 'check',
  })
  @ApiAcceptedResponse({ type: JobDto, description: 'The job, still running' })
  @ApiOkResponse({ type: JobDto, description: 'With wait=true: the job, ended' })
  @ApiAdminProblems(404, 429)
  async check(@Body() body: CheckRequestDto, @Res({ passthrough: true }) response: Response): Promise<JobDto> {
    const inode =
      body.path !== undefined ? await this.lookup.resolve(body.path) : await this.lookup.inode(body.ino ?? ROOT_INO);
    const target = { ino: inode.ino, repair: body.repair === true, deep: body.deep === true };
    const job = this.jobs.start('check', { path: body.path, ...target }, (context) => this.checks.run(target, context));
    if (body.wait !== true) {
      return answerJob({ job, ended: false }, response);
    }
    const waited = await this.jobs.wait(job.id, (body.waitSeconds ?? DEFAULT_WAIT_SECONDS) * 1000);
    return answerJob({ job: waited, ended: waited.finishedAt !== null }, response);
  }
}
