import { Counter, Histogram, Registry } from 'prom-client';
import { FuseOpMetrics } from './fuse-op-metrics';

const BOUNDS = [0.0001, 0.001, 0.01, 0.1, 1];
const label = (value: string): string => (/^[A-Za-z_]\w*$/.test(value) ? value : 'other');

/** The series of one metric family in an exposition, sorted (the order of families in a registry differs). */
function seriesOf(text: string, family: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(family))
    .sort();
}

describe('FuseOpMetrics', () => {
  it("should expose exactly what prom-client's own counter and histogram would for the same answers", async () => {
    const ours = new Registry();
    const fuse = new FuseOpMetrics(BOUNDS, label);
    fuse.register(ours);

    const reference = new Registry();
    const count = new Counter({
      name: 'riverfs_fuse_ops_total',
      help: 'h',
      labelNames: ['op', 'result'],
      registers: [reference],
    });
    const duration = new Histogram({
      name: 'riverfs_fuse_op_duration_seconds',
      help: 'h',
      labelNames: ['op'],
      buckets: BOUNDS,
      registers: [reference],
    });

    const answers: [string, string, number][] = [
      ['lookup', 'ok', 0.00005],
      ['lookup', 'ENOENT', 0.0001], // On a bound: counted in that bucket, as prom-client does.
      ['lookup', 'ok', 0.0004],
      ['read', 'ok', 0.02],
      ['read', 'EIO', 2.5], // Above every bound: only in +Inf.
      ['write', '../bad', 0.5],
      ['weird op', 'ok', 0.003], // Folded into "other", as a label value of prom-client's would be here.
    ];
    for (const [op, result, seconds] of answers) {
      fuse.observe(op, result, seconds);
      count.inc({ op: label(op), result: label(result) });
      duration.observe({ op: label(op) }, seconds);
    }

    const oursText = await ours.metrics();
    const referenceText = await reference.metrics();
    for (const family of ['riverfs_fuse_ops_total', 'riverfs_fuse_op_duration_seconds']) {
      expect(seriesOf(oursText, family)).toEqual(seriesOf(referenceText, family));
    }
    expect(oursText).toContain('# TYPE riverfs_fuse_op_duration_seconds histogram');
    expect(oursText).toContain('# TYPE riverfs_fuse_ops_total counter');
    expect(fuse.totals()).toEqual({ ops: 7, errors: 3 });
  });
});
