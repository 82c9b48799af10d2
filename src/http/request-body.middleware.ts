import type { NextFunction, Request, Response } from 'express';
import { AdminError } from '../admin/admin.errors';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function hasBody(request: Request): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Refuses bodies that are not JSON. The JSON parser skips them silently, which would turn `curl -d path=/x` into a
 * request without a path, i.e. one about the whole filesystem.
 */
export function jsonOnlyMiddleware(request: Request, _response: Response, next: NextFunction): void {
  if (BODY_METHODS.has(request.method) && hasBody(request) && request.is(['application/json', '+json']) === false) {
    next(new AdminError('UNSUPPORTED_MEDIA_TYPE', 'request bodies must be JSON (Content-Type: application/json)'));
    return;
  }
  next();
}

/** A POST without a body means "no options": validate it as `{}` rather than as a missing value. */
export function emptyBodyMiddleware(request: Request, _response: Response, next: NextFunction): void {
  if (BODY_METHODS.has(request.method) && request.body === undefined) {
    request.body = {};
  }
  next();
}

/**
 * JSON.parse makes `__proto__` an own property that class-transformer then drops without a word; refusing it (and
 * its relatives) keeps "unknown fields are rejected" true for every name.
 */
export function rejectPrototypeKeys(key: string, value: unknown): unknown {
  if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
    throw new SyntaxError(`the member name "${key}" is not allowed`);
  }
  return value;
}

/** Turns body-parser's errors into domain errors with a code, so the problem filter answers them like the rest. */
export function bodyErrorMiddleware(limit: number) {
  return (error: unknown, _request: Request, _response: Response, next: NextFunction): void => {
    const type = (error as { type?: unknown } | null)?.type;
    const message = error instanceof Error ? error.message : String(error);
    switch (type) {
      case 'entity.too.large':
        next(new AdminError('BODY_TOO_LARGE', `the request body is larger than ${limit} bytes`, { cause: error }));
        return;
      case 'entity.parse.failed':
        next(new AdminError('MALFORMED_JSON', `the request body is not valid JSON: ${message}`, { cause: error }));
        return;
      case 'encoding.unsupported':
      case 'charset.unsupported':
        next(new AdminError('UNSUPPORTED_MEDIA_TYPE', message, { cause: error }));
        return;
      default:
        next(error);
    }
  };
}
