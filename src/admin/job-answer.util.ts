import type { Response } from 'express';
import type { JobDto } from './dto/job.dto';
import type { StartedJob } from './sync-admin.service';

/** 202 with a Location for a job still running; 200 for one that ended while the request waited. */
export function answerJob(started: StartedJob, response: Response): JobDto {
  response.status(started.ended ? 200 : 202);
  if (!started.ended) {
    response.setHeader('location', `/admin/jobs/${started.job.id}`);
  }
  return started.job;
}
