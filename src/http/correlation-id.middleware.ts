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

/** Admin requests being served: the correlation context is enabled only while there is one. */
let requestsInFlight = 0;

/**
 * Takes the client's `x-correlation-id` when well-formed (so a caller can follow its own id), else makes one, and
 * serves the rest of the request inside its correlation context (see CorrelatedLogger).
 *
 * The context is disabled again once no request is being served. On Node 20 an enabled AsyncLocalStorage keeps
 * async hooks on every promise of the process: one Prometheus scrape left them on for good under the FUSE path, which
 * makes several promises per request (promiseInitHook and _propagate were 2% of the busy CPU of a small-file create
 * loop after one request to /metrics). Work a request leaves running after its response logs without its id.
 */
export function correlationIdMiddleware(request: Request, response: Response, next: NextFunction): void {
  const incoming = request.headers[CORRELATION_HEADER];
  const id = typeof incoming === 'string' && WELL_FORMED.test(incoming) ? incoming : randomUUID();
  (request as CorrelatedRequest).correlationId = id;
  response.setHeader(CORRELATION_HEADER, id);
  requestsInFlight += 1;
  let served = false;
  const done = (): void => {
    if (served) {
      return;
    }
    served = true;
    requestsInFlight -= 1;
    if (requestsInFlight === 0) {
      correlationContext.disable();
    }
  };
  response.once('finish', done);
  response.once('close', done);
  correlationContext.run(id, next);
}

/** Whether the correlation context is on (some request is being served); for tests. */
export function correlationTracking(): boolean {
  return requestsInFlight > 0;
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
