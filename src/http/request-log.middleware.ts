import { Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { correlationIdOf } from './correlation-id.middleware';

const logger = new Logger('HTTP');

/**
 * One line per request with its correlation id, written when the answer is sent: debug for successes (the dashboard
 * polls), log for client errors (401s are worth seeing); server errors are logged by the problem filter with detail.
 */
export function requestLogMiddleware(request: Request, response: Response, next: NextFunction): void {
  const started = performance.now();
  response.once('finish', () => {
    const status = response.statusCode;
    if (status >= 500) {
      return;
    }
    const durationMs = Math.round((performance.now() - started) * 10) / 10;
    const path = request.originalUrl.split('?')[0];
    const line = {
      msg: `${request.method} ${path} ${status} ${durationMs} ms`,
      correlationId: correlationIdOf(request),
      method: request.method,
      path,
      status,
      durationMs,
    };
    if (status >= 400) {
      logger.log(line);
    } else {
      logger.debug(line);
    }
  });
  next();
}

/** Headers every answer carries: nothing is cached (answers may hold revealed caps), nothing is sniffed or framed. */
export function securityHeadersMiddleware(_request: Request, response: Response, next: NextFunction): void {
  response.setHeader('cache-control', 'no-store');
  response.setHeader('x-content-type-options', 'nosniff');
  response.setHeader('x-frame-options', 'DENY');
  response.setHeader('referrer-policy', 'no-referrer');
  next();
}
