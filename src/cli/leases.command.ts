import { Command } from 'commander';
import type { LeasesStatusDto } from '../admin/dto/leases.dto';
import { addAdminApiOptions, adminContext, runAdminAction } from './admin-command.util';
import { keyValueTable, printJson } from './admin-output';
import { EXIT } from './exit-codes';
import { runJob } from './jobs.command';

function formatLeases(status: LeasesStatusDto): string {
  const rows: [string, string][] = [
    [
      'schedule',
      status.intervalSeconds === 0 ? 'only on request' : `every ${Math.round(status.intervalSeconds / 3600)} h`,
    ],
    [
      'last complete',
      status.lastCompleteAt === null
        ? 'never'
        : `${status.lastCompleteAt}: ${status.lastCompleteRenewed} renewed, ${status.lastCompleteFailed} failed`,
    ],
    [
      'in progress',
      status.run === null
        ? 'no'
        : `since ${status.run.startedAt}: ${status.run.renewed} renewed, ${status.run.failed} failed, up to inode ` +
          `${status.run.cursor}${status.jobId === null ? ' (resumes at the next start or renew)' : ` (job ${status.jobId})`}`,
    ],
  ];
  return keyValueTable(rows);
}

/** `riverfs leases` (where renewal stands) and `riverfs leases renew` (renew every referenced cap's lease now). */
export function leasesCommand(): Command {
  const leases = addAdminApiOptions(
    new Command('leases').description(
      'Tahoe lease renewal of every cap the filesystem references: the last complete run and the one in progress',
    ),
  ).action(async (_options: unknown, command: Command) => {
    await runAdminAction(command, async () => {
      const { client, json } = adminContext(command);
      const status = await client.leases();
      if (json) {
        printJson(status);
      } else {
        process.stdout.write(formatLeases(status));
      }
      return EXIT.OK;
    });
  });
  leases.addCommand(
    addAdminApiOptions(
      new Command('renew')
        .description(
          'Renew the lease of every cap now (resuming a run a restart cut short); waits for it unless --no-wait',
        )
        .option('--wait', 'wait for the job to end, showing its progress (the default)')
        .option('--no-wait', 'only start the job and print its id'),
    ).action(async (options: { wait?: boolean }, command: Command) => {
      await runAdminAction(command, async () =>
        runJob(adminContext(command), 'lease-renewal', {}, options.wait ?? true),
      );
    }),
  );
  return leases;
}
