import { randomBytes } from 'node:crypto';
import { pollUntil } from '../../src/grid/process.util';
import { parseKnownCap } from '../../src/tahoe/cap.util';
import { TahoeError } from '../../src/tahoe/tahoe.errors';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { testGrid } from '../support/tahoe.helper';

describe('TahoeClient with a storage node down', () => {
  it(
    'should fail an immutable upload with UNHAPPY_UPLOAD while happy=3 cannot be met, and recover after',
    async () => {
      const client = testTahoeClient({ retries: 0 });
      try {
        // This suite runs in the serial fault phase (scripts/run-tests.js): no other suite uses the grid meanwhile.
        {
          const grid = testGrid();
          await grid.stopNode('storage1');
          try {
            await pollUntil(async () => ((await client.gridStatus()).connectedCount < 3 ? true : undefined), {
              timeoutMs: 60_000,
              intervalMs: 200,
              describeTimeout: () => 'the client node still counted storage1 as connected after 60 s',
            });
            expect((await client.gridStatus()).isHappy(3)).toBe(false);

            let error: unknown;
            try {
              await client.upload(randomBytes(10_000));
            } catch (caught) {
              error = caught;
            }
            expect(error).toBeInstanceOf(TahoeError);
            expect(error).toMatchObject({ code: 'UNHAPPY_UPLOAD', status: 500, retryable: true, operation: 'upload' });
            expect((error as TahoeError).message).toContain('UploadUnhappinessError');

            // Tahoe ignores `happy` for mutable objects: a publish still succeeds on the two servers left.
            expect(parseKnownCap(await client.createMutable('MDMF', Buffer.from('still writable'))).kind).toBe('MDMF');
          } finally {
            await grid.startNode('storage1');
            await grid.waitUntilHappy();
          }
          expect(parseKnownCap(await client.upload(randomBytes(10_000))).kind).toBe('CHK');
        }
      } finally {
        await client.close();
      }
    },
    15 * 60_000,
  );
});
