import { createHash, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { RIVERFS_CONFIG } from '../../config/config.module';
import type { RiverFsConfig } from '../../config/config.schema';
import { ensureTokenFile } from './token-file.util';

/** What a token allows: `admin` every admin route; `reveal` that, and showing caps unredacted. */
export type AdminAccess = 'admin' | 'reveal';

export const ADMIN_TOKEN_FILE = 'admin-token';
export const REVEAL_TOKEN_FILE = 'admin-reveal-token';

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * The admin API's two bearer tokens: configured, or generated on first start into the data directory (mode 0600)
 * and reused after. Presented tokens are compared as SHA-256 digests with timingSafeEqual: equal lengths whatever
 * was sent, and no early exit that would time out the matching prefix.
 */
@Injectable()
export class AdminTokenService implements OnModuleInit {
  private readonly logger = new Logger('AdminAuth');
  private adminDigest: Buffer | undefined;
  private revealDigest: Buffer | undefined;

  constructor(@Inject(RIVERFS_CONFIG) private readonly config: RiverFsConfig) {}

  onModuleInit(): void {
    this.adminDigest = digest(this.load(this.config.adminToken, ADMIN_TOKEN_FILE, 'admin token'));
    this.revealDigest = digest(this.load(this.config.adminRevealToken, REVEAL_TOKEN_FILE, 'cap-revealing token'));
  }

  private load(configured: string | undefined, fileName: string, what: string): string {
    if (configured !== undefined) {
      return configured;
    }
    const file = path.join(this.config.dataDir, fileName);
    const result = ensureTokenFile(file);
    if (result.created) {
      this.logger.log(`Generated the ${what} into ${file} (mode 0600); send it as "Authorization: Bearer <token>"`);
    }
    if (result.repairedMode) {
      this.logger.warn(`${file} was readable by other users; its mode is now 0600`);
    }
    return result.token;
  }

  /** The access a presented token grants, or undefined for a wrong or missing one. */
  authenticate(presented: string | undefined): AdminAccess | undefined {
    if (this.adminDigest === undefined || this.revealDigest === undefined) {
      throw new Error('AdminTokenService used before module init');
    }
    if (presented === undefined || presented === '') {
      return undefined;
    }
    const candidate = digest(presented);
    // Both comparisons always run, so the time taken does not tell which token (if either) matched.
    const isReveal = timingSafeEqual(candidate, this.revealDigest);
    const isAdmin = timingSafeEqual(candidate, this.adminDigest);
    return isReveal ? 'reveal' : isAdmin ? 'admin' : undefined;
  }
}
