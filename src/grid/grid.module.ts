import { Global, Module } from '@nestjs/common';
import { TAHOE_NODE_URL } from '../tahoe/tahoe.module';
import { LocalGridService } from './local-grid.service';

/** Provides the Tahoe web-API URL (TAHOE_NODE_URL) to TahoeModule: configured, or from the embedded local grid. */
@Global()
@Module({
  providers: [
    LocalGridService,
    {
      provide: TAHOE_NODE_URL,
      inject: [LocalGridService],
      useFactory: (grid: LocalGridService): Promise<string> => grid.webUrl(),
    },
  ],
  exports: [LocalGridService, TAHOE_NODE_URL],
})
export class GridModule {}
