import fs from 'node:fs';
import path from 'node:path';
import { adminSync, expectAllInTahoe, uniqueLine, withTwoGateways } from '../support/gateway-sync.helper';
import { testTahoeClient } from '../support/tahoe-fixtures';
import { freshRootDircap } from '../support/tahoe.helper';
import { eventually } from '../support/tahoe-tree.helper';

const j = path.join;
/**
 * Rounds of writes at once (both gateways append in each: 50 + 50 appends, as issue 12 tried); the turns phase makes
 * as many appends in all. RIVERFS_TWO_GATEWAY_ROUNDS raises it for a soak.
 */
const ROUNDS = Number(process.env.RIVERFS_TWO_GATEWAY_ROUNDS ?? 50);

/**
 * Two gateways with their own databases sharing only the grid and the root cap (DESIGN.md §6), as issue 12 found
 * them losing one side's appends: every version either side wrote must be in Tahoe, as the file or as a conflict copy.
 */
describe('two gateways with separate databases writing the same files', () => {
  const client = testTahoeClient();

  afterAll(async () => {
    await client.close();
  });

  it('should keep every version of appends made in turns and at once, as the file or as conflict copies', async () => {
    const rootCap = await freshRootDircap();
    // Every push and pull is the test's (forced through the admin API, which runs at once), in an order it chooses:
    // - two gateways with their own StateStores cannot exclude each other, and Tahoe has no compare-and-swap, so
    //   two publishes of one dirnode within the window README states can still lose one side: the test publishes
    //   one gateway after the other, which is what conflict copies on publish promise;
    // - a pull in the background while the same gateway appends is another race, covered by
    //   sync-pull-while-writing.e2e-spec.ts.
    const args = ['--root-cap', rootCap, '--dir-ttl', '3600', '--sync-delay', '3600'];
    await withTwoGateways(args, async (gateways) => {
      // In turns: A appends and pushes, then B. In even rounds each pulls first and appends to the other's
      // version; in odd rounds it appends to its own last version, which the other's publish then meets.
      const turns: string[] = [];
      for (let round = 0; round < ROUNDS / 2; round += 1) {
        for (const gateway of gateways) {
          const line = uniqueLine('turn', round, gateway.name);
          turns.push(line);
          if (round % 2 === 0) {
            await adminSync(gateway.riverfs, 'pull');
          }
          await fs.promises.appendFile(j(gateway.mount, 'turns.txt'), line);
          await adminSync(gateway.riverfs, 'push');
        }
      }

      // At once: both append to the same file (and, every tenth round, both make the same new file) at the same
      // moment, then push one after the other: the second publish meets the first one's version.
      const atOnce: string[] = [];
      const made = new Map<string, string[]>();
      for (let round = 0; round < ROUNDS; round += 1) {
        const fresh = round % 10 === 0 ? `fresh-${round}.txt` : undefined;
        await Promise.all(
          gateways.map(async (gateway) => {
            const line = uniqueLine('once', round, gateway.name);
            atOnce.push(line);
            await fs.promises.appendFile(j(gateway.mount, 'at-once.txt'), line);
            if (fresh !== undefined) {
              const content = uniqueLine('fresh', round, gateway.name);
              made.set(fresh, [...(made.get(fresh) ?? []), content]);
              await fs.promises.writeFile(j(gateway.mount, fresh), content);
            }
          }),
        );
        for (const gateway of round % 2 === 0 ? gateways : [...gateways].reverse()) {
          await adminSync(gateway.riverfs, 'push');
        }
      }

      for (const gateway of gateways) {
        await adminSync(gateway.riverfs, 'both');
      }
      await expectAllInTahoe(client, rootCap, 'turns.txt', turns);
      const copies = await expectAllInTahoe(client, rootCap, 'at-once.txt', atOnce);
      // Writes at once always diverge: without conflict copies one side's lines would be gone.
      expect(copies.length).toBeGreaterThan(0);
      for (const [name, contents] of made) {
        await expectAllInTahoe(client, rootCap, name, contents);
      }

      // Both mounts show what Tahoe holds, conflict copies included (each database learned them).
      const names = async (): Promise<string> =>
        [...(await client.listDirectory(rootCap)).children.keys()].sort().join('\n');
      for (const gateway of gateways) {
        await eventually(`${gateway.name} shows every name in Tahoe`, async () => {
          await adminSync(gateway.riverfs, 'both');
          const expected = await names();
          return fs.readdirSync(gateway.mount).sort().join('\n') === expected ? true : undefined;
        });
      }
    });
  }, 240_000);
});
