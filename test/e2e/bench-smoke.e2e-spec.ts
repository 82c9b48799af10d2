import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');

interface BenchJson {
  results: Record<string, Record<string, { median: number; min: number; max: number }>>;
  ratios: Record<string, Record<string, number>>;
  machine: { cpus: number; tahoe?: string; node: string };
  errors: Record<string, Record<string, string>>;
}

const EVERYWHERE = [
  'seqWrite.closeMBps',
  'seqRead.warmMBps',
  'seqRead.coldMBps',
  'random4k.readsPerS',
  'ttfb.coldMs',
  'small.createPerS',
  'small.statPerS',
  'small.readPerS',
  'small.unlinkPerS',
  'tree.extractFilesPerS',
  'tree.lsLREntriesPerS',
];
const IN_TAHOE = ['seqWrite.inTahoeMBps', 'small.inTahoePerS', 'tree.inTahoeFilesPerS'];
const ON_A_MOUNT = ['tree.findEntriesPerS', 'tree.duEntriesPerS'];
const NOT_SLOW = ['tree.gitCommitFilesPerS', 'scale.create.20.usPerEntry', 'scale.list.80.usPerEntry'];

const EXPECTED: Record<string, string[]> = {
  local: [...EVERYWHERE, ...ON_A_MOUNT, ...NOT_SLOW],
  passthrough: [...EVERYWHERE, ...ON_A_MOUNT, ...NOT_SLOW, 'memory.peakRssMiB'],
  // Built by the bench from bench/passthrough-c/passthrough_ll.c (a second or two): CI compiles and runs it.
  'passthrough-c': [...EVERYWHERE, ...ON_A_MOUNT, ...NOT_SLOW, 'memory.peakRssMiB'],
  riverfs: [...EVERYWHERE, ...IN_TAHOE, ...ON_A_MOUNT, ...NOT_SLOW, 'scale.drain.80.usPerEntry', 'memory.peakRssMiB'],
  'riverfs-writethrough': ['seqWrite.closeMBps', 'seqWrite.inTahoeMBps', 'small.createPerS', 'small.inTahoePerS'],
  'tahoe-api': [...EVERYWHERE, ...IN_TAHOE],
  sshfs: [...EVERYWHERE, ...IN_TAHOE, ...ON_A_MOUNT],
};

/** Mounts left under this run's work directory (other engineers' benches may be running beside it). */
async function mountsUnder(dir: string): Promise<string[]> {
  const mounts = await fs.promises.readFile('/proc/mounts', 'utf8');
  return mounts
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((mountpoint) => mountpoint.startsWith(dir + path.sep));
}

describe('npm run bench (smoke, tiny sizes)', () => {
  it('should measure every workload on every target and leave no mount behind', async () => {
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-bench-smoke-'));
    let workDir: string | undefined;
    try {
      await run(
        process.execPath,
        [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'bench/tsconfig.json'],
        {
          cwd: ROOT,
        },
      );
      const bench = await run(
        process.execPath,
        [
          path.join(ROOT, 'dist', 'bench', 'bench', 'bench.js'),
          '--tiny',
          // Not the peers: they install from PyPI (about 20 s, and only with network); passthrough-highlevel is only
          // a comparison for the full run. The smoke run stays what it was.
          '--skip=passthrough-highlevel,juicefs,rclone',
          '--out',
          outDir,
        ],
        {
          cwd: ROOT,
          maxBuffer: 16 << 20,
          // About 110 s on a quiet machine; beside the other suites on two cores it has taken over 230 s.
          timeout: 420_000,
        },
      ).catch((error: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(`bench failed: ${error.message}\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
      });
      workDir = /work directory (\S+)/.exec(bench.stderr)?.[1];
      expect(workDir).toBeDefined();
      expect(bench.stdout).toContain('riverfs/passthrough');

      const file = fs.readdirSync(outDir).find((name) => name.endsWith('.json'));
      expect(file).toBeDefined();
      const json = JSON.parse(fs.readFileSync(path.join(outDir, file!), 'utf8')) as BenchJson;
      expect(json.errors).toEqual({});
      expect(json.machine.cpus).toBeGreaterThan(0);
      expect(json.machine.tahoe).toMatch(/1\.20\.0/);
      for (const [target, metrics] of Object.entries(EXPECTED)) {
        for (const metric of metrics) {
          const figure = json.results[target]?.[metric];
          expect({ target, metric, median: figure?.median }).toEqual({ target, metric, median: expect.any(Number) });
          expect(figure.median).toBeGreaterThan(0);
          expect(figure.min).toBeLessThanOrEqual(figure.max);
        }
      }
      for (const reference of ['local', 'passthrough', 'tahoe-api', 'sshfs']) {
        expect(json.ratios[`riverfs/${reference}`]?.['small.createPerS']).toBeGreaterThan(0);
      }
      expect(json.ratios['passthrough/passthrough-c']?.['small.createPerS']).toBeGreaterThan(0);
    } finally {
      fs.rmSync(outDir, { recursive: true, force: true });
      if (workDir !== undefined) {
        expect(await mountsUnder(workDir)).toEqual([]);
        expect(fs.existsSync(workDir)).toBe(false);
      }
    }
  }, 480_000);
});
