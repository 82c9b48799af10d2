/**
 * The S3 workload: an S3 server written for a plain directory (s3rver) with its data on the target, driven by the
 * AWS SDK client (bench/s3-workload.ts, shared with test/e2e/s3-on-mount.e2e-spec.ts). Objects of mixed sizes, every
 * 100th one large, in two buckets under several prefixes, then one multipart upload, listings with prefixes, and
 * every object read back and compared by SHA-256. For RiverFS the write figure includes the drain to Tahoe.
 */
import fs from 'node:fs';
import path from 'node:path';
import { S3OnDirectory, inParallel, mixedSizes } from './s3-workload';
import type { MountedTarget } from './targets';
import { RUN_NONCE } from './unique-data';
import type { Workload } from './workloads';

const MiB = 1024 * 1024;
const MB = 1e6;
const CONCURRENCY = 8;

/** Unique bytes per object (Tahoe dedupes identical uploads): the run, the target and the key, then filler. */
function objectBody(target: string, key: string, size: number): Buffer {
  const body = Buffer.alloc(size, 0x61);
  Buffer.from(`${RUN_NONCE} ${target} ${key}\n`).copy(body, 0);
  return body;
}

async function seconds(work: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export const s3Workload: Workload = {
  name: 's3 server on the mount',
  once: true,
  applies: (target) => target.kind === 'mounted' && !target.slow,
  async run(target, context, figures) {
    const mounted = target as MountedTarget;
    const { s3Objects, s3LargeMiB } = context.settings;
    const dir = path.join(mounted.dir, 's3');
    await fs.promises.mkdir(dir);
    const s3 = await S3OnDirectory.start(dir);
    try {
      await s3.createBucket('bench-a');
      await s3.createBucket('bench-b');
      const sizes = mixedSizes(s3Objects, s3LargeMiB * MiB, 100);
      const objects = sizes.map((size, index) => ({
        bucket: index % 2 === 0 ? 'bench-a' : 'bench-b',
        key: `${['2026/12/', '2026/11/', 'raw/'][index % 3]}o${String(index).padStart(5, '0')}`,
        size,
      }));
      const totalMiB = sizes.reduce((sum, size) => sum + size, 0) / MiB + s3LargeMiB;
      context.progress(`${target.name}: s3: ${s3Objects} objects and a multipart upload, ${totalMiB.toFixed(0)} MiB`);
      const write = await seconds(async () => {
        await inParallel(objects, CONCURRENCY, ({ bucket, key, size }) =>
          s3.put(bucket, key, objectBody(target.name, key, size)),
        );
        await s3.putMultipart('bench-a', 'multipart', objectBody(target.name, 'multipart', s3LargeMiB * MiB), 5 * MiB);
        await mounted.admin?.waitDrained(context.settings.drainTimeoutMs);
      });
      figures['s3.putObjectsPerS'] = (objects.length + 1) / write;
      figures['s3.putMBps'] = s3.bytesWritten / MB / write;
      const list = await seconds(async () => {
        for (const prefix of ['2026/', '2026/12/', 'raw/', '']) {
          for (const bucket of ['bench-a', 'bench-b']) {
            const keys = await s3.list(bucket, prefix);
            if (keys.join('\n') !== s3.expectedKeys(bucket, prefix).join('\n')) {
              throw new Error(`s3: listing ${bucket}/${prefix} differs from what was written`);
            }
          }
        }
      });
      figures['s3.listMs'] = list * 1000;
      const read = await seconds(async () => {
        const wrong = await s3.verifyAll(CONCURRENCY);
        if (wrong.length > 0) {
          throw new Error(`s3: ${wrong.length} objects read back wrong, e.g. ${wrong[0]}`);
        }
      });
      figures['s3.getObjectsPerS'] = (objects.length + 1) / read;
      figures['s3.getMBps'] = s3.bytesRead / MB / read;
    } finally {
      await s3.close();
    }
    await fs.promises.rm(dir, { recursive: true, force: true });
    await mounted.admin?.waitDrained(context.settings.drainTimeoutMs);
  },
};
