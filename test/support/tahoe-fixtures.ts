import { TahoeClient } from '../../src/tahoe/tahoe.client';
import type { TahoeClientOptions } from '../../src/tahoe/tahoe.types';
import { testTahoeUrl } from './tahoe.helper';

/** A TahoeClient on the test grid with settings suited to tests (short connect timeout, quick retries). */
export function testTahoeClient(overrides: Partial<TahoeClientOptions> = {}): TahoeClient {
  return new TahoeClient({
    url: testTahoeUrl(),
    connectTimeout: 5_000,
    headersTimeout: 120_000,
    bodyTimeout: 60_000,
    concurrency: 4,
    retries: 2,
    retryBaseDelay: 50,
    ...overrides,
  });
}
