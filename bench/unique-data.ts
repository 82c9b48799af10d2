/**
 * Content no other target of the run (nor an earlier run) has written. Tahoe's immutable uploads are convergent: the
 * same bytes through the same client node get the same storage index, and the uploader skips the shares the servers
 * already hold. With zeros (and 10,000 identical small files, and the same tree) every Tahoe-bound target after the
 * first measured a deduplicated upload, not an upload: tahoe-api's 256 MiB "upload" ran at 143 MB/s.
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Unique to this bench process: part of every tag, so no two runs share content either. */
export const RUN_NONCE = randomBytes(8).toString('hex');

const MiB = 1 << 20;

/** `bytes` of fresh random data, a MiB at a time (for the web-API target's uploads). */
export async function* randomChunks(bytes: number): AsyncIterable<Uint8Array> {
  for (let sent = 0; sent < bytes; sent += MiB) {
    yield randomFillSync(Buffer.allocUnsafe(Math.min(MiB, bytes - sent)));
  }
  await Promise.resolve();
}

/** Writes `mib` MiB of fresh random data to `file` (the source of a timed `dd`, made before the timing starts). */
export async function writeRandomFile(file: string, mib: number): Promise<void> {
  const handle = await fs.promises.open(file, 'w');
  try {
    const chunk = Buffer.allocUnsafe(MiB);
    for (let written = 0; written < mib; written++) {
      randomFillSync(chunk);
      await handle.write(chunk, 0, MiB);
    }
  } finally {
    await handle.close();
  }
}

/** A small file's content: `size` bytes naming the run, the target and the file, so that every file is its own. */
export function smallFilePayload(size: number, tag: string, index: number): Buffer {
  const payload = Buffer.alloc(size, 0x61);
  payload.write(`${RUN_NONCE}:${tag}:${index}:`, 0, 'latin1');
  return payload;
}

/**
 * A copy of an extracted tree whose every regular file ends with a line naming the run and `tag`, and its tarball:
 * the same names, sizes within a few bytes, and content no other target uploaded.
 */
export async function uniqueTreeCopy(
  extracted: string,
  into: string,
  tag: string,
): Promise<{ tarball: string; extracted: string }> {
  const copy = path.join(into, `tree-${tag}-extracted`);
  await fs.promises.cp(extracted, copy, { recursive: true, verbatimSymlinks: true });
  const suffix = `\n${RUN_NONCE}:${tag}\n`;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await fs.promises.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(full);
      } else if (entry.isFile()) {
        await fs.promises.appendFile(full, suffix);
      }
    }
  };
  await walk(copy);
  const tarball = path.join(into, `tree-${tag}.tar`);
  const members = await fs.promises.readdir(copy);
  await run('tar', ['-cf', tarball, '-C', copy, ...members]);
  return { tarball, extracted: copy };
}
