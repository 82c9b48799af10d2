import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { S3OnDirectory, inParallel, mixedSizes } from '../../bench/s3-workload';

/**
 * An S3 server written for a plain directory (s3rver) with its data on the mount, driven by the AWS SDK: the kind
 * of application the seed names MinIO for (many small objects, listings, multipart uploads, overwrites, deletes).
 * Short sizes here (60 objects, the largest 2 MiB, multipart uploads
 * in 1 MiB parts, which s3rver allows and AWS would not); the benchmark's `s3` workload runs
 * the 2,000 objects up to 64 MiB. RiverFS is restarted in the middle and after, then a second gateway
 * (its own SQLite database, the same root cap) reads every object back from the grid.
 */
const OBJECTS = 60;
const MiB = 1024 * 1024;

function content(seed: string, size: number): Buffer {
  // Distinct, incompressible bytes per object, reproducible from the seed.
  const out = Buffer.alloc(size);
  let block = crypto.createHash('sha256').update(seed).digest();
  for (let offset = 0; offset < size; offset += block.length) {
    block.copy(out, offset);
    block = crypto.createHash('sha256').update(block).digest();
  }
  return out;
}

describe('an S3 server (s3rver) with its data directory on the mount', () => {
  it('should keep every object across restarts and show them all to a second gateway', async () => {
    await withTempMountpoint(async (mountpoint) => {
      const gatewayA = await RiverFsProcess.start(mountpoint);
      let gatewayB: RiverFsProcess | undefined;
      let s3: S3OnDirectory | undefined;
      try {
        const s3Dir = path.join(mountpoint, 's3');
        fs.mkdirSync(s3Dir);
        const first = await S3OnDirectory.start(s3Dir);
        s3 = first;
        await s3.createBucket('photos');
        await s3.createBucket('logs');

        // Mixed sizes under several prefixes in two buckets.
        const sizes = mixedSizes(OBJECTS, 2 * MiB, 30);
        await inParallel(
          sizes.map((size, index) => ({ size, index })),
          6,
          async ({ size, index }) => {
            const bucket = index % 3 === 0 ? 'logs' : 'photos';
            const key = `${['2026/12/', '2026/11/', 'raw/'][index % 3]}object-${String(index).padStart(4, '0')}.bin`;
            await first.put(bucket, key, content(`first ${index}`, size));
          },
        );
        await s3.putMultipart('photos', 'big/multipart.bin', content('multipart', 3 * MiB + 5), MiB);
        // Overwrite some (other sizes), delete others.
        for (const index of [1, 2, 4, 5]) {
          await s3.put(
            'photos',
            `${['2026/12/', '2026/11/', 'raw/'][index % 3]}object-${String(index).padStart(4, '0')}.bin`,
            content(`second ${index}`, 777 * index),
          );
        }
        for (const key of s3.expectedKeys('photos', 'raw/').slice(0, 5)) {
          await s3.delete('photos', key);
        }
        expect(await s3.list('photos', 'raw/')).toEqual(s3.expectedKeys('photos', 'raw/'));
        expect(await s3.list('photos', '2026/')).toEqual(s3.expectedKeys('photos', '2026/'));
        expect(await s3.list('logs')).toEqual(s3.expectedKeys('logs'));
        expect(await s3.verifyAll()).toEqual([]);

        // RiverFS restarted in the middle: the S3 server stops with it, then carries on on the same directory.
        const model = s3.model;
        await s3.close();
        s3 = undefined;
        expect(await gatewayA.stop()).toBe(0);
        await gatewayA.start();
        s3 = await S3OnDirectory.startWithModel(s3Dir, model);
        expect(await s3.verifyAll()).toEqual([]);
        await s3.put('logs', 'after-restart/one.txt', content('after restart', 12_345));
        await s3.putMultipart('logs', 'after-restart/multipart.bin', content('multipart 2', 2 * MiB + 3), MiB);
        await s3.delete('photos', 'big/multipart.bin');
        expect(await s3.list('logs', 'after-restart/')).toEqual([
          'after-restart/multipart.bin',
          'after-restart/one.txt',
        ]);
        expect(await s3.list('photos', 'big/')).toEqual([]);

        // And after: everything read back again.
        const finalModel = s3.model;
        await s3.close();
        s3 = undefined;
        expect(await gatewayA.stop()).toBe(0);
        await gatewayA.start();
        s3 = await S3OnDirectory.startWithModel(s3Dir, finalModel);
        expect(await s3.verifyAll()).toEqual([]);
        await s3.close();
        s3 = undefined;
        expect(await gatewayA.stop()).toBe(0);

        // A second gateway with a database of its own on the same root cap sees the same objects from the grid.
        await withTempMountpoint(async (mountpointB) => {
          gatewayB = await RiverFsProcess.start(mountpointB, {
            args: ['--root-cap-file', path.join(gatewayA.dataDir, 'root-cap')],
          });
          s3 = await S3OnDirectory.startWithModel(path.join(mountpointB, 's3'), finalModel);
          for (const bucket of ['photos', 'logs']) {
            expect(await s3.list(bucket)).toEqual(s3.expectedKeys(bucket));
          }
          expect(await s3.verifyAll()).toEqual([]);
          await s3.close();
          s3 = undefined;
          await gatewayB.dispose();
          gatewayB = undefined;
        });
      } finally {
        await s3?.close();
        await gatewayB?.dispose();
        await gatewayA.dispose();
      }
    });
  }, 240_000);
});
