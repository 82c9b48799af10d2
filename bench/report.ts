/** Medians and ratios, the terminal table and the JSON file. */
import { metricOrder, metricSpec, relativeSpeed } from './metrics';

export interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export type Results = Record<string, Record<string, Summary>>;

export const RIVERFS = 'riverfs';
export const REFERENCES = ['local', 'passthrough', 'juicefs', 'rclone', 'tahoe-api', 'sshfs'] as const;
/** Besides RiverFS's ratios: what Node and the binding cost, the Node pass-through against the same one in C. */
const NODE_PASSTHROUGH = 'passthrough';
const C_PASSTHROUGH = 'passthrough-c';

export function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  const median = sorted.length % 2 === 1 ? sorted[Math.floor(middle)] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], samples: values };
}

function speeds(subject: Record<string, Summary>, base: Record<string, Summary>): Record<string, number> {
  return Object.fromEntries(
    Object.keys(subject)
      .filter((metric) => base[metric] !== undefined)
      .map((metric) => [metric, relativeSpeed(metric, subject[metric].median, base[metric].median)]),
  );
}

/**
 * ratios["riverfs/passthrough"][metric]: RiverFS's speed relative to the reference (1 = as fast, above = faster);
 * and ratios["passthrough/passthrough-c"], when both ran.
 */
export function ratios(results: Results): Record<string, Record<string, number>> {
  const riverfs = results[RIVERFS] ?? {};
  const out: Record<string, Record<string, number>> = {};
  for (const reference of REFERENCES) {
    const base = results[reference];
    if (base) {
      out[`${RIVERFS}/${reference}`] = speeds(riverfs, base);
    }
  }
  const node = results[NODE_PASSTHROUGH];
  const c = results[C_PASSTHROUGH];
  if (node && c) {
    out[`${NODE_PASSTHROUGH}/${C_PASSTHROUGH}`] = speeds(node, c);
  }
  return out;
}

/** Per-entry cost at each size divided by the cost at the smallest: 1 is linear growth, above is worse than linear. */
export function growth(results: Results): Record<string, Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, Record<string, number>>> = {};
  for (const [target, metrics] of Object.entries(results)) {
    for (const op of ['create', 'list', 'drain']) {
      const points = Object.keys(metrics)
        .map((name) => new RegExp(`^scale\\.${op}\\.(\\d+)\\.usPerEntry$`).exec(name))
        .filter((match): match is RegExpExecArray => match !== null)
        .map((match) => ({ count: Number(match[1]), cost: metrics[match[0]].median }))
        .sort((a, b) => a.count - b.count);
      if (points.length < 2) {
        continue;
      }
      (out[target] ??= {})[op] = Object.fromEntries(
        points.map((point) => [String(point.count), point.cost / points[0].cost]),
      );
    }
  }
  return out;
}

/** Where RiverFS is below 70% of passthrough or slower than sshfs: the figures that need an explanation. */
export function shortfalls(ratioTable: Record<string, Record<string, number>>): string[] {
  const found: string[] = [];
  for (const [metric, ratio] of Object.entries(ratioTable[`${RIVERFS}/passthrough`] ?? {})) {
    if (ratio < 0.7) {
      found.push(`${metric}: ${(ratio * 100).toFixed(0)}% of passthrough`);
    }
  }
  for (const [metric, ratio] of Object.entries(ratioTable[`${RIVERFS}/sshfs`] ?? {})) {
    if (ratio < 1) {
      found.push(`${metric}: ${(ratio * 100).toFixed(0)}% of sshfs`);
    }
  }
  return found;
}

function formatFigure(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) {
    return '-';
  }
  const magnitude = Math.abs(value);
  return magnitude >= 100 ? value.toFixed(0) : magnitude >= 10 ? value.toFixed(1) : value.toFixed(2);
}

export function table(results: Results, ratioTable: Record<string, Record<string, number>>): string {
  const targets = Object.keys(results);
  const metrics = metricOrder(targets.flatMap((target) => Object.keys(results[target])));
  const ratioNames = Object.keys(ratioTable);
  const labelWidth = Math.max(...metrics.map((m) => `${metricSpec(m).label} (${metricSpec(m).unit})`.length), 8) + 2;
  const width = Math.max(12, ...targets.map((t) => t.length + 2), ...ratioNames.map((r) => r.length + 2));
  const header = ['workload'.padEnd(labelWidth), ...[...targets, ...ratioNames].map((name) => name.padStart(width))];
  const rows = metrics.map((metric) => {
    const spec = metricSpec(metric);
    return [
      `${spec.label} (${spec.unit})`.padEnd(labelWidth),
      ...targets.map((target) => formatFigure(results[target][metric]?.median).padStart(width)),
      ...ratioNames.map((name) => {
        const ratio = ratioTable[name][metric];
        return (ratio === undefined ? '-' : `${(ratio * 100).toFixed(0)}%`).padStart(width);
      }),
    ].join('');
  });
  return [header.join(''), ...rows].join('\n');
}
