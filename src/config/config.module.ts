import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { RiverFsConfig } from './config.schema';

/** Injection token of the validated, frozen configuration. */
export const RIVERFS_CONFIG = Symbol('RIVERFS_CONFIG');

/**
 * The configuration is loaded and validated before Nest starts (see config.loader.ts), so a bad setting
 * stops the process before any module opens a connection. This module only makes it injectable.
 */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: RiverFsConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: RIVERFS_CONFIG, useValue: config }],
      exports: [RIVERFS_CONFIG],
    };
  }
}
