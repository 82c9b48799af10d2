import { request } from 'undici';
import { testGrid, testGridDir, testTahoeUrl } from '../support/tahoe.helper';
import { tahoeProcessesUnder } from '../support/process.helper';
import { runCli } from '../support/cli.helper';
import { TEST_GRID_SHAPE, testVenvDir } from '../support/test-grid';

describe('the local grid of this test run', () => {
  it('should report every node running and happy uploads possible', async () => {
    const status = await testGrid().status();
    expect(status.ready).toBe(true);
    expect(status.webUrl).toBe(testTahoeUrl());
    expect(status.nodes.map((node) => node.name)).toEqual(['introducer', 'storage1', 'storage2', 'storage3', 'client']);
    expect(status.nodes.every((node) => node.running && node.pid !== undefined)).toBe(true);
    expect(status.connectedServers).toBeGreaterThanOrEqual(TEST_GRID_SHAPE.sharesHappy);
  });

  it('should bind the web API to 127.0.0.1 and give storage nodes no web server', async () => {
    const status = await testGrid().status();
    const client = status.nodes.find((node) => node.role === 'client')!;
    expect(status.webUrl).toBe(`http://127.0.0.1:${client.webPort}`);
    const storage = status.nodes.filter((node) => node.role === 'storage');
    expect(storage.every((node) => node.webPort === undefined && node.tubPort !== undefined)).toBe(true);
  });

  it('should adopt the running nodes instead of starting them twice', async () => {
    const before = tahoeProcessesUnder(testGridDir());
    const status = await testGrid().start();
    expect(status.ready).toBe(true);
    expect(tahoeProcessesUnder(testGridDir())).toEqual(before);
    expect(status.nodes.map((node) => node.pid).sort((a, b) => a! - b!)).toEqual(before);
  });

  it('should accept an immutable upload with shares on every storage node', async () => {
    const response = await request(`${testTahoeUrl()}/uri`, {
      method: 'PUT',
      body: Buffer.alloc(1000, 7),
      headers: { accept: 'text/plain' },
    });
    const cap = (await response.body.text()).trim();
    expect(response.statusCode).toBe(200);
    expect(cap).toMatch(/^URI:CHK:[a-z2-7]+:[a-z2-7]+:2:3:1000$/);
  });

  it('should print a ready status from the command line', async () => {
    const result = await runCli([
      'grid',
      'status',
      '--json',
      '--grid-dir',
      testGridDir(),
      '--tahoe-venv',
      testVenvDir(),
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const status = JSON.parse(result.stdout) as { ready: boolean; webUrl: string };
    expect(status).toMatchObject({ ready: true, webUrl: testTahoeUrl() });
  });
});
