import { randomBytes } from 'node:crypto';
import type { TahoeClient } from '../../src/tahoe/tahoe.client';
import { RiverFsProcess, withTempMountpoint } from './fuse-mount.helper';
import { eventually } from './tahoe-tree.helper';

/** Runs a sync of a mounted gateway now through its admin API and waits for it (`riverfs sync` does the same). */
export async function adminSync(riverfs: RiverFsProcess, direction: 'push' | 'pull' | 'both'): Promise<void> {
  const response = await fetch(`${riverfs.adminUrl}/admin/sync`, {
    method: 'POST',
    headers: { authorization: `Bearer ${riverfs.adminToken()}`, 'content-type': 'application/json' },
    body: JSON.stringify({ wait: true, direction }),
  });
  const job = (await response.json()) as { state?: string };
  if (response.status !== 200 || job.state !== 'succeeded') {
    throw new Error(`sync answered ${response.status}: ${JSON.stringify(job)}`);
  }
}

/** A line no other write makes: which round, which gateway, and random bytes. */
export function uniqueLine(what: string, round: number, gateway: string): string {
  return `${what} ${String(round).padStart(3, '0')} ${gateway} ${randomBytes(6).toString('hex')}\n`;
}

/** Every line of every file in the root dirnode named `name` or one of its conflict copies, and the copies' names. */
export async function linesInTahoe(
  client: TahoeClient,
  rootCap: string,
  name: string,
): Promise<{ lines: Set<string>; copies: string[] }> {
  const listing = await client.listDirectory(rootCap);
  const lines = new Set<string>();
  const copies: string[] = [];
  for (const [entry, node] of listing.children) {
    if (entry !== name && !entry.startsWith(`${name}.conflict-`)) {
      continue;
    }
    if (entry !== name) {
      copies.push(entry);
    }
    if (node.type === 'file' && node.roUri !== undefined) {
      for (const line of (await client.readAll(node.roUri)).toString('utf8').split('\n')) {
        lines.add(`${line}\n`);
      }
    }
  }
  return { lines, copies };
}

/** Waits (bounded) until every written line is in Tahoe, in `name` or a conflict copy; returns the copies found. */
export async function expectAllInTahoe(
  client: TahoeClient,
  rootCap: string,
  name: string,
  written: string[],
): Promise<string[]> {
  let missing: string[] = written;
  try {
    return await eventually(
      `every line of ${name} in Tahoe`,
      async () => {
        const found = await linesInTahoe(client, rootCap, name);
        missing = written.filter((line) => !found.lines.has(line));
        return missing.length === 0 ? found.copies : undefined;
      },
      60_000,
    );
  } catch (error) {
    throw new Error(
      `${missing.length} of ${written.length} lines of ${name} never reached Tahoe: ${missing.join('')}`,
      {
        cause: error,
      },
    );
  }
}

/** One of two gateways mounted side by side (separate data directories and databases, one root cap). */
export interface Gateway {
  name: 'A' | 'B';
  riverfs: RiverFsProcess;
  mount: string;
}

/**
 * Mounts two gateways with the same `riverfs mount` arguments, each on its own mount point, data directory and
 * SQLite database, runs `work` with them and always disposes of both; a failure carries the end of both logs, which
 * say which gateway failed and why.
 */
export async function withTwoGateways(args: string[], work: (gateways: Gateway[]) => Promise<void>): Promise<void> {
  await withTempMountpoint(async (mountA) => {
    await withTempMountpoint(async (mountB) => {
      const a = await RiverFsProcess.start(mountA, { args });
      let b: RiverFsProcess | undefined;
      try {
        b = await RiverFsProcess.start(mountB, { args });
        await work([
          { name: 'A', riverfs: a, mount: mountA },
          { name: 'B', riverfs: b, mount: mountB },
        ]);
      } catch (error) {
        const logs = [`A:\n${a.log.slice(-4000)}`, `B:\n${b?.log.slice(-4000) ?? ''}`].join('\n');
        throw new Error(`${String(error)}\n${logs}`, { cause: error });
      } finally {
        await b?.dispose();
        await a.dispose();
      }
    });
  });
}
