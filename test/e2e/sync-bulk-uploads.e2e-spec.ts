import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RiverFsProcess, unmount } from '../support/fuse-mount.helper';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { freshRootDircap } from '../support/tahoe.helper';
import { eventually } from '../support/tahoe-tree.helper';

const j = path.join;
const MiB = 1024 * 1024;

/** The sum of a Prometheus counter's samples whose labels include every one of `labels` (e.g. `op="upload"`). */
function counter(metrics: string, name: string, ...labels: string[]): number {
  let total = 0;
  for (const line of metrics.split('\n')) {
    if (line.startsWith(`${name}{`) && labels.every((label) => line.includes(label))) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

/** Writes every file through its own descriptor, then closes them all together: their uploads become due at once. */
function writeThenCloseTogether(files: { file: string; data: Buffer }[]): void {
  const descriptors = files.map(({ file, data }) => {
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, data);
    return fd;
  });
  for (const fd of descriptors) {
    fs.closeSync(fd);
  }
}

describe('bulk uploads on the real grid', () => {
  const client = testTahoeClient();
  const mountpoint = fs.mkdtempSync(j(os.tmpdir(), 'riverfs-mnt-'));
  let rootCap: string;
  let riverfs: RiverFsProcess | undefined;

  beforeAll(async () => {
    rootCap = await freshRootDircap();
    riverfs = await RiverFsProcess.start(mountpoint, { args: ['--root-cap', rootCap] });
  });

  afterAll(async () => {
    try {
      await riverfs?.dispose();
    } finally {
      await unmount(mountpoint);
      fs.rmSync(mountpoint, { recursive: true, force: true });
      await client.close();
    }
  });

  async function metrics(): Promise<string> {
    const response = await fetch(`${riverfs!.adminUrl}/metrics`, {
      headers: { authorization: `Bearer ${riverfs!.adminToken()}` },
    });
    expect(response.status).toBe(200);
    return response.text();
  }

  /** Resolves once the sync queue is empty (everything dirty reached Tahoe). */
  async function drained(): Promise<void> {
    await eventually(
      'the sync queue empty',
      async () => {
        const response = await fetch(`${riverfs!.adminUrl}/admin/sync/queue`, {
          headers: { authorization: `Bearer ${riverfs!.adminToken()}` },
        });
        const page = (await response.json()) as { total: number };
        return page.total === 0 ? true : undefined;
      },
      360_000,
    );
  }

  /** The children of a directory directly under the root, by name, once it holds `count` of them. */
  async function listedWhenComplete(dir: string, count: number): Promise<Map<string, string>> {
    return eventually(
      `${count} entries of ${dir} in Tahoe`,
      async () => {
        const node = (await client.listDirectory(rootCap)).children.get(dir);
        if (node?.type !== 'directory') {
          return undefined;
        }
        const children = (await client.listDirectory(node.rwUri ?? node.roUri!)).children;
        if (children.size < count) {
          return undefined;
        }
        return new Map([...children].map(([name, child]) => [name, child.rwUri ?? child.roUri!]));
      },
      360_000,
    );
  }

  it('should upload identical files closed at once with one PUT per content and no unhappy upload', async () => {
    const before = await metrics();
    fs.mkdirSync(j(mountpoint, 'twins'));
    // Unique to this run (Tahoe's convergence would otherwise find an earlier run's shares): several blocks, so the
    // full digests are compared, and one block's worth below the CHK threshold's other side.
    const large = randomBytes(3 * MiB + 5);
    const small = randomBytes(1000);
    const copies = 6;
    writeThenCloseTogether([
      ...Array.from({ length: copies }, (_, index) => ({
        file: j(mountpoint, 'twins', `large-${index}`),
        data: large,
      })),
      ...Array.from({ length: copies }, (_, index) => ({
        file: j(mountpoint, 'twins', `small-${index}`),
        data: small,
      })),
    ]);

    const caps = await listedWhenComplete('twins', 2 * copies);
    await drained();

    const largeCaps = new Set([...caps].filter(([name]) => name.startsWith('large-')).map(([, cap]) => cap));
    const smallCaps = new Set([...caps].filter(([name]) => name.startsWith('small-')).map(([, cap]) => cap));
    expect(largeCaps.size).toBe(1);
    expect(smallCaps.size).toBe(1);
    expect((await client.readAll([...largeCaps][0])).equals(large)).toBe(true);
    expect((await client.readAll([...smallCaps][0])).equals(small)).toBe(true);
    const after = await metrics();
    const puts = (text: string): number => counter(text, 'riverfs_tahoe_requests_total', 'op="upload"');
    // One PUT per content when all start together; an upload postponed past its twin's end (a close still being
    // persisted under load) makes a second, sequential one, which Tahoe's convergence settles without a collision.
    // Before SameContentUploads: 20 (every collision retried).
    expect(puts(after) - puts(before)).toBeLessThanOrEqual(4);
    const failures = (text: string): number => counter(text, 'riverfs_sync_failures_total', 'kind="upload"');
    expect(failures(after) - failures(before)).toBe(0);
    expect(riverfs!.log).not.toMatch(/UNHAPPY/);
  });

  it('should link 1,000 new files of one directory, each with one PUT, small ones as LIT caps without one', async () => {
    const before = await metrics();
    const dir = j(mountpoint, 'bulk');
    fs.mkdirSync(dir);
    const run = randomBytes(8).toString('hex');
    const files = 1000;
    const lit = 20;
    for (let index = 0; index < files; index += 1) {
      // Above 55 bytes (CHK), unique per run and file.
      fs.writeFileSync(j(dir, `f${index}`), `${run} file ${index} `.padEnd(100, '.'));
    }
    for (let index = 0; index < lit; index += 1) {
      fs.writeFileSync(j(dir, `lit${index}`), `${index}`);
    }

    const caps = await listedWhenComplete('bulk', files + lit);
    await drained();

    expect([...caps].filter(([name]) => name.startsWith('lit')).every(([, cap]) => cap.startsWith('URI:LIT:'))).toBe(
      true,
    );
    expect((await client.readAll(caps.get('f999')!)).toString()).toBe(`${run} file 999 `.padEnd(100, '.'));
    const after = await metrics();
    const count = (text: string, op: string): number => counter(text, 'riverfs_tahoe_requests_total', `op="${op}"`);
    expect(count(after, 'upload') - count(before, 'upload')).toBe(files);
    // Publishes are logged, not bounded here: PublishHolds bounds them when uploads lag behind the writes (45 before,
    // 13 after, in a drain of 140 s), but not when the writes themselves are slow (71 in a run on a machine at load
    // 16, where each publish found the last one's files uploaded). See the report of issue 15.
    process.stdout.write(
      `publishes for ${files} new files: ${count(after, 'setChildren') - count(before, 'setChildren')}\n`,
    );
  }, 400_000);
});
