import { Global, Module } from '@nestjs/common';
import { AdminAuthGuard, RevealGuard } from './admin-auth.guard';
import { AdminTokenService } from './admin-token.service';

/** The admin tokens and the guards that check them, for every module of the HTTP surface. */
@Global()
@Module({
  providers: [AdminTokenService, AdminAuthGuard, RevealGuard],
  exports: [AdminTokenService, AdminAuthGuard, RevealGuard],
})
export class AuthModule {}
