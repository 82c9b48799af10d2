/** The few admin-API calls the bench needs from a RiverFS mount: is everything in Tahoe yet, and drop the cache. */
import { pollUntil } from '../src/grid/process.util';

interface SyncQueue {
  total: number;
  items: unknown[];
  scannedAt: string | null;
}

interface CacheStats {
  dirtyFiles: number;
  dirtyBytes: number;
}

/** What one read of a RiverFS mount's /metrics tells the bench. */
export interface MountSample {
  /** Per FUSE operation: calls served so far and seconds spent on them (riverfs_fuse_op_duration_seconds). */
  ops: Record<string, { calls: number; seconds: number }>;
  /** The longest event-loop delay since the previous read (prom-client resets it at each scrape). */
  eventLoopLagMaxSeconds?: number;
  residentBytes?: number;
  /** Per Tahoe web-API operation (upload, setChildren, listDirectory, ...): requests answered so far. */
  tahoeRequests: Record<string, number>;
}

export class RiverFsAdmin {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  private async call<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
    const text = await this.fetchText(`${this.baseUrl}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(600_000),
    });
    return JSON.parse(text) as T;
  }

  /**
   * One request, tried again (up to 3 times) when the connection broke: a RiverFS whose event loop was held up for
   * longer than its keep-alive timeout closes the idle connection just as the next poll reuses it (seen in the full
   * run's drain of 100,000 entries), which says nothing of the figure being measured.
   */
  private async fetchText(url: string, init: RequestInit): Promise<string> {
    for (let attempt = 1; ; attempt += 1) {
      let response: Response;
      try {
        response = await fetch(url, init);
      } catch (error) {
        if (attempt >= 3 || init.method === 'POST') {
          throw error;
        }
        continue;
      }
      const text = await response.text();
      if (!response.ok) {
        throw new Error(
          `${init.method ?? 'GET'} ${url.slice(this.baseUrl.length)}: ${response.status} ${text.slice(0, 500)}`,
        );
      }
      return text;
    }
  }

  /**
   * Resolves once everything written before the call is in Tahoe: the sync queue is empty, no cached file is dirty (a
   * closed file is dirty before its upload task exists, so the queue alone could look empty too early), and a scan
   * of the journal began since the call (namespace changes reach the queue only through it).
   */
  async waitDrained(timeoutMs: number): Promise<void> {
    const since = Date.now();
    let last = '';
    await pollUntil(
      async () => {
        const [queue, cache] = await Promise.all([
          this.call<SyncQueue>('GET', '/admin/sync/queue?limit=3'),
          this.call<CacheStats>('GET', '/admin/cache'),
        ]);
        last = `queue ${queue.total}, dirty files ${cache.dirtyFiles} (${cache.dirtyBytes} B), scanned ${queue.scannedAt}; first: ${JSON.stringify(queue.items)}`;
        const scanned = queue.scannedAt !== null && Date.parse(queue.scannedAt) >= since;
        return queue.total === 0 && cache.dirtyFiles === 0 && scanned ? true : undefined;
      },
      {
        timeoutMs,
        // Each probe lists the whole sync queue and the cache's dirty files in the gateway: every 50 ms through a
        // 10,000-file drain that was 8 of the 67 s of CPU the gateway spent on it (a profile of 2026-12-07), taken
        // from the drain being timed. A probe every 2% of the time waited keeps the error within 2%.
        intervalMs: (waited) => Math.min(1000, Math.max(50, waited / 50)),
        describeTimeout: () => `RiverFS did not drain to Tahoe within ${timeoutMs / 1000} s (${last})`,
      },
    );
  }

  /**
   * What /metrics says now: per FUSE operation, the calls RiverFS served and the seconds it spent on them so far (from
   * riverfs_fuse_op_duration_seconds): the difference over a workload says where the mount's time went.
   */
  async sample(): Promise<MountSample> {
    const text = await this.fetchText(`${this.baseUrl}/metrics`, {
      method: 'GET',
      headers: { authorization: `Bearer ${this.token}` },
      signal: AbortSignal.timeout(60_000),
    });
    const ops: MountSample['ops'] = {};
    for (const match of text.matchAll(/^riverfs_fuse_op_duration_seconds_(sum|count)\{op="([^"]+)"\} (\S+)$/gm)) {
      const [, field, op, value] = match;
      const entry = (ops[op] ??= { calls: 0, seconds: 0 });
      if (field === 'sum') {
        entry.seconds = Number(value);
      } else {
        entry.calls = Number(value);
      }
    }
    const tahoeRequests: Record<string, number> = {};
    for (const match of text.matchAll(/^riverfs_tahoe_requests_total\{op="([^"]+)",status="[^"]*"\} (\S+)$/gm)) {
      tahoeRequests[match[1]] = (tahoeRequests[match[1]] ?? 0) + Number(match[2]);
    }
    const gauge = (name: string): number | undefined => {
      const value = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
      return value === undefined ? undefined : Number(value);
    };
    return {
      ops,
      tahoeRequests,
      eventLoopLagMaxSeconds: gauge('nodejs_eventloop_lag_max_seconds'),
      residentBytes: gauge('process_resident_memory_bytes'),
    };
  }

  async evictAll(): Promise<void> {
    await this.call('POST', '/admin/cache/evict', {});
  }
}
