import { type ArgumentsHost, Catch, type ExceptionFilter, Logger, Optional } from '@nestjs/common';
import type { Request, Response } from 'express';
import { RecentErrorsService } from '../status/recent-errors.service';
import { correlationIdOf } from './correlation-id.middleware';
import { PROBLEM_CONTENT_TYPE, problemFor } from './problem.mapper';

/**
 * 503s that describe a state rather than a failure (no sync worker yet, a readiness probe that failed): the
 * dashboard and probes ask for them every few seconds, and they would push every real error out of the list.
 */
const EXPECTED_CONDITIONS = new Set(['SYNC_UNAVAILABLE', 'NOT_READY']);

/**
 * The one exception filter of the HTTP surface: every failure, from a guard, a pipe, a controller, the body parser
 * or an unknown route, is answered as `application/problem+json` with the request's correlation id.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  constructor(@Optional() private readonly recentErrors?: RecentErrorsService) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    const correlationId = correlationIdOf(request, response);
    const instance = (request.originalUrl ?? request.url ?? '').split('?')[0];
    const problem = problemFor(exception, { instance, correlationId });
    const summary = `${request.method} ${instance} → ${problem.status} ${problem.document.code}`;
    if (problem.unexpected) {
      const error = exception instanceof Error ? exception : new Error(String(exception));
      this.logger.error({ msg: `${summary}: ${error.message}`, correlationId }, error.stack);
    } else if (problem.status >= 500) {
      this.logger.warn({ msg: `${summary}: ${problem.document.detail}`, correlationId });
    }
    if (problem.status >= 500 && !EXPECTED_CONDITIONS.has(problem.document.code)) {
      this.recentErrors?.record({
        source: 'http',
        code: problem.document.code,
        message: `${summary}: ${problem.document.detail}`,
        correlationId,
      });
    }
    if (response.headersSent) {
      // A streamed answer failed midway: nothing can be said any more but the connection can be ended.
      response.end();
      return;
    }
    response.status(problem.status);
    for (const [name, value] of Object.entries(problem.headers)) {
      response.setHeader(name, value);
    }
    response.setHeader('content-type', PROBLEM_CONTENT_TYPE);
    response.send(JSON.stringify(problem.document));
  }
}
