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

/** Distinct raw values whose label is remembered; past that many (values not from code), it is computed each time. */
const MAX_REMEMBERED_LABELS = 1000;

/**
 * `riverfs_fuse_ops_total{op,result}` and `riverfs_fuse_op_duration_seconds{op}`, counted in plain numbers on the
 * FUSE path and turned into series only when scraped. Through prom-client's Counter and Histogram each answered
 * request hashed and validated its labels twice, about 4 µs: 3.5% of the event loop's busy time in a small-file
 * create loop, which makes six requests per file (CPU profile, 10,000 files).
 *
 * Label values come from code (operation and errno names); `label` folds anything else into "other", once per
 * distinct value.
 */
export class FuseOpMetrics {
  /** Totals by operation label. */
  private readonly ops = new Map<string, OpTotals>();
  private readonly labels = new Map<string, string>();

  constructor(
    private readonly bounds: readonly number[],
    private readonly label: (value: string) => string,
  ) {}

  observe(op: string, result: string, seconds: number): void {
    const opLabel = this.labelOf(op);
    let totals = this.ops.get(opLabel);
    if (totals === undefined) {
      totals = { results: new Map(), buckets: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.ops.set(opLabel, totals);
    }
    const resultLabel = this.labelOf(result);
    totals.results.set(resultLabel, (totals.results.get(resultLabel) ?? 0) + 1);
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
    const metrics = [
      metric(
        'riverfs_fuse_ops_total',
        'FUSE operations answered, by operation and result (ok or the errno name)',
        'counter',
        () => this.countValues(),
      ),
      metric('riverfs_fuse_op_duration_seconds', 'Time to answer a FUSE operation', 'histogram', () =>
        this.durationValues(),
      ),
    ];
    for (const each of metrics) {
      registry.registerMetric(each as never);
    }
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

  private labelOf(value: string): string {
    let label = this.labels.get(value);
    if (label === undefined) {
      label = this.label(value);
      if (this.labels.size < MAX_REMEMBERED_LABELS) {
        this.labels.set(value, label);
      }
    }
    return label;
  }

  private countValues(): MetricValues['values'] {
    const values: MetricValues['values'] = [];
    for (const [op, totals] of this.ops) {
      for (const [result, count] of totals.results) {
        values.push({ value: count, labels: { op, result } });
      }
    }
    return values;
  }

  private durationValues(): MetricValues['values'] {
    const name = 'riverfs_fuse_op_duration_seconds';
    const values: MetricValues['values'] = [];
    for (const [op, totals] of this.ops) {
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

function metric(
  name: string,
  help: string,
  type: MetricValues['type'],
  values: () => MetricValues['values'],
): { name: string; get(): Promise<MetricValues> } {
  return { name, get: () => Promise.resolve({ name, help, type, aggregator: 'sum', values: values() }) };
}
