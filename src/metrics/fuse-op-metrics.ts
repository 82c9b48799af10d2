import type { Registry } from 'prom-client';

/** A metric as prom-client's registry reads it (what its own Counter and Histogram answer from `get()`). */
interface MetricValues {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

interface OpTotals {
  /** Answers by result: "ok" or the errno name. */
  results: Map<string, number>;
  /** Observations per bucket, not cumulative: bucket i counts durations ≤ bounds[i] and above bounds[i - 1]. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * `riverfs_fuse_ops_total{op,result}` and `riverfs_fuse_op_duration_seconds{op}`, counted in plain numbers on the
 * FUSE path and turned into series only when scraped. Through prom-client's Counter and Histogram each answered
 * request hashed and validated its labels twice, about 4 µs: 3.5% of the event loop's busy time in a small-file
 * create loop, which makes six requests per file (CPU profile, 10,000 files).
 *
 * Label values come from code (operation and errno names); `label` folds anything else into "other" when scraped.
 */
export class FuseOpMetrics {
  private readonly ops = new Map<string, OpTotals>();

  constructor(
    private readonly bounds: readonly number[],
    private readonly label: (value: string) => string,
  ) {}

  observe(op: string, result: string, seconds: number): void {
    let totals = this.ops.get(op);
    if (totals === undefined) {
      totals = { results: new Map(), buckets: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.ops.set(op, totals);
    }
    totals.results.set(result, (totals.results.get(result) ?? 0) + 1);
    let bucket = 0;
    while (bucket < this.bounds.length && seconds > this.bounds[bucket]) {
      bucket += 1;
    }
    totals.buckets[bucket] += 1;
    totals.sum += seconds;
    totals.count += 1;
  }

  /**
   * Registers both metrics in `registry` under their names. The registry's type admits only prom-client's own classes,
   * but it reads a metric through `name` and `get()` alone, which these have.
   */
  register(registry: Registry): void {
    registry.registerMetric(this.metric('riverfs_fuse_ops_total', () => this.countValues()) as never);
    registry.registerMetric(this.metric('riverfs_fuse_op_duration_seconds', () => this.durationValues()) as never);
  }

  /** Answers of every operation, by result; the dashboard's totals. */
  totals(): { ops: number; errors: number } {
    let ops = 0;
    let errors = 0;
    for (const { results } of this.ops.values()) {
      for (const [result, count] of results) {
        ops += count;
        errors += result === 'ok' ? 0 : count;
      }
    }
    return { ops, errors };
  }

  private metric(name: string, values: () => MetricValues['values']): { name: string; get(): Promise<MetricValues> } {
    const counter = name === 'riverfs_fuse_ops_total';
    const metric = {
      name,
      help: counter
        ? 'FUSE operations answered, by operation and result (ok or the errno name)'
        : 'Time to answer a FUSE operation',
      type: counter ? ('counter' as const) : ('histogram' as const),
      aggregator: 'sum' as const,
    };
    return {
      name,
      get: () => Promise.resolve({ ...metric, values: values() }),
    };
  }

  /** The totals by label: operations whose names fold into one label are added up. */
  private byLabel(): Map<string, OpTotals> {
    const merged = new Map<string, OpTotals>();
    for (const [op, totals] of this.ops) {
      const name = this.label(op);
      const into = merged.get(name);
      if (into === undefined) {
        merged.set(name, {
          results: new Map(totals.results),
          buckets: Float64Array.from(totals.buckets),
          sum: totals.sum,
          count: totals.count,
        });
        continue;
      }
      for (const [result, count] of totals.results) {
        into.results.set(result, (into.results.get(result) ?? 0) + count);
      }
      totals.buckets.forEach((count, index) => (into.buckets[index] += count));
      into.sum += totals.sum;
      into.count += totals.count;
    }
    return merged;
  }

  private countValues(): MetricValues['values'] {
    const values: MetricValues['values'] = [];
    for (const [op, totals] of this.byLabel()) {
      const results = new Map<string, number>();
      for (const [result, count] of totals.results) {
        const name = this.label(result);
        results.set(name, (results.get(name) ?? 0) + count);
      }
      for (const [result, count] of results) {
        values.push({ value: count, labels: { op, result } });
      }
    }
    return values;
  }

  private durationValues(): MetricValues['values'] {
    const name = 'riverfs_fuse_op_duration_seconds';
    const values: MetricValues['values'] = [];
    for (const [op, totals] of this.byLabel()) {
      let cumulative = 0;
      this.bounds.forEach((bound, index) => {
        cumulative += totals.buckets[index];
        values.push({ value: cumulative, labels: { le: bound, op }, metricName: `${name}_bucket` });
      });
      values.push({ value: totals.count, labels: { le: '+Inf', op }, metricName: `${name}_bucket` });
      values.push({ value: totals.sum, labels: { op }, metricName: `${name}_sum` });
      values.push({ value: totals.count, labels: { op }, metricName: `${name}_count` });
    }
    return values;
  }
}
