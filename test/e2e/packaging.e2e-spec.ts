import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { findFreePort } from '../../src/grid/process.util';
import { isMounted, unmount } from '../support/fuse-mount.helper';
import { TEST_MARIADB_URL } from '../support/services';
import { testTahoeUrl } from '../support/tahoe.helper';
import { eventually } from '../support/tahoe-tree.helper';
import { testVenvDir } from '../support/test-grid';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');
const DOCKER = path.join(ROOT, 'docker');

/** Exit code and output of a command that may fail (a health check saying "unhealthy" is an answer, not an error). */
async function probe(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(command, args, { env, timeout: 20_000 });
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, out: `${failed.stdout}${failed.stderr}` };
  }
}

function stopChild(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(child.exitCode);
  }
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve(code);
    });
    child.kill('SIGTERM');
  });
}

function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('RIVERFS_')));
  return { ...base, ...extra };
}

describe('packaging: compose file, service unit, image entrypoints and health checks run on the host', () => {
  let work: string;
  const children: ChildProcess[] = [];

  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-packaging-'));
  });

  afterEach(async () => {
    await Promise.all(children.splice(0).map(stopChild));
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('should have a compose file that docker-compose validates, and a broken copy that it rejects', async () => {
    const valid = await probe('docker-compose', ['-f', path.join(DOCKER, 'compose.yaml'), 'config', '-q'], process.env);
    expect(valid).toEqual({ code: 0, out: '' });
    const config = (await run('docker-compose', ['-f', path.join(DOCKER, 'compose.yaml'), 'config'])).stdout;
    for (const service of [
      'db',
      'redis',
      'introducer',
      'storage1',
      'storage2',
      'storage3',
      'tahoe-client',
      'riverfs',
    ]) {
      expect(config).toContain(`  ${service}:\n`);
    }
    expect(config).toContain('propagation: rshared');
    // The checker does check: a service with a misspelt key is refused.
    const broken = path.join(DOCKER, `compose.broken-${process.pid}.yaml`);
    fs.writeFileSync(
      broken,
      fs.readFileSync(path.join(DOCKER, 'compose.yaml'), 'utf8').replace('stop_grace_period:', 'stop_grace_perod:'),
    );
    try {
      const invalid = await probe('docker-compose', ['-f', broken, 'config', '-q'], process.env);
      expect(invalid.code).not.toBe(0);
      expect(invalid.out).toMatch(/stop_grace_perod/);
    } finally {
      fs.rmSync(broken, { force: true });
    }
  });

  it('should have a service unit that systemd-analyze accepts, and a broken copy that it complains about', async () => {
    // ExecStart pointed at this checkout's command: the unit names the installed /usr/local/bin/riverfs.
    const text = fs
      .readFileSync(path.join(ROOT, 'packaging', 'riverfs.service'), 'utf8')
      .replace('/usr/local/bin/riverfs', path.join(ROOT, 'bin', 'riverfs.js'));
    const unit = path.join(work, 'riverfs.service');
    fs.writeFileSync(unit, text);
    const verified = await probe('systemd-analyze', ['verify', unit], process.env);
    expect(verified.out).not.toMatch(/riverfs\.service/);
    // The checker does check: a bad restart policy is reported (systemd warns and ignores rather than failing).
    fs.writeFileSync(unit, text.replace('Restart=on-failure', 'Restart=sometimes'));
    const broken = await probe('systemd-analyze', ['verify', unit], process.env);
    expect(broken.out).toMatch(/riverfs\.service:\d+: Failed to parse service restart specifier/);
  });

  it('should create and run an introducer, a storage node and a client node with the Tahoe image entrypoint', async () => {
    const furlDir = path.join(work, 'furl');
    fs.mkdirSync(furlDir);
    const tahoe = path.join(testVenvDir(), 'bin', 'tahoe');
    const nodeEnv = (role: string, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv =>
      cleanEnv({
        TAHOE_BIN: tahoe,
        TAHOE_NODE_DIR: path.join(work, role),
        TAHOE_FURL_DIR: furlDir,
        TAHOE_HOSTNAME: '127.0.0.1',
        TAHOE_LISTEN_INTERFACE: '127.0.0.1',
        TAHOE_SHARES_NEEDED: '1',
        TAHOE_SHARES_HAPPY: '1',
        TAHOE_SHARES_TOTAL: '1',
        TAHOE_RESERVED_SPACE: '0',
        ...extra,
      });
    const health = (role: string) =>
      probe('python3', [path.join(DOCKER, 'tahoe-healthcheck.py')], {
        ...process.env,
        TAHOE_NODE_DIR: path.join(work, role),
      });
    const start = (role: string, env: NodeJS.ProcessEnv) => {
      const child = spawn('sh', [path.join(DOCKER, 'tahoe-entrypoint.sh'), role], { env, stdio: 'ignore' });
      children.push(child);
    };

    expect((await health('introducer')).code).toBe(1);
    start('introducer', nodeEnv('introducer', { TAHOE_PORT: String(await findFreePort()) }));
    await eventually('the introducer to be healthy', async () =>
      (await health('introducer')).code === 0 ? true : undefined,
    );
    // The entrypoint publishes the furl (for the other nodes) a moment after the introducer wrote it.
    const furl = await eventually('the introducer furl to be published', () =>
      Promise.resolve(fs.existsSync(path.join(furlDir, 'introducer.furl')) ? true : undefined),
    );
    expect(furl).toBe(true);
    expect(fs.readFileSync(path.join(furlDir, 'introducer.furl'), 'utf8')).toMatch(/^pb:\/\//);

    start('storage', nodeEnv('storage', { TAHOE_PORT: String(await findFreePort()) }));
    const webPort = await findFreePort();
    start('client', nodeEnv('client', { TAHOE_WEB_PORT: String(webPort), TAHOE_WEB_INTERFACE: '127.0.0.1' }));
    await eventually('the storage node to be healthy', async () =>
      (await health('storage')).code === 0 ? true : undefined,
    );
    // The client is healthy only once it sees shares.happy (here 1) storage servers.
    const healthy = await eventually('the client node to be healthy', async () => {
      const answer = await health('client');
      return answer.code === 0 ? answer.out : undefined;
    });
    expect(healthy).toMatch(/1 storage server\(s\) connected/);
    // And it is a working client: an upload through its web API succeeds.
    const upload = await fetch(`http://127.0.0.1:${webPort}/uri`, {
      method: 'PUT',
      body: 'through the image entrypoint',
    });
    expect(upload.status).toBe(200);
    expect(await upload.text()).toMatch(/^URI:(LIT|CHK):/);
  }, 240_000);

  it('should turn secrets into settings, mount, and report health with the gateway image entrypoint', async () => {
    // A database user with a password that needs URL-encoding, given only as a secret file.
    const database = `riverfs_packaging_${process.pid}`;
    const password = 'p@ss:w/rd&%1';
    const admin = await mysql.createConnection({ uri: TEST_MARIADB_URL });
    await admin.query(`CREATE DATABASE \`${database}\``);
    await admin.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [database, password]);
    await admin.query(`GRANT ALL ON \`${database}\`.* TO ?@'%'`, [database]);
    const secrets = path.join(work, 'secrets');
    fs.mkdirSync(secrets);
    fs.writeFileSync(path.join(secrets, 'riverfs_db_password'), `${password}\n`);
    fs.writeFileSync(path.join(secrets, 'riverfs_admin_token'), 'packaging-admin-token\n');
    const mountpoint = path.join(work, 'mnt');
    const port = await findFreePort();
    const db = new URL(TEST_MARIADB_URL);
    const env = cleanEnv({
      CLI_PATH: path.join(ROOT, 'bin', 'riverfs.js'),
      SECRETS_DIR: secrets,
      RIVERFS_DB: `mysql://${database}:@PASSWORD@@${db.host}/${database}`,
      RIVERFS_DATA_DIR: path.join(work, 'data'),
      MOUNTPOINT: mountpoint,
      RIVERFS_TAHOE_URL: testTahoeUrl(),
      RIVERFS_LISTEN: `0.0.0.0:${port}`,
      RIVERFS_LOG_LEVEL: 'warn',
    });
    const healthcheck = () => probe(process.execPath, [path.join(DOCKER, 'riverfs-healthcheck.js')], env);
    try {
      expect((await healthcheck()).code).toBe(1);
      let output = '';
      const gateway = spawn('sh', [path.join(DOCKER, 'riverfs-entrypoint.sh')], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(gateway);
      gateway.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      gateway.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      await eventually(
        'the gateway to be healthy',
        async () => {
          if (gateway.exitCode !== null) {
            throw new Error(`the entrypoint exited with ${gateway.exitCode}:\n${output}`);
          }
          return (await healthcheck()).code === 0 ? true : undefined;
        },
        120_000,
      );
      expect(await isMounted(mountpoint)).toBe(true);
      // The secret reached RiverFS as its admin token, and no secret is on a command line.
      const answer = await fetch(`http://127.0.0.1:${port}/admin/sync/queue`, {
        headers: { authorization: 'Bearer packaging-admin-token' },
      });
      expect(answer.status).toBe(200);
      const cmdline = fs.readFileSync(`/proc/${gateway.pid}/cmdline`, 'utf8');
      expect(cmdline).not.toContain('p@ss');
      expect(cmdline).not.toContain('packaging-admin-token');

      fs.writeFileSync(path.join(mountpoint, 'hello.txt'), 'from the entrypoint\n');
      expect(await stopChild(gateway)).toBe(0);
      expect((await healthcheck()).code).toBe(1);
      expect(await isMounted(mountpoint)).toBe(false);
    } finally {
      await unmount(mountpoint);
      await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await admin.query(`DROP USER IF EXISTS ?@'%'`, [database]);
      await admin.end();
    }
  }, 240_000);
});
