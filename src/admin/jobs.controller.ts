import { Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminAuthGuard } from '../http/auth/admin-auth.guard';
import { ApiAdminProblems } from '../http/problem.dto';
import { JobDto, JobListQueryDto, JobParamsDto } from './dto/job.dto';
import { type JobState, JobsService } from './jobs.service';

@ApiTags('jobs')
@ApiBearerAuth('bearer')
@UseGuards(AdminAuthGuard)
@Controller('admin/jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Get()
  @ApiOperation({ summary: 'Recent jobs, newest first', operationId: 'listJobs' })
  @ApiOkResponse({ type: [JobDto] })
  @ApiAdminProblems()
  list(@Query() query: JobListQueryDto): JobDto[] {
    return this.jobs.list({ kind: query.kind, state: query.state as JobState | undefined, limit: query.limit ?? 50 });
  }

  @Get(':id')
  @ApiOperation({ summary: "A job's state, progress and result", operationId: 'getJob' })
  @ApiOkResponse({ type: JobDto })
  @ApiAdminProblems(404)
  get(@Param() params: JobParamsDto): JobDto {
    return this.jobs.get(params.id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Ask a running job to stop', operationId: 'cancelJob' })
  @ApiOkResponse({ type: JobDto, description: 'The job, cancelling or already cancelled' })
  @ApiAdminProblems(404, 409)
  cancel(@Param() params: JobParamsDto): JobDto {
    return this.jobs.cancel(params.id);
  }
}
