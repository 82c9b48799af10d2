import net from 'node:net';
import request from 'supertest';
import type { MountState, MountStatus } from '../../src/health/mount-status';
import type { StatsDto } from '../../src/admin/dto/stats.dto';
import { body, createTestHttpApp, type Problem, type TestHttpApp } from '../support/http-app.helper';

interface Health {
  status: string;
  details: Record<string, { status: string; [detail: string]: unknown }>;
}

interface NotReady extends Problem {
  failing: string[];
  checks: Health['details'];
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** What FsOps will provide; here the test decides whether the mount is up. */
class SwitchableMount implements MountStatus {
  expected = true;
  mounted = true;

  status(): MountState {
    return this.mounted
      ? { mounted: true, mountpoint: '/mnt/river' }
      : { mounted: false, mountpoint: '/mnt/river', detail: 'fuse session ended' };
  }
}

describe('health checks', () => {
  describe('on a healthy gateway', () => {
    let t: TestHttpApp;
    const mount = new SwitchableMount();

    beforeAll(async () => {
      t = await createTestHttpApp({ mountStatus: mount });
    });

    afterAll(async () => {
      await t?.close();
    });

    it('should answer liveness without a token', async () => {
      const response = await request(t.url).get('/health/live');
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ status: 'ok', details: { process: { status: 'up' } } });
    });

    it('should be ready when the database, the state store, the grid and the mount are', async () => {
      const response = await request(t.url).get('/health/ready');
      expect({ status: response.status, body: body<Health>(response) }).toMatchObject({ status: 200 });
      expect(body<Health>(response).details).toMatchObject({
        database: { status: 'up' },
        stateStore: { status: 'up', backend: 'redis' },
        grid: { status: 'up', happy: t.config.gridSharesHappy },
        mount: { status: 'up', mounted: true, mountpoint: '/mnt/river' },
      });
      expect(body<Health>(response).details.grid.connected).toBeGreaterThanOrEqual(t.config.gridSharesHappy);
    });

    it('should answer 503 naming the mount when an expected mount is gone', async () => {
      mount.mounted = false;
      try {
        const response = await request(t.url).get('/health/ready');
        expect(response.status).toBe(503);
        expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(response.body).toMatchObject({ code: 'NOT_READY', failing: ['mount'] });
        expect(body<NotReady>(response).detail).toBe('not ready: mount (fuse session ended)');
        expect(body<NotReady>(response).checks.database.status).toBe('up');
      } finally {
        mount.mounted = true;
      }
    });

    it('should not count a mount that is not expected', async () => {
      mount.expected = false;
      mount.mounted = false;
      try {
        const response = await request(t.url).get('/health/ready');
        expect(response.status).toBe(200);
        expect(body<Health>(response).details.mount).toEqual({ status: 'up', expected: false, mounted: false });
      } finally {
        mount.expected = true;
        mount.mounted = true;
      }
    });

    // Last: it closes the state store for good.
    it('should answer 503 naming the state store once it is closed', async () => {
      await t.state.close();
      const response = await request(t.url).get('/health/ready');
      expect(response.status).toBe(503);
      expect(response.body).toMatchObject({ status: 503, code: 'NOT_READY', failing: ['stateStore'] });
      expect(body<NotReady>(response).detail).toMatch(/^not ready: stateStore \(the state store is closed/);
      expect(body<NotReady>(response).correlationId).toBe(response.headers['x-correlation-id']);
      expect((await request(t.url).get('/health/live')).status).toBe(200);
    });
  });

  describe('when the Tahoe node cannot be reached', () => {
    let t: TestHttpApp;

    beforeAll(async () => {
      t = await createTestHttpApp({
        tahoeUrl: `http://127.0.0.1:${await closedPort()}`,
        settings: { tahoeRetries: '0', metricsAuth: 'on' },
      });
    });

    afterAll(async () => {
      await t?.close();
    });

    it('should answer readiness with 503 naming the grid', async () => {
      const response = await request(t.url).get('/health/ready');
      expect(response.status).toBe(503);
      expect(body<NotReady>(response).failing).toEqual(['grid']);
      expect(body<NotReady>(response).detail).toMatch(/^not ready: grid \(Tahoe gridStatus failed: UNAVAILABLE/);
    });

    it('should answer the grid route with 503 and say the node is unavailable', async () => {
      const response = await request(t.url).get('/admin/grid').set('authorization', `Bearer ${t.adminToken}`);
      expect(response.status).toBe(503);
      expect(body<Problem>(response).code).toBe('TAHOE_UNAVAILABLE');
      const stats = await request(t.url).get('/admin/stats').set('authorization', `Bearer ${t.adminToken}`);
      expect(stats.status).toBe(200);
      expect(body<StatsDto>(stats).grid).toMatchObject({ reachable: false, happy: false });
    });

    it('should require the token for /metrics when configured, and show the grid as not happy', async () => {
      const anonymous = await request(t.url).get('/metrics');
      expect(anonymous.status).toBe(401);
      const response = await request(t.url).get('/metrics').set('authorization', `Bearer ${t.adminToken}`);
      expect(response.status).toBe(200);
      expect(response.text).toMatch(/^riverfs_grid_happy 0$/m);
      expect(response.text).toMatch(/^riverfs_grid_servers_connected 0$/m);
      expect(response.text).toMatch(/^riverfs_tahoe_requests_total\{op="gridStatus",status="UNAVAILABLE"\} [1-9]/m);
    });
  });
});
