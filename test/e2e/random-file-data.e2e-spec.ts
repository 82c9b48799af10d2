import { execFile } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { request as httpRequest } from 'undici';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { freshRootDircap, testTahoeUrl } from '../support/tahoe.helper';

const WORKLOAD = path.join(__dirname, '..', 'support', 'random-file-workload.py');
const MiB = 1024 * 1024;

/**
 * RIVERFS_RANDOM_SEED replays a run (every run prints its seed); RIVERFS_RANDOM_LONG=1 runs many more steps, over
 * several seeds, than the suite's short version.
 */
const LONG = process.env.RIVERFS_RANDOM_LONG === '1';
const FIXED_SEED = process.env.RIVERFS_RANDOM_SEED;
const STEPS = LONG ? 400 : 60;
const RUNS = LONG && FIXED_SEED === undefined ? 4 : 1;

interface WorkloadLine {
  seed?: number;
  done?: number;
  size?: number;
  sha256?: string;
  mismatch?: unknown;
}

function runWorkload(args: string[]): Promise<{ code: number; lines: WorkloadLine[]; stderr: string }> {
  return new Promise((resolve) => {
    execFile('python3', [WORKLOAD, ...args], { maxBuffer: 16 * MiB, timeout: 15 * 60_000 }, (error, stdout, stderr) => {
      const lines = stdout
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as WorkloadLine);
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, lines, stderr });
    });
  });
}

async function tahoeFile(rootCap: string, name: string): Promise<Buffer> {
  const response = await httpRequest(`${testTahoeUrl()}/uri/${encodeURIComponent(rootCap)}/${name}`);
  const body = Buffer.from(await response.body.arrayBuffer());
  if (response.statusCode !== 200) {
    throw new Error(`GET ${name} from Tahoe: HTTP ${response.statusCode}: ${body.toString().slice(0, 300)}`);
  }
  return body;
}

describe('random file data against a model, while uploads and evictions run', () => {
  for (let run = 0; run < RUNS; run++) {
    const seed = FIXED_SEED !== undefined ? Number(FIXED_SEED) : randomInt(1, 2 ** 31);
    it(`should read back every step as the model has it, and Tahoe should end equal to it (seed ${seed})`, async () => {
      process.stderr.write(`[random-file-data] seed ${seed} (replay: RIVERFS_RANDOM_SEED=${seed})\n`);
      await withTempMountpoint(async (mountpoint) => {
        const rootCap = await freshRootDircap();
        // A short sync delay: every close starts an upload while the next steps run. A cache (the smallest allowed) smaller than two
        // copies of the file: blocks fetched back are evicted again under pressure, besides the explicit evictions.
        const riverfs = await RiverFsProcess.start(mountpoint, {
          args: ['--root-cap', rootCap, '--sync-delay', '0', '--cache-size', '16MiB'],
        });
        const modelFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-model-')), 'model');
        try {
          const tokenFile = path.join(riverfs.dataDir, 'admin-token');
          const result = await runWorkload([
            path.join(mountpoint, 'checked.bin'),
            String(seed),
            String(STEPS),
            '--admin',
            riverfs.adminUrl,
            '--token-file',
            tokenFile,
            '--evict-ratio',
            '0.2',
            // Now and then the upload that follows a step ends before the next one (a truncate's upload then
            // clears its hole floor): dropped blocks must stay dropped across that too.
            '--settle-ratio',
            '0.3',
            '--mount-path',
            '/checked.bin',
            '--model-out',
            modelFile,
          ]);
          const mismatch = result.lines.find((line) => line.mismatch !== undefined);
          expect({ seed, mismatch: mismatch?.mismatch, stderr: result.stderr.slice(-2000) }).toEqual({
            seed,
            mismatch: undefined,
            stderr: '',
          });
          expect(result.code).toBe(0);
          const done = result.lines.find((line) => line.done !== undefined);
          expect(done?.done).toBe(STEPS);

          const flushed = await request(riverfs.adminUrl)
            .post('/admin/cache/flush')
            .set({ Authorization: `Bearer ${riverfs.adminToken()}` })
            .send({ wait: true });
          expect(flushed.status).toBe(200);
          expect((flushed.body as { state: string }).state).toBe('succeeded');

          const model = fs.readFileSync(modelFile);
          const inTahoe = await tahoeFile(rootCap, 'checked.bin');
          expect(inTahoe.length).toBe(model.length);
          expect(createHash('sha256').update(inTahoe).digest('hex')).toBe(done?.sha256);
        } finally {
          fs.rmSync(path.dirname(modelFile), { recursive: true, force: true });
          await riverfs.dispose();
        }
      });
    }, 600_000);
  }
});
