import type { AddressInfo } from 'node:net';
import { type DynamicModule, Logger, type LoggerService, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { serveFiles, setup } from 'swagger-ui-express';
import { RiverFsLogger } from '../common/logging/riverfs-logger';
import type { RiverFsConfig } from '../config/config.schema';
import { isLoopbackHost, metricsNeedToken } from '../metrics/metrics.controller';
import { docsAuthMiddleware } from './auth/admin-auth.guard';
import { AdminTokenService } from './auth/admin-token.service';
import { CorrelatedLogger } from './correlated-logger';
import { correlationIdMiddleware } from './correlation-id.middleware';
import { dashboardMiddleware } from './dashboard.middleware';
import { buildOpenApiDocument } from './openapi.util';
import {
  bodyErrorMiddleware,
  emptyBodyMiddleware,
  jsonOnlyMiddleware,
  rejectPrototypeKeys,
} from './request-body.middleware';
import { requestLogMiddleware, securityHeadersMiddleware } from './request-log.middleware';

export interface HttpAppOptions {
  /** The application's logger; by default a RiverFsLogger with the configured level and format. */
  logger?: LoggerService;
}

/** Options Nest must get when the application is created, for configureHttpApp to work. */
export const NEST_HTTP_OPTIONS = { bodyParser: false } as const;

export function appLogger(config: RiverFsConfig): RiverFsLogger {
  return new RiverFsLogger({ level: config.logLevel, format: config.logFormat });
}

/**
 * Creates the HTTP application from a root module that imports ConfigModule and HttpAppModule, configured by
 * configureHttpApp. Call `listenHttpApp` to serve it.
 */
export async function createHttpApp(
  rootModule: Type<unknown> | DynamicModule,
  config: RiverFsConfig,
  options: HttpAppOptions = {},
): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(rootModule, {
    ...NEST_HTTP_OPTIONS,
    logger: new CorrelatedLogger(options.logger ?? appLogger(config)),
    abortOnError: false,
  });
  configureHttpApp(app, config);
  return app;
}

/**
 * Everything of the HTTP surface that is Express rather than Nest, in the order requests meet it: correlation id,
 * request log, security headers, JSON-only bodies with the size limit, then /docs, /docs-json and the dashboard.
 * Must run before `init()`/`listen()`; the app must have been created with NEST_HTTP_OPTIONS. Works for apps made
 * by NestFactory and by a testing module alike.
 */
export function configureHttpApp(app: NestExpressApplication, config: RiverFsConfig): void {
  const express = app.getHttpAdapter().getInstance() as {
    disable(name: string): void;
    set(name: string, value: unknown): void;
  };
  express.disable('x-powered-by');
  // Query values stay strings or arrays of strings (never nested objects), which the DTOs then validate.
  express.set('query parser', 'simple');

  app.use(correlationIdMiddleware);
  app.use(requestLogMiddleware);
  app.use(securityHeadersMiddleware);
  app.use(jsonOnlyMiddleware);
  app.useBodyParser('json', {
    limit: config.httpBodyLimit,
    strict: true,
    type: ['application/json', 'application/*+json'],
    reviver: rejectPrototypeKeys,
  });
  app.use(emptyBodyMiddleware);
  app.use(bodyErrorMiddleware(config.httpBodyLimit));

  const tokens = app.get(AdminTokenService);
  const document = buildOpenApiDocument(app);
  const docsAuth = docsAuthMiddleware(tokens);
  app.use('/docs-json', docsAuth, (_request: Request, response: Response) => {
    response.json(document);
  });
  // Swagger UI's page loads its files relatively ("./swagger-ui.css"): at /docs they would resolve to /.
  app.use('/docs', (request: Request, response: Response, next: NextFunction) => {
    if (request.originalUrl === '/docs' || request.originalUrl.startsWith('/docs?')) {
      response.redirect(301, '/docs/');
      return;
    }
    next();
  });
  const swaggerOptions = {
    customSiteTitle: 'RiverFS admin API',
    swaggerOptions: { persistAuthorization: true, displayRequestDuration: true },
  };
  app.use('/docs', docsAuth, serveFiles(document, swaggerOptions), setup(document, swaggerOptions));
  app.use(dashboardMiddleware());
}

/** Listens on `config.listen` (127.0.0.1:7878 unless configured) and returns the bound address. */
export async function listenHttpApp(app: NestExpressApplication, config: RiverFsConfig): Promise<AddressInfo> {
  await app.listen(config.listen.port, config.listen.host);
  const address = app.getHttpServer().address() as AddressInfo;
  const logger = new Logger('HTTP');
  logger.log(`Admin API, dashboard and /docs at http://${address.address}:${address.port}/`);
  if (!isLoopbackHost(config.listen.host)) {
    logger.warn(
      `Listening on ${config.listen.host}, beyond loopback, without TLS: put a TLS proxy in front, since the admin ` +
        `token travels in every request${metricsNeedToken(config) ? '' : ' (and /metrics is open: metricsAuth is off)'}`,
    );
  }
  return address;
}
