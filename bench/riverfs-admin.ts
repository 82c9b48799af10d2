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

  /**
   * Per FUSE operation, how many calls RiverFS served and the seconds it spent on them so far (from /metrics'
   * riverfs_fuse_op_duration_seconds): the difference over a workload says where the mount's time went.
   */
  async fuseOps(): Promise<Record<string, { calls: number; seconds: number }>> {
    const response = await fetch(`${this.baseUrl}/metrics`, {
      headers: { authorization: `Bearer ${this.token}` },
      signal: AbortSignal.timeout(60_000),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`GET /metrics: ${response.status} ${text.slice(0, 500)}`);
    }
    const ops: Record<string, { calls: number; seconds: number }> = {};
    for (const match of text.matchAll(/^riverfs_fuse_op_duration_seconds_(sum|count)\{op="([^"]+)"\} (\S+)$/gm)) {
      const [, field, op, value] = match;
      const entry = (ops[op] ??= { calls: 0, seconds: 0 });
      if (field === 'sum') {
        entry.seconds = Number(value);
      } else {
        entry.calls = Number(value);
      }
    }
    return ops;
  }

  async evictAll(): Promise<void> {
    await this.call('POST', '/admin/cache/evict', {});
  }
}
