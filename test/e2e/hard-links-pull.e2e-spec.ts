import fs from 'node:fs';
import path from 'node:path';
import { runCli } from '../support/cli.helper';
import { FreshStatter } from '../support/fresh-stat.helper';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { freshRootDircap, testTahoeUrl } from '../support/tahoe.helper';
import { eventually, tahoeTree, waitUntilTahoeMatchesMount } from '../support/tahoe-tree.helper';

const j = path.join;

/** Every name of one file, as paths below the mount. */
type LinkGroup = string[];

/**
 * Hard links spread over a tree, written through a mount: in the same directory, in sibling directories, in nested
 * ones, a file with four names, and a name renamed after it reached Tahoe. Returns the groups of names (the last
 * group is an unlinked file, for contrast).
 */
async function writeLinkedTree(mountpoint: string, afterPublish: () => Promise<void>): Promise<LinkGroup[]> {
  const at = (name: string): string => j(mountpoint, name);
  for (const dir of ['d1/n1/n2', 'd2', 'd3/sub', 'far/away/deep']) {
    fs.mkdirSync(at(dir), { recursive: true });
  }
  fs.writeFileSync(at('d1/f'), 'four names\n');
  fs.linkSync(at('d1/f'), at('d1/f-same-dir'));
  fs.linkSync(at('d1/f'), at('d2/f-sibling'));
  fs.linkSync(at('d1/f'), at('d1/n1/n2/f-nested'));
  fs.writeFileSync(at('d2/g'), 'two names, one renamed after publish\n');
  fs.linkSync(at('d2/g'), at('d3/sub/g-before'));
  fs.writeFileSync(at('far/away/deep/h'), 'three names, the far one first in the walk\n');
  fs.linkSync(at('far/away/deep/h'), at('h-top'));
  fs.linkSync(at('far/away/deep/h'), at('d3/h-mid'));
  fs.writeFileSync(at('d2/single'), 'one name\n');
  await afterPublish();
  fs.renameSync(at('d3/sub/g-before'), at('d3/sub/g-renamed'));
  return [
    ['d1/f', 'd1/f-same-dir', 'd2/f-sibling', 'd1/n1/n2/f-nested'],
    ['d3/sub/g-renamed', 'd2/g'],
    ['far/away/deep/h', 'd3/h-mid', 'h-top'],
    ['d2/single'],
  ];
}

/** Each group's names as the mount answers them (statx past the kernel's cache): one inode, the right count. */
async function expectJoined(mountpoint: string, groups: LinkGroup[]): Promise<void> {
  const fresh = new FreshStatter();
  try {
    const seen = await Promise.all(
      groups.map(async (group) => {
        const stats = [];
        for (const name of group) {
          stats.push(await fresh.mustLstat(j(mountpoint, name)));
        }
        return { inos: new Set(stats.map((stat) => stat.ino)).size, nlinks: stats.map((stat) => stat.nlink) };
      }),
    );
    expect(seen).toEqual(groups.map((group) => ({ inos: 1, nlinks: group.map(() => group.length) })));
  } finally {
    await fresh.close();
  }
}

/** A write through the first name is read through every other one. */
async function expectSharedData(mountpoint: string, groups: LinkGroup[], text: string): Promise<void> {
  const fresh = new FreshStatter();
  try {
    for (const group of groups.filter((names) => names.length > 1)) {
      fs.appendFileSync(j(mountpoint, group[0]), text);
      const expected = fs.readFileSync(j(mountpoint, group[0]), 'utf8');
      expect(expected.endsWith(text)).toBe(true);
      for (const name of group.slice(1)) {
        // The kernel keeps attributes per name: ask the mount itself, which refreshes them for this name.
        expect((await fresh.mustLstat(j(mountpoint, name))).size).toBe(Buffer.byteLength(expected));
        expect(fs.readFileSync(j(mountpoint, name), 'utf8')).toBe(expected);
      }
    }
  } finally {
    await fresh.close();
  }
}

/** Walks the tree through the mount, far and deep directories first: the lazy pull lists them in this order. */
function walkFarFirst(mountpoint: string): void {
  for (const dir of ['far/away/deep', 'd3/sub', 'd3', 'd1/n1/n2', 'd2', 'd1', '']) {
    for (const name of fs.readdirSync(j(mountpoint, dir))) {
      fs.lstatSync(j(mountpoint, dir, name));
    }
  }
}

describe('hard links through Tahoe', () => {
  const client = testTahoeClient();

  afterAll(async () => {
    await client.close();
  });

  it('should come back as one inode per file with its link count, pulled by a fresh gateway and rebuilt by fsck', async () => {
    const rootCap = await freshRootDircap();
    await withTempMountpoint(async (mountpoint) => {
      const writer = await RiverFsProcess.start(mountpoint, { args: ['--root-cap', rootCap] });
      try {
        const groups = await writeLinkedTree(mountpoint, () => waitUntilTahoeMatchesMount(client, rootCap, mountpoint));
        await waitUntilTahoeMatchesMount(client, rootCap, mountpoint);
        await expectJoined(mountpoint, groups);
        expect(await writer.stop()).toBe(0);

        // What Tahoe holds: every name of a file carries the same identity and cap.
        const tree = await tahoeTree(client, rootCap);
        for (const group of groups) {
          const edges = group.map((name) => tree.get(name)!);
          expect(new Set(edges.map((edge) => `${String(edge.riverfs?.ino)} ${edge.cap}`)).size).toBe(1);
        }

        // (a) A fresh gateway: its own data directory and database, the same root cap, the tree pulled as it is walked.
        await withTempMountpoint(async (freshMount) => {
          const reader = await RiverFsProcess.start(freshMount, { args: ['--root-cap', rootCap] });
          try {
            walkFarFirst(freshMount);
            await expectJoined(freshMount, groups);
            await expectSharedData(freshMount, groups, 'appended on the fresh gateway\n');
            await waitUntilTahoeMatchesMount(client, rootCap, freshMount);
            expect(await reader.stop()).toBe(0);
          } finally {
            await reader.dispose();
          }
        });

        // (b) The writer's database is lost and rebuilt from the tree (which now holds the fresh gateway's appends).
        for (const name of fs.readdirSync(writer.dataDir).filter((file) => file.startsWith('riverfs.sqlite'))) {
          fs.rmSync(j(writer.dataDir, name));
        }
        const rebuilt = await runCli([
          'fsck',
          '--rebuild',
          '--data-dir',
          writer.dataDir,
          '--tahoe-url',
          testTahoeUrl(),
          '--root-cap',
          rootCap,
        ]);
        expect(rebuilt.stderr).not.toMatch(/error/i);
        expect(rebuilt.code).toBe(0);
        await writer.start();
        await expectJoined(mountpoint, groups);
        expect(fs.readFileSync(j(mountpoint, 'h-top'), 'utf8')).toMatch(/appended on the fresh gateway\n$/);
        await expectSharedData(mountpoint, groups, 'appended after the rebuild\n');
        // Published again from the rebuilt database, the names still carry one identity each.
        await waitUntilTahoeMatchesMount(client, rootCap, mountpoint);
        const after = await eventually('the appends in Tahoe', async () => {
          const listed = await tahoeTree(client, rootCap);
          return groups.every((group) => new Set(group.map((name) => listed.get(name)?.cap)).size === 1)
            ? listed
            : undefined;
        });
        for (const group of groups) {
          expect(new Set(group.map((name) => String(after.get(name)?.riverfs?.ino))).size).toBe(1);
        }
      } finally {
        await writer.dispose();
      }
    });
  }, 300_000);
});
