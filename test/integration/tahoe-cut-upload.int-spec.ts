import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { pollUntil } from '../../src/grid/process.util';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { testTahoeUrl } from '../support/tahoe.helper';

interface StatusItem {
  type: string;
  'storage-index-string': string | null;
  status: string;
}

async function operations(): Promise<{ active: StatusItem[]; recent: StatusItem[] }> {
  const response = await fetch(`${testTahoeUrl()}/status?t=json`);
  return (await response.json()) as { active: StatusItem[]; recent: StatusItem[] };
}

/**
 * A gateway killed in the middle of an upload (kill -9, a crash) cuts its connection to the Tahoe node, and retries
 * the same bytes after its restart. Tahoe 1.20 cancels the cut upload and leaves its share slots reserved for 30
 * minutes, refusing every retry meanwhile; the fix RiverFS applies to the venv it manages (src/grid/tahoe-venv.ts)
 * lets the upload finish instead.
 */
describe('an upload whose client went away (the venv fix finish-cut-uploads)', () => {
  const client = testTahoeClient();

  afterAll(async () => {
    await client.close();
  });

  it('should let the same bytes be uploaded again at once', async () => {
    const body = randomBytes(6 * 1024 * 1024 + 321);
    const { hostname, port } = new URL(testTahoeUrl());
    let answered = false;
    const socket = net.connect(Number(port), hostname);
    socket.on('data', () => {
      answered = true;
    });
    socket.on('error', () => undefined);
    socket.write(`PUT /uri HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body);

    // Cut once Tahoe is working on it (its storage index is known), as a kill would.
    const storageIndex = await pollUntil(
      async () => {
        const upload = (await operations()).active.find(
          (item) => item.type === 'upload' && item['storage-index-string'] !== null,
        );
        return upload?.['storage-index-string'] ?? undefined;
      },
      { timeoutMs: 60_000, intervalMs: 10, describeTimeout: () => 'the upload never became active in Tahoe' },
    );
    socket.destroy();
    expect(answered).toBe(false);

    // Whatever became of the cut upload, it ends (finished, with the fix; cancelled, without it).
    await pollUntil(
      async () => {
        const now = await operations();
        const active = now.active.some((item) => item['storage-index-string'] === storageIndex);
        return !active && now.recent.some((item) => item['storage-index-string'] === storageIndex) ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100, describeTimeout: () => 'the cut upload never ended' },
    );
    const cap = await client.upload(body);
    expect(cap).toMatch(/^URI:CHK:/);
    expect((await client.readAll(cap)).equals(body)).toBe(true);
  }, 240_000);
});
