import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { correlationContext } from './correlated-logger';

export const CORRELATION_HEADER = 'x-correlation-id';

// Letters, digits and a few separators: what request-id generators produce, and nothing that could break a log line
// or a header.
const WELL_FORMED = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

interface CorrelatedRequest extends Request {
  correlationId?: string;
}

/**
 * Takes the client's `x-correlation-id` when well-formed (so a caller can follow its own id), else makes one, and
 * serves the rest of the request inside its correlation context (see CorrelatedLogger).
 */
export function correlationIdMiddleware(request: Request, response: Response, next: NextFunction): void {
  const incoming = request.headers[CORRELATION_HEADER];
  const id = typeof incoming === 'string' && WELL_FORMED.test(incoming) ? incoming : randomUUID();
  (request as CorrelatedRequest).correlationId = id;
  response.setHeader(CORRELATION_HEADER, id);
  correlationContext.run(id, next);
}

/** The request's correlation id; one is made (and set on the response) if the middleware did not run. */
export function correlationIdOf(request: Request, response?: Response): string {
  const correlated = request as CorrelatedRequest;
  if (correlated.correlationId === undefined) {
    correlated.correlationId = randomUUID();
    if (response !== undefined && !response.headersSent) {
      response.setHeader(CORRELATION_HEADER, correlated.correlationId);
    }
  }
  return correlated.correlationId;
}
