import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';
import { tahoeProcessesUnder } from '../support/process.helper';
import { isLoopback, listeningSockets } from '../support/sockets.helper';
import { eventually } from '../support/tahoe-tree.helper';

/** What marks a file as holding a secret, besides lying in a Tahoe node's private/ directory. */
const SECRET_MARKERS = ['URI:DIR2', 'URI:CHK:', 'URI:SSK', 'URI:MDMF', 'pb://', 'PRIVATE KEY', 'priv-v0-'];

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? [full, ...walk(full)] : entry.isFile() ? [full] : [];
  });
}

function modeOf(file: string): string {
  return `0${(fs.statSync(file).mode & 0o777).toString(8)}`;
}

/**
 * Readable or writable by group or others. Files RiverFS writes or narrows are 0600 exactly; a running Tahoe node
 * rewrites its introducer cache with the execute bit (0700 under umask 077), which is as private.
 */
function exposed(mode: string): boolean {
  return (parseInt(mode, 8) & 0o077) !== 0;
}

/**
 * Every file under `dirs` that holds a secret (a cap, a furl, a private key, one of `tokens`; anything in a private/
 * directory, and the SQLite database `dbFile` with its companions, whose caps may sit in the WAL for a while) with its
 * mode, and every private/ directory with its mode.
 */
function secretsUnder(
  dirs: string[],
  tokens: string[],
  dbFile: string,
): { files: Map<string, string>; privateDirs: Map<string, string> } {
  const files = new Map<string, string>();
  const privateDirs = new Map<string, string>();
  const markers = [...SECRET_MARKERS, ...tokens].map((marker) => Buffer.from(marker));
  for (const file of dirs.flatMap(walk)) {
    if (fs.statSync(file).isDirectory()) {
      if (path.basename(file) === 'private') {
        privateDirs.set(file, modeOf(file));
      }
      continue;
    }
    const content = fs.readFileSync(file);
    if (
      file.startsWith(dbFile) ||
      path.basename(path.dirname(file)) === 'private' ||
      markers.some((marker) => content.includes(marker))
    ) {
      files.set(file, modeOf(file));
    }
  }
  return { files, privateDirs };
}

describe('secrets stay private (e2e, embedded grid)', () => {
  it('listens on loopback only, and keeps every file holding a cap, furl, key or token private to its owner (0600, private/ 0700), also after a start that finds them 0644', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-data-'));
    // A --db outside the data directory, in a directory every local user may read.
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-db-'));
    fs.chmodSync(outside, 0o755);
    const dbFile = path.join(outside, 'riverfs.sqlite');
    const db = `sqlite:${dbFile}`;
    try {
      await withTempMountpoint(async (mountpoint) => {
        const start = (): Promise<RiverFsProcess> =>
          RiverFsProcess.start(mountpoint, { dataDir, db, embeddedGrid: true, args: ['--sync-delay', '0'] });
        let riverfs = await start();
        try {
          fs.writeFileSync(path.join(mountpoint, 'note.txt'), 'a file whose cap lands in the database');
          const rootCap = fs.readFileSync(path.join(dataDir, 'root-cap'), 'utf8').trim();
          const webUrl = `http://127.0.0.1:${/web\.port = tcp:(\d+)/.exec(fs.readFileSync(path.join(dataDir, 'grid', 'client', 'tahoe.cfg'), 'utf8'))![1]}`;
          await eventually('note.txt in Tahoe', async () => {
            const response = await request(`${webUrl}/uri/${encodeURIComponent(rootCap)}/note.txt`);
            await response.body.dump();
            return response.statusCode === 200 ? true : undefined;
          });

          const nodes = tahoeProcessesUnder(path.join(dataDir, 'grid'));
          expect(nodes).toHaveLength(5); // introducer, three storage nodes, client
          const sockets = [...nodes, riverfs.pid!].flatMap(listeningSockets);
          expect(sockets.length).toBeGreaterThanOrEqual(nodes.length + 1);
          expect(sockets.filter((socket) => !isLoopback(socket.address))).toEqual([]);

          const tokens = ['admin-token', 'admin-reveal-token'].map((name) =>
            fs.readFileSync(path.join(dataDir, name), 'utf8').trim(),
          );
          const { files, privateDirs } = secretsUnder([dataDir, outside], tokens, dbFile);
          // What must be among them: the database with its WAL and SHM, the root cap, the tokens, node keys, furls.
          for (const expected of [
            dbFile,
            `${dbFile}-wal`,
            `${dbFile}-shm`,
            path.join(dataDir, 'root-cap'),
            path.join(dataDir, 'admin-token'),
            path.join(dataDir, 'grid', 'storage1', 'private', 'node.pem'),
            path.join(dataDir, 'grid', 'client', 'private', 'introducers.yaml'),
            path.join(dataDir, 'grid', 'introducer', 'private', 'introducer.furl'),
          ]) {
            expect([expected, files.get(expected)]).toEqual([expected, '0600']);
          }
          expect([...files].filter(([, mode]) => exposed(mode))).toEqual([]);
          expect(privateDirs.size).toBe(5);
          expect([...privateDirs].filter(([, mode]) => mode !== '0700')).toEqual([]);

          // Made readable by others (as an older RiverFS or a careless copy left them): the next start narrows them.
          await riverfs.stop();
          for (const file of [...files.keys()].filter((name) => fs.existsSync(name))) {
            fs.chmodSync(file, 0o644);
          }
          for (const dir of privateDirs.keys()) {
            fs.chmodSync(dir, 0o755);
          }
          riverfs = await start();
          const again = secretsUnder([dataDir, outside], tokens, dbFile);
          expect([...again.files].filter(([, mode]) => exposed(mode))).toEqual([]);
          expect([...again.privateDirs].filter(([, mode]) => mode !== '0700')).toEqual([]);
        } finally {
          await riverfs.dispose();
        }
      });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });
});
