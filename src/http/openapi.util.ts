import { type DynamicModule, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { BlockCache } from '../cache/block-cache';
import { loadConfig } from '../config/config.loader';
import { ConfigModule } from '../config/config.module';
import { MetadataStore } from '../metadata/metadata.store';
import { SyncJournal } from '../metadata/sync-journal';
import { TahoeCheckLedger } from '../metadata/tahoe-check-ledger';
import { TahoeLeaseLedger } from '../metadata/tahoe-lease-ledger';
import { RiverFsMetrics } from '../metrics/riverfs-metrics.service';
import { StateStore } from '../state/state-store';
import { TahoeClient } from '../tahoe/tahoe.client';
import { HttpAppModule } from './http-app.module';

const DESCRIPTION = [
  'The operator API of a RiverFS gateway: inode inspection, cache statistics and eviction, flush, forced sync,',
  'warmup and their jobs, the sync queue, grid status, health and metrics.',
  '',
  'Every /admin route needs `Authorization: Bearer <token>`: the admin token (configured, or generated into',
  '`<data-dir>/admin-token`). Caps are redacted in answers; `reveal=true` shows them and needs the cap-revealing',
  'token (`<data-dir>/admin-reveal-token`). Errors are RFC 9457 problem documents (`application/problem+json`) with',
  'a `code` and the `correlationId` also sent as the `x-correlation-id` header.',
].join('\n');

/**
 * The version of the API contract (not of the package: a release that changes no route must not change the
 * document). Bump it with incompatible changes to a route or a DTO.
 */
export const ADMIN_API_VERSION = '1.0';

/** The OpenAPI document of the application's routes (no server needed: it is read from the controllers). */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('RiverFS admin API')
    .setDescription(DESCRIPTION)
    .setVersion(ADMIN_API_VERSION)
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'The admin token, or the cap-revealing token' },
      'bearer',
    )
    .build();
  return SwaggerModule.createDocument(app, config);
}

@Module({})
class OpenApiStubsModule {}

/**
 * The document without any running part (for `npm run openapi:generate` and its drift check): the application's
 * modules over stand-ins for the database, state store, Tahoe client and cache, which the document never touches.
 */
export async function offlineOpenApiDocument(): Promise<OpenAPIObject> {
  const tokens = [MetadataStore, SyncJournal, StateStore, TahoeClient, BlockCache, TahoeLeaseLedger, TahoeCheckLedger];
  const stubs: DynamicModule = {
    module: OpenApiStubsModule,
    providers: tokens.map((token) => ({ provide: token, useValue: {} })),
    exports: tokens,
  };
  const config = loadConfig({ env: { HOME: '/nonexistent' }, cwd: '/' });
  const root: DynamicModule = {
    module: class OpenApiRootModule {},
    imports: [
      ConfigModule.forRoot(config),
      HttpAppModule.forRoot({ imports: [stubs], metrics: new RiverFsMetrics({ defaultMetrics: false }) }),
    ],
  };
  const app = await NestFactory.create(root, { logger: false, abortOnError: false, bodyParser: false });
  try {
    // Through JSON: the document as served, without undefined members.
    return JSON.parse(JSON.stringify(buildOpenApiDocument(app))) as OpenAPIObject;
  } finally {
    await app.close();
  }
}
