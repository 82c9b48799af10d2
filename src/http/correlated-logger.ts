import { AsyncLocalStorage } from 'node:async_hooks';
import type { LoggerService, LogLevel } from '@nestjs/common';

/** The correlation id of the request being served, in whatever async work it started. */
export const correlationContext = new AsyncLocalStorage<string>();

function withCorrelation(message: unknown): unknown {
  const correlationId = correlationContext.getStore();
  if (correlationId === undefined || message instanceof Error) {
    return message;
  }
  if (typeof message === 'object' && message !== null) {
    return 'correlationId' in message ? message : { ...message, correlationId };
  }
  return { msg: String(message), correlationId };
}

/**
 * Wraps the application's logger so that every line written while a request is served, by any layer (the Tahoe
 * client, the metadata store…), carries that request's correlation id as a field.
 */
export class CorrelatedLogger implements LoggerService {
  constructor(private readonly inner: LoggerService) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.inner.log(withCorrelation(message), ...rest);
  }

  error(message: unknown, ...rest: unknown[]): void {
    this.inner.error(withCorrelation(message), ...rest);
  }

  warn(message: unknown, ...rest: unknown[]): void {
    this.inner.warn(withCorrelation(message), ...rest);
  }

  debug(message: unknown, ...rest: unknown[]): void {
    this.inner.debug?.(withCorrelation(message), ...rest);
  }

  verbose(message: unknown, ...rest: unknown[]): void {
    this.inner.verbose?.(withCorrelation(message), ...rest);
  }

  fatal(message: unknown, ...rest: unknown[]): void {
    this.inner.fatal?.(withCorrelation(message), ...rest);
  }

  setLogLevels(levels: LogLevel[]): void {
    this.inner.setLogLevels?.(levels);
  }
}
