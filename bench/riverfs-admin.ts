/** The few admin-API calls the bench needs from a RiverFS mount: is everything in Tahoe yet, and drop the cache. */
import { pollUntil } from '../src/grid/process.util';

interface SyncQueue {
  total: number;
  items: unknown[];
}

interface CacheStats {
  dirtyFiles: number;
  dirtyBytes: number;
}

export class RiverFsAdmin {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  private async call<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(600_000),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`${method} ${route}: ${response.status} ${text.slice(0, 500)}`);
    }
    return JSON.parse(text) as T;
  }

  /**
   * Resolves once nothing waits for upload or publish: the sync queue is empty and no cached file is dirty (a closed
   * file is dirty before its upload task exists, so the queue alone could look empty too early).
   */
  async waitDrained(timeoutMs: number): Promise<void> {
    let last = '';
    await pollUntil(
      async () => {
        const [queue, cache] = await Promise.all([
          this.call<SyncQueue>('GET', '/admin/sync/queue?limit=3'),
          this.call<CacheStats>('GET', '/admin/cache'),
        ]);
        last = `queue ${queue.total}, dirty files ${cache.dirtyFiles} (${cache.dirtyBytes} B); first: ${JSON.stringify(queue.items)}`;
        return queue.total === 0 && cache.dirtyFiles === 0 ? true : undefined;
      },
      {
        timeoutMs,
        intervalMs: 50,
        describeTimeout: () => `RiverFS did not drain to Tahoe within ${timeoutMs / 1000} s (${last})`,
      },
    );
  }

  async evictAll(): Promise<void> {
    await this.call('POST', '/admin/cache/evict', {});
  }
}
