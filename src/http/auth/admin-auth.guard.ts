import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AdminError } from '../../admin/admin.errors';
import { type AdminAccess, AdminTokenService } from './admin-token.service';

export interface AuthenticatedRequest extends Request {
  adminAccess?: AdminAccess;
}

export const BEARER_CHALLENGE = 'Bearer realm="riverfs"';
/** Offered on /docs only, so that a browser asks for the token (as the password) when the page is opened. */
export const BASIC_CHALLENGE = 'Basic realm="riverfs-docs", charset="UTF-8"';

export function bearerTokenOf(header: string | undefined): string | undefined {
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** The password of HTTP Basic credentials (the user name is ignored). */
export function basicPasswordOf(header: string | undefined): string | undefined {
  const match = /^Basic[ ]+([A-Za-z0-9+/]+=*)\s*$/i.exec(header ?? '');
  if (!match) {
    return undefined;
  }
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? undefined : decoded.slice(colon + 1);
}

export function unauthorized(presented: boolean, challenges: string[] = [BEARER_CHALLENGE]): AdminError {
  return new AdminError(
    'UNAUTHORIZED',
    presented
      ? 'the token is not valid'
      : 'this endpoint needs the admin token: "Authorization: Bearer <token>" (see <data-dir>/admin-token)',
    {
      headers: {
        'www-authenticate': challenges.map((challenge) =>
          presented && challenge.startsWith('Bearer') ? `${challenge}, error="invalid_token"` : challenge,
        ),
      },
    },
  );
}

/** Every /admin route: a bearer token of ours, or 401. Records what the token allows for RevealGuard. */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  constructor(private readonly tokens: AdminTokenService) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerTokenOf(request.headers.authorization);
    const access = this.tokens.authenticate(token);
    if (access === undefined) {
      throw unauthorized(request.headers.authorization !== undefined);
    }
    request.adminAccess = access;
    return true;
  }
}

/** `?reveal=true` needs the cap-revealing token; a plain admin token gets 403. Runs after AdminAuthGuard. */
@Injectable()
export class RevealGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    if (request.query.reveal === 'true' && request.adminAccess !== 'reveal') {
      throw new AdminError(
        'REVEAL_FORBIDDEN',
        'revealing caps needs the cap-revealing token (admin-reveal-token), not the admin token',
      );
    }
    return true;
  }
}

/**
 * For what Nest does not route (Swagger UI's files, the OpenAPI JSON): the admin token as a bearer token or as the
 * password of Basic credentials, which is what a browser can send when it opens /docs.
 */
export function docsAuthMiddleware(tokens: AdminTokenService) {
  return (request: Request, _response: Response, next: NextFunction): void => {
    const header = request.headers.authorization;
    const token = bearerTokenOf(header) ?? basicPasswordOf(header);
    if (tokens.authenticate(token) === undefined) {
      next(unauthorized(header !== undefined, [BEARER_CHALLENGE, BASIC_CHALLENGE]));
      return;
    }
    next();
  };
}
