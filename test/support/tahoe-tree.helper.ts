import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pollUntil } from '../../src/grid/process.util';
import type { TahoeClient } from '../../src/tahoe/tahoe.client';
import type { TahoeNode } from '../../src/tahoe/tahoe.types';
import { FreshStatter } from './fresh-stat.helper';

/** One node of the Tahoe tree below a root dircap, found by walking it with listDirectory. */
export interface TahoeTreeNode {
  /** '/'-separated path below the root. */
  path: string;
  node: TahoeNode;
  cap: string;
  /** The `riverfs` edge metadata, when the link carries one. */
  riverfs: Record<string, unknown> | undefined;
}

function capOf(node: TahoeNode): string {
  return node.rwUri ?? node.roUri ?? '';
}

/** Every node under `rootCap`, keyed by path (directories walked with one listDirectory each). */
export async function tahoeTree(client: TahoeClient, rootCap: string): Promise<Map<string, TahoeTreeNode>> {
  const result = new Map<string, TahoeTreeNode>();
  const pending: { cap: string; prefix: string }[] = [{ cap: rootCap, prefix: '' }];
  while (pending.length > 0) {
    const { cap, prefix } = pending.pop()!;
    const listing = await client.listDirectory(cap);
    for (const [name, node] of listing.children) {
      const childPath = prefix === '' ? name : `${prefix}/${name}`;
      const riverfs = node.metadata?.custom.riverfs as Record<string, unknown> | undefined;
      result.set(childPath, { path: childPath, node, cap: capOf(node), riverfs });
      if (node.type === 'directory') {
        pending.push({ cap: capOf(node), prefix: childPath });
      }
    }
  }
  return result;
}

const TYPE_OF_MODE: Record<number, string> = {
  0o100000: 'file',
  0o040000: 'dir',
  0o120000: 'symlink',
  0o010000: 'fifo',
  0o140000: 'socket',
  0o020000: 'char',
  0o060000: 'block',
};

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface TreeComparison {
  /**
   * Entries without `riverfs` metadata (written by other Tahoe clients and only pulled by RiverFS, which leaves them
   * as they are) are compared by type and content alone, instead of counting as a difference.
   */
  foreignEntries?: boolean;
}

/**
 * Compares the Tahoe tree under `rootCap` with the mount: the same paths, and for each the type, mode, owner, mtime,
 * a file's bytes and a symlink's target as the `riverfs` edge metadata and the content say. Returns the differences
 * (none: equal). File contents are read from Tahoe once per cap (`contents` caches them between calls).
 */
export async function diffTahoeWithMount(
  client: TahoeClient,
  rootCap: string,
  mountpoint: string,
  contents = new Map<string, string>(),
  options: TreeComparison = {},
): Promise<string[]> {
  const differences: string[] = [];
  const tree = await tahoeTree(client, rootCap);
  const statter = new FreshStatter();
  try {
    const local = new Map<string, string>();
    const walk = (dir: string, prefix: string): void => {
      for (const name of fs.readdirSync(dir)) {
        const relative = prefix === '' ? name : `${prefix}/${name}`;
        const full = path.join(dir, name);
        const stat = fs.lstatSync(full);
        local.set(relative, full);
        if (stat.isDirectory()) {
          walk(full, relative);
        }
      }
    };
    walk(mountpoint, '');
    for (const relative of local.keys()) {
      if (!tree.has(relative)) {
        differences.push(`${relative}: missing in Tahoe`);
      }
    }
    for (const relative of tree.keys()) {
      if (!local.has(relative)) {
        differences.push(`${relative}: in Tahoe but not in the mount`);
      }
    }
    for (const [relative, full] of local) {
      const remote = tree.get(relative);
      if (remote === undefined) {
        continue;
      }
      const stat = await statter.mustLstat(full);
      const type = TYPE_OF_MODE[stat.mode & 0o170000];
      const meta = remote.riverfs ?? (options.foreignEntries ? {} : undefined);
      if (meta === undefined) {
        differences.push(`${relative}: no riverfs metadata`);
        continue;
      }
      const expected: Record<string, unknown> =
        remote.riverfs === undefined
          ? {}
          : {
              type,
              mode: stat.mode & 0o7777,
              uid: stat.uid,
              gid: stat.gid,
              mtime_ns: stat.mtimeNs.toString(),
            };
      for (const [key, value] of Object.entries(expected)) {
        if (meta[key] !== value) {
          differences.push(
            `${relative}: ${key} is ${JSON.stringify(meta[key])} in Tahoe, ${JSON.stringify(value)} in the mount`,
          );
        }
      }
      if ((type === 'dir') !== (remote.node.type === 'directory')) {
        differences.push(`${relative}: a ${remote.node.type} node in Tahoe for a ${type}`);
      }
      if (type === 'symlink' && remote.riverfs !== undefined && meta.target !== fs.readlinkSync(full)) {
        differences.push(`${relative}: symlink target ${JSON.stringify(meta.target)} in Tahoe`);
      }
      if (type === 'file') {
        const size = remote.node.type === 'file' ? remote.node.size : undefined;
        if (size !== stat.size) {
          differences.push(`${relative}: ${String(size)} bytes in Tahoe, ${stat.size} in the mount`);
          continue;
        }
        let remoteHash = contents.get(remote.cap);
        if (remoteHash === undefined) {
          remoteHash = sha256(await client.readAll(remote.cap));
          contents.set(remote.cap, remoteHash);
        }
        if (remoteHash !== sha256(fs.readFileSync(full))) {
          differences.push(`${relative}: other bytes in Tahoe`);
        }
      }
    }
  } finally {
    await statter.close();
  }
  return differences;
}

/** Polls until the Tahoe tree equals the mount; fails after `timeoutMs` listing what still differs. */
export async function waitUntilTahoeMatchesMount(
  client: TahoeClient,
  rootCap: string,
  mountpoint: string,
  timeoutMs = 120_000,
  options: TreeComparison = {},
): Promise<void> {
  const contents = new Map<string, string>();
  let last: string[] = [];
  await pollUntil(
    async () => {
      last = await diffTahoeWithMount(client, rootCap, mountpoint, contents, options);
      return last.length === 0 ? true : undefined;
    },
    {
      timeoutMs,
      intervalMs: 500,
      describeTimeout: () =>
        `the Tahoe tree still differs from the mount after ${timeoutMs / 1000} s:\n${last.slice(0, 30).join('\n')}`,
    },
  );
}

/** Polls until `probe` returns a value (Tahoe caught up); fails after `timeoutMs` with `what`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  let lastError: unknown;
  return pollUntil(
    async () => {
      try {
        return await probe();
      } catch (error) {
        lastError = error;
        return undefined;
      }
    },
    {
      timeoutMs,
      intervalMs: 250,
      describeTimeout: () =>
        `${what}: not within ${timeoutMs / 1000} s (${lastError instanceof Error ? lastError.message : 'no value yet'})`,
    },
  );
}
