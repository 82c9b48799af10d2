// swagger-ui-express ships no types (and @types/swagger-ui-express is not a dependency): what this project uses.
declare module 'swagger-ui-express' {
  import type { RequestHandler } from 'express';

  export interface SwaggerUiOptions {
    customSiteTitle?: string;
    swaggerOptions?: Record<string, unknown>;
  }

  /** Swagger UI's files and an init script bound to this document (not the module-wide one `serve` uses). */
  export function serveFiles(document: unknown, options?: SwaggerUiOptions): RequestHandler[];
  /** The page itself. */
  export function setup(document: unknown, options?: SwaggerUiOptions): RequestHandler;
}
