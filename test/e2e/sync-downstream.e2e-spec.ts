import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { TahoeClient } from '../../src/tahoe/tahoe.client';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { freshRootDircap } from '../support/tahoe.helper';
import { eventually, tahoeTree, waitUntilTahoeMatchesMount } from '../support/tahoe-tree.helper';

const j = path.join;

/** The write cap of the directory at a '/'-separated path under `rootCap` (every part must exist). */
async function dirCapAt(client: TahoeClient, rootCap: string, relative: string): Promise<string> {
  let cap = rootCap;
  for (const name of relative.split('/').filter((part) => part !== '')) {
    const child = (await client.listDirectory(cap)).children.get(name);
    if (child?.type !== 'directory' || child.rwUri === undefined) {
      throw new Error(`no directory ${relative} in Tahoe`);
    }
    cap = child.rwUri;
  }
  return cap;
}

/** Links new content under a name with plain web-API calls, as another Tahoe client would. */
async function putRemote(client: TahoeClient, dirCap: string, name: string, data: Buffer): Promise<void> {
  const cap = await client.upload(data);
  await client.link(dirCap, name, cap, { replace: true });
}

function listing(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

async function adminPost(riverfs: RiverFsProcess, route: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${riverfs.adminUrl}${route}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${riverfs.adminToken()}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as Record<string, unknown>;
  if (response.status !== 200) {
    throw new Error(`POST ${route} answered ${response.status}: ${JSON.stringify(answer)}`);
  }
  return answer;
}

describe('downstream sync: a Tahoe tree seen through the mount', () => {
  const client = testTahoeClient();

  afterAll(async () => {
    await client.close();
  });

  it('should show a tree made with plain web-API calls, with default attributes, and read its files', async () => {
    const rootCap = await freshRootDircap();
    const readme = Buffer.from('made by another Tahoe client\n');
    const big = randomBytes(1024 * 1024 * 2 + 777);
    await putRemote(client, rootCap, 'README', readme);
    const docs = await client.mkdirChild(rootCap, 'docs');
    await putRemote(client, docs, 'big.bin', big);
    const deeper = await client.mkdirChild(docs, 'deeper');
    await putRemote(client, deeper, 'empty', Buffer.alloc(0));
    const before = Date.now() / 1000;

    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--root-cap', rootCap] });
      try {
        expect(listing(mountpoint)).toEqual(['README', 'docs']);
        expect(listing(j(mountpoint, 'docs'))).toEqual(['big.bin', 'deeper']);
        expect(fs.readFileSync(j(mountpoint, 'README')).equals(readme)).toBe(true);
        expect(fs.readFileSync(j(mountpoint, 'docs', 'big.bin')).equals(big)).toBe(true);
        expect(fs.readFileSync(j(mountpoint, 'docs', 'deeper', 'empty')).length).toBe(0);

        const file = fs.statSync(j(mountpoint, 'README'));
        const dir = fs.statSync(j(mountpoint, 'docs'));
        expect(file.mode & 0o7777).toBe(0o644);
        expect(file.size).toBe(readme.length);
        expect(dir.mode & 0o7777).toBe(0o755);
        expect(dir.isDirectory()).toBe(true);
        expect(file.uid).toBe(process.getuid!());
        // mtime comes from the link's linkmotime: when the test linked it, not when the mount saw it.
        expect(file.mtimeMs / 1000).toBeLessThanOrEqual(before + 1);
        expect(file.mtimeMs / 1000).toBeGreaterThan(before - 120);

        // Nothing pulled is written back: the tree stays as the other client made it (no riverfs metadata added).
        fs.writeFileSync(j(mountpoint, 'docs', 'added-here'), 'local');
        await waitUntilTahoeMatchesMount(client, rootCap, mountpoint, 120_000, { foreignEntries: true });
        const readmeEdge = (await client.listDirectory(rootCap)).children.get('README');
        expect(readmeEdge?.metadata?.custom.riverfs).toBeUndefined();
      } finally {
        await riverfs.dispose();
      }
    });
  }, 240_000);

  it('should show remote additions, changes and removals once the directory TTL has passed', async () => {
    const rootCap = await freshRootDircap();
    const shared = await client.mkdirChild(rootCap, 'shared');
    await putRemote(client, shared, 'changes', Buffer.from('version 1'));
    await putRemote(client, shared, 'goes-away', Buffer.from('soon gone'));
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--root-cap', rootCap, '--dir-ttl', '1'] });
      try {
        const dir = j(mountpoint, 'shared');
        expect(listing(dir)).toEqual(['changes', 'goes-away']);
        expect(fs.readFileSync(j(dir, 'changes'), 'utf8')).toBe('version 1');

        await putRemote(client, shared, 'arrived', Buffer.from('new remotely'));
        await putRemote(client, shared, 'changes', Buffer.from('version 2, longer'));
        await client.unlink(shared, 'goes-away');
        await client.mkdirChild(shared, 'new-dir');

        await eventually('the remote changes in the mount', () =>
          Promise.resolve(listing(dir).join(',') === 'arrived,changes,new-dir' ? true : undefined),
        );
        expect(fs.readFileSync(j(dir, 'arrived'), 'utf8')).toBe('new remotely');
        expect(fs.readFileSync(j(dir, 'changes'), 'utf8')).toBe('version 2, longer');
        expect(fs.statSync(j(dir, 'changes')).size).toBe('version 2, longer'.length);
        expect(fs.statSync(j(dir, 'new-dir')).isDirectory()).toBe(true);
        expect(fs.existsSync(j(dir, 'goes-away'))).toBe(false);

        // A remote directory removal takes its tree with it.
        const nested = await dirCapAt(client, rootCap, 'shared/new-dir');
        await putRemote(client, nested, 'inside', Buffer.from('x'));
        await eventually('a file in the new remote directory', () =>
          Promise.resolve(fs.existsSync(j(dir, 'new-dir', 'inside')) ? true : undefined),
        );
        await client.unlink(shared, 'new-dir');
        await eventually('the removed remote directory gone', () =>
          Promise.resolve(fs.existsSync(j(dir, 'new-dir')) ? undefined : true),
        );
        // Nothing of this is pushed back as a change: Tahoe still has what the other client left.
        await waitUntilTahoeMatchesMount(client, rootCap, mountpoint, 120_000, { foreignEntries: true });
      } finally {
        await riverfs.dispose();
      }
    });
  }, 240_000);

  it('should keep files written through the mount as they are when their directories are listed again', async () => {
    const rootCap = await freshRootDircap();
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--root-cap', rootCap, '--dir-ttl', '1'] });
      try {
        fs.mkdirSync(j(mountpoint, 'a', 'b'), { recursive: true });
        const files = new Map<string, Buffer>();
        for (let index = 0; index < 12; index += 1) {
          const relative = `a/${index % 2 === 0 ? 'b/' : ''}f-${index}`;
          files.set(relative, randomBytes(100 + index * 5000));
          fs.writeFileSync(j(mountpoint, relative), files.get(relative)!);
        }
        fs.renameSync(j(mountpoint, 'a', 'f-1'), j(mountpoint, 'a', 'f-1-renamed'));
        files.set('a/f-1-renamed', files.get('a/f-1')!);
        files.delete('a/f-1');
        fs.unlinkSync(j(mountpoint, 'a', 'f-3'));
        files.delete('a/f-3');
        fs.chmodSync(j(mountpoint, 'a', 'f-5'), 0o600);
        // Listed again every second (TTL 1 s) while the changes are pushed: nothing may come back, vanish or conflict.
        await waitUntilTahoeMatchesMount(client, rootCap, mountpoint);
        for (let round = 0; round < 3; round += 1) {
          expect(listing(j(mountpoint, 'a'))).toEqual(['b', 'f-1-renamed', 'f-11', 'f-5', 'f-7', 'f-9']);
        }
        for (const [relative, data] of files) {
          expect(fs.readFileSync(j(mountpoint, relative)).equals(data)).toBe(true);
        }
        expect(fs.statSync(j(mountpoint, 'a', 'f-5')).mode & 0o777).toBe(0o600);
        const tree = await tahoeTree(client, rootCap);
        expect([...tree.keys()].filter((name) => name.includes('.conflict-'))).toEqual([]);
      } finally {
        await riverfs.dispose();
      }
    });
  }, 240_000);

  it('should keep the local version and save the remote one as a conflict copy when both changed', async () => {
    const rootCap = await freshRootDircap();
    const dirCap = await client.mkdirChild(rootCap, 'both');
    await putRemote(client, dirCap, 'doc.txt', Buffer.from('original'));
    await withTempMountpoint(async (mountpoint) => {
      // Uploads wait an hour: the local change stays unsynced until the explicit flush below.
      const riverfs = await RiverFsProcess.start(mountpoint, {
        args: ['--root-cap', rootCap, '--dir-ttl', '1', '--sync-delay', '3600'],
      });
      try {
        const dir = j(mountpoint, 'both');
        expect(fs.readFileSync(j(dir, 'doc.txt'), 'utf8')).toBe('original');
        fs.writeFileSync(j(dir, 'doc.txt'), 'edited here');
        await putRemote(client, dirCap, 'doc.txt', Buffer.from('edited remotely'));

        const copy = await eventually('a conflict copy', () =>
          Promise.resolve(listing(dir).find((name) => /^doc\.txt\.conflict-\d{8}T\d{6}Z$/.test(name))),
        );
        expect(fs.readFileSync(j(dir, 'doc.txt'), 'utf8')).toBe('edited here');
        expect(fs.readFileSync(j(dir, copy), 'utf8')).toBe('edited remotely');

        // Both reach Tahoe: the local version under the name, the remote one beside it.
        await adminPost(riverfs, '/admin/cache/flush', { wait: true });
        await waitUntilTahoeMatchesMount(client, rootCap, mountpoint, 120_000, { foreignEntries: true });
        const children = (await client.listDirectory(dirCap)).children;
        expect((await client.readAll(children.get('doc.txt')!.roUri!)).toString()).toBe('edited here');
        expect((await client.readAll(children.get(copy)!.roUri!)).toString()).toBe('edited remotely');
        // Listed again: the conflict is settled, no second copy.
        expect(listing(dir).filter((name) => name.includes('.conflict-'))).toEqual([copy]);
      } finally {
        await riverfs.dispose();
      }
    });
  }, 240_000);

  it('should pull a remote change before the TTL when the admin API is asked to', async () => {
    const rootCap = await freshRootDircap();
    const dirCap = await client.mkdirChild(rootCap, 'slow');
    await withTempMountpoint(async (mountpoint) => {
      const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--root-cap', rootCap, '--dir-ttl', '3600'] });
      try {
        expect(listing(j(mountpoint, 'slow'))).toEqual([]);
        await putRemote(client, dirCap, 'pushed-elsewhere', Buffer.from('hello'));
        // Listed a moment ago, trusted for an hour: the mount does not look.
        expect(listing(j(mountpoint, 'slow'))).toEqual([]);

        const job = await adminPost(riverfs, '/admin/sync', { path: '/slow', direction: 'pull', wait: true });
        expect(job).toMatchObject({ state: 'succeeded', result: { pulled: { directories: 1, added: 1 } } });
        expect(listing(j(mountpoint, 'slow'))).toEqual(['pushed-elsewhere']);
        expect(fs.readFileSync(j(mountpoint, 'slow', 'pushed-elsewhere'), 'utf8')).toBe('hello');
      } finally {
        await riverfs.dispose();
      }
    });
  }, 240_000);
});
