import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { createTestDatabase, type TestDatabase } from '../support/mariadb.helper';
import { REDIS_DATABASES } from '../support/mount-backends.helper';
import { createTestRedis, type TestRedis } from '../support/redis.helper';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';

function counterValue(metrics: string, op: string): number {
  const pattern = new RegExp(`^riverfs_fuse_ops_total\\{op="${op}",result="ok"\\} (\\d+)`, 'm');
  return Number(pattern.exec(metrics)?.[1] ?? 0);
}

/** The operator surface of a real mount: MariaDB + Redis behind it, the real grid, requests over HTTP. */
describe('the admin API of a mounted RiverFS (MariaDB + Redis)', () => {
  let database: TestDatabase;
  let redis: TestRedis;
  beforeAll(async () => {
    database = await createTestDatabase('mounted');
    redis = createTestRedis('mounted');
  });
  afterAll(async () => {
    await database.drop();
    await redis.cleanup();
  });

  it('should report the mount ready, inspect a file written through it, and count FUSE reads', async () => {
    await withTempMountpoint(async (mountpoint) => {
      // A Redis database of its own: RiverFS's keys (locks, sessions) are not under the test's prefix.
      const redisUrl = new URL(redis.url);
      redisUrl.pathname = `/${REDIS_DATABASES.mountedAdmin}`;
      const riverfs = await RiverFsProcess.start(mountpoint, { db: database.url, redis: redisUrl.toString() });
      try {
        const api = request(riverfs.adminUrl);
        const auth = { Authorization: `Bearer ${riverfs.adminToken()}` };

        const ready = await api.get('/health/ready');
        expect(ready.status).toBe(200);
        expect(JSON.stringify(ready.body)).toContain('mount');

        fs.mkdirSync(path.join(mountpoint, 'docs'));
        fs.writeFileSync(path.join(mountpoint, 'docs', 'report.txt'), 'quarterly numbers\n');
        const inode = await api.get('/admin/inodes').query({ path: '/docs/report.txt' }).set(auth);
        expect(inode.status).toBe(200);
        expect(inode.body).toMatchObject({ type: 'file', size: 18, nlink: 1 });
        expect(fs.statSync(path.join(mountpoint, 'docs', 'report.txt')).ino).toBe((inode.body as { ino: number }).ino);

        const unauthorized = await api.get('/admin/inodes').query({ path: '/docs/report.txt' });
        expect(unauthorized.status).toBe(401);

        const before = counterValue((await api.get('/metrics')).text, 'read');
        expect(fs.readFileSync(path.join(mountpoint, 'docs', 'report.txt'), 'utf8')).toBe('quarterly numbers\n');
        const after = counterValue((await api.get('/metrics')).text, 'read');
        expect(after).toBeGreaterThan(before);
      } finally {
        await riverfs.dispose();
      }
    });
  });
});
