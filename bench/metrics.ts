/** Every figure the bench records: its unit and which way is better, so that one ratio convention fits all. */
export interface MetricSpec {
  unit: string;
  better: 'higher' | 'lower';
  label: string;
}

const FIXED: Record<string, MetricSpec> = {
  'seqWrite.closeMBps': { unit: 'MB/s', better: 'higher', label: 'seq write, until close' },
  'seqWrite.inTahoeMBps': { unit: 'MB/s', better: 'higher', label: 'seq write, until in Tahoe' },
  'seqRead.warmMBps': { unit: 'MB/s', better: 'higher', label: 'seq read, warm' },
  'seqRead.coldMBps': { unit: 'MB/s', better: 'higher', label: 'seq read, cold' },
  'seqRead.coldPeakRssMiB': { unit: 'MiB', better: 'lower', label: 'seq read, cold: server peak RSS' },
  'random4k.readsPerS': { unit: 'op/s', better: 'higher', label: 'random 4 KiB reads' },
  'ttfb.coldMs': { unit: 'ms', better: 'lower', label: 'first byte, cold file' },
  'small.createPerS': { unit: 'op/s', better: 'higher', label: 'small files: create' },
  'small.inTahoePerS': { unit: 'op/s', better: 'higher', label: 'small files: until in Tahoe' },
  'small.statPerS': { unit: 'op/s', better: 'higher', label: 'small files: stat' },
  'small.readPerS': { unit: 'op/s', better: 'higher', label: 'small files: read' },
  'small.unlinkPerS': { unit: 'op/s', better: 'higher', label: 'small files: unlink' },
  'tree.extractFilesPerS': { unit: 'file/s', better: 'higher', label: 'tree: tar x' },
  'tree.inTahoeFilesPerS': { unit: 'file/s', better: 'higher', label: 'tree: tar x until in Tahoe' },
  'tree.lsLREntriesPerS': { unit: 'entry/s', better: 'higher', label: 'tree: ls -lR' },
  'tree.findEntriesPerS': { unit: 'entry/s', better: 'higher', label: 'tree: find' },
  'tree.duEntriesPerS': { unit: 'entry/s', better: 'higher', label: 'tree: du' },
  'tree.gitCommitFilesPerS': { unit: 'file/s', better: 'higher', label: 'tree: git add -A && commit' },
  'memory.copyMBps': { unit: 'MB/s', better: 'higher', label: 'big copy, until close' },
  'memory.peakRssMiB': { unit: 'MiB', better: 'lower', label: 'big copy: server peak RSS' },
  's3.putObjectsPerS': { unit: 'objects/s', better: 'higher', label: 's3: put (RiverFS: until in Tahoe)' },
  's3.putMBps': { unit: 'MB/s', better: 'higher', label: 's3: put' },
  's3.listMs': { unit: 'ms', better: 'lower', label: 's3: 8 listings with prefixes' },
  's3.getObjectsPerS': { unit: 'objects/s', better: 'higher', label: 's3: get and compare' },
  's3.getMBps': { unit: 'MB/s', better: 'higher', label: 's3: get' },
};

const SCALE_LABELS: Record<string, string> = {
  create: 'create in one dir',
  list: 'list (readdir+lstat)',
  drain: 'drain to Tahoe',
};

export function metricSpec(name: string): MetricSpec {
  const fixed = FIXED[name];
  if (fixed) {
    return fixed;
  }
  const scale = /^scale\.(create|list|drain)\.(\d+)\.usPerEntry$/.exec(name);
  if (scale) {
    return { unit: 'µs/entry', better: 'lower', label: `${SCALE_LABELS[scale[1]]}, ${Number(scale[2])}` };
  }
  throw new Error(`no metric named ${name}`);
}

/** The order of the rows of the table: the fixed metrics as listed, then the growth rows by operation and size. */
export function metricOrder(names: Iterable<string>): string[] {
  const fixed = Object.keys(FIXED);
  const rank = (name: string): [number, string, number] => {
    const index = fixed.indexOf(name);
    if (index >= 0) {
      return [index, '', 0];
    }
    const [, op, count] = name.split('.');
    return [fixed.length + Object.keys(SCALE_LABELS).indexOf(op), op, Number(count)];
  };
  return [...new Set(names)].sort((a, b) => {
    const [ra, , ca] = rank(a);
    const [rb, , cb] = rank(b);
    return ra - rb || ca - cb;
  });
}

/** How fast RiverFS is relative to a reference: above 1 it is faster, whatever the unit. */
export function relativeSpeed(name: string, riverfs: number, reference: number): number {
  return metricSpec(name).better === 'higher' ? riverfs / reference : reference / riverfs;
}
