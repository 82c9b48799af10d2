import { EventEmitter } from 'node:events';
import type { Request, Response } from 'express';
import { correlationContext } from './correlated-logger';
import { CORRELATION_HEADER, correlationIdMiddleware, correlationTracking } from './correlation-id.middleware';

/** A request and a response with what the middleware touches: headers in, a header out, and the end events. */
function exchange(id: string): { request: Request; response: Response & EventEmitter } {
  const request = { headers: { [CORRELATION_HEADER]: id } } as unknown as Request;
  const response = Object.assign(new EventEmitter(), { setHeader: () => undefined }) as unknown as Response &
    EventEmitter;
  return { request, response };
}

/** Starts serving a request; resolves with what its handler's later async work sees as the correlation id. */
function serve(id: string, handlerStep: Promise<void>): { response: EventEmitter; seen: Promise<string | undefined> } {
  const { request, response } = exchange(id);
  let seen!: Promise<string | undefined>;
  correlationIdMiddleware(request, response, () => {
    seen = handlerStep.then(() => correlationContext.getStore());
  });
  return { response, seen };
}

describe('correlationIdMiddleware', () => {
  it('should keep each request its id while another one ends, and turn the context off after the last', async () => {
    let releaseFirst!: () => void;
    let releaseSecond!: () => void;
    const first = serve('first-id', new Promise<void>((resolve) => (releaseFirst = resolve)));
    const second = serve('second-id', new Promise<void>((resolve) => (releaseSecond = resolve)));
    expect(correlationTracking()).toBe(true);

    releaseFirst();
    expect(await first.seen).toBe('first-id');
    first.response.emit('finish');
    first.response.emit('close'); // Both events come for one response: it counts once.
    expect(correlationTracking()).toBe(true);

    // The first request's end did not switch the context off under the second, still served.
    releaseSecond();
    expect(await second.seen).toBe('second-id');
    second.response.emit('close'); // A client that went away ends a request too.
    expect(correlationTracking()).toBe(false);
    expect(correlationContext.getStore()).toBeUndefined();

    // A later request turns it on again.
    const third = serve('third-id', Promise.resolve());
    expect(await third.seen).toBe('third-id');
    third.response.emit('finish');
    expect(correlationTracking()).toBe(false);
  });
});
