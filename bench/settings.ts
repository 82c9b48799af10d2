/** How big each workload is in each mode: `--tiny` (the smoke test), `--quick` (minutes) and the full run. */
export type BenchMode = 'tiny' | 'quick' | 'full';

export interface BenchSettings {
  mode: BenchMode;
  /** Also mount RiverFS on MariaDB + Redis (127.0.0.1) as a target of its own. */
  mysql: boolean;
  /** Where the JSON (and the table) go. */
  outDir: string;
  repetitions: number;
  seqMiB: number;
  /** The Tahoe-bound targets (tahoe-api, sshfs) move less: their rates are what count, and full sizes take too long. */
  slowSeqMiB: number;
  randomFileMiB: number;
  randomReads: number;
  ttfbFileMiB: number;
  smallFiles: number;
  smallDirs: number;
  slowSmallFiles: number;
  slowSmallDirs: number;
  /** Packages of node_modules tarred into the "real tree"; the slow targets get `slowTreePackages`. */
  treePackages: string[];
  slowTreePackages: string[];
  /** Entries in one directory for the growth workload (create, list, drain). */
  scaleCounts: number[];
  memoryCopyMiB: number;
  /** The S3 workload: objects written (every 100th of `s3LargeMiB`, the rest small) and the large size. */
  s3Objects: number;
  s3LargeMiB: number;
  /** Longest wait for RiverFS to drain to Tahoe before the figure is recorded as failed. */
  drainTimeoutMs: number;
}

const SMALL_TREE = ['commander'];
const QUICK_TREE = ['yaml', 'commander'];
const MEDIUM_TREE = ['@nestjs/core', '@nestjs/common', 'yaml'];
const LARGE_TREE = ['rxjs', 'lodash', 'class-validator', '@nestjs/core', '@nestjs/common'];

export function parseSettings(argv: string[], defaultOutDir: string): BenchSettings {
  const mode: BenchMode = argv.includes('--tiny') ? 'tiny' : argv.includes('--quick') ? 'quick' : 'full';
  const outIndex = argv.indexOf('--out');
  const outDir = outIndex >= 0 && argv[outIndex + 1] ? argv[outIndex + 1] : defaultOutDir;
  const common = { mode, mysql: argv.includes('--mysql'), outDir };
  const repetitionsOption = argv.find((arg) => arg.startsWith('--repetitions='));
  if (repetitionsOption !== undefined) {
    const repetitions = Number(repetitionsOption.slice('--repetitions='.length));
    if (!Number.isInteger(repetitions) || repetitions < 1) {
      throw new Error(`--repetitions wants a whole number of at least 1, not ${repetitionsOption.slice(14)}`);
    }
    return { ...sizesFor(mode, common), repetitions };
  }
  return sizesFor(mode, common);
}

function sizesFor(mode: BenchMode, common: Pick<BenchSettings, 'mode' | 'mysql' | 'outDir'>): BenchSettings {
  switch (mode) {
    case 'tiny':
      return {
        ...common,
        repetitions: 1,
        seqMiB: 8,
        slowSeqMiB: 4,
        randomFileMiB: 4,
        randomReads: 200,
        ttfbFileMiB: 2,
        smallFiles: 40,
        smallDirs: 4,
        slowSmallFiles: 10,
        slowSmallDirs: 2,
        treePackages: SMALL_TREE,
        slowTreePackages: SMALL_TREE,
        scaleCounts: [20, 80],
        memoryCopyMiB: 16,
        s3Objects: 40,
        s3LargeMiB: 2,
        drainTimeoutMs: 60_000,
      };
    case 'quick':
      return {
        ...common,
        repetitions: 1,
        seqMiB: 64,
        slowSeqMiB: 32,
        randomFileMiB: 32,
        randomReads: 1000,
        ttfbFileMiB: 8,
        smallFiles: 300,
        smallDirs: 6,
        slowSmallFiles: 60,
        slowSmallDirs: 3,
        treePackages: QUICK_TREE,
        slowTreePackages: SMALL_TREE,
        scaleCounts: [300, 1000, 3000],
        memoryCopyMiB: 256,
        s3Objects: 300,
        s3LargeMiB: 16,
        drainTimeoutMs: 300_000,
      };
    case 'full':
      return {
        ...common,
        repetitions: 3,
        seqMiB: 1024,
        slowSeqMiB: 256,
        randomFileMiB: 256,
        randomReads: 10_000,
        ttfbFileMiB: 64,
        smallFiles: 10_000,
        smallDirs: 100,
        slowSmallFiles: 500,
        slowSmallDirs: 10,
        treePackages: LARGE_TREE,
        slowTreePackages: MEDIUM_TREE,
        scaleCounts: [1000, 10_000, 100_000],
        memoryCopyMiB: 4096,
        s3Objects: 2000,
        s3LargeMiB: 64,
        drainTimeoutMs: 900_000,
      };
  }
}
