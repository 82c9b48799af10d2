import { Command } from 'commander';
import { addAdminApiOptions, adminContext, runAdminAction } from './admin-command.util';
import { runJob } from './jobs.command';

/** `riverfs check [path] [--repair] [--deep]`: a check job, followed to its end (exit 1 when something is unhealthy). */
export function checkCommand(): Command {
  return addAdminApiOptions(
    new Command('check')
      .description(
        'Check the shares of a file or directory in Tahoe (the root without a path): shares found and needed, ' +
          'servers, healthy, recoverable; exits 1 when something is not healthy (after the repair, with --repair)',
      )
      .argument('[path|ino]', 'a path (see Paths below) or an inode number')
      .option('--repair', 'repair what is not healthy')
      .option('--deep', 'for a directory: everything below it too')
      .option('--no-wait', 'only start the job and print its id'),
    { paths: true },
  ).action(
    async (
      argument: string | undefined,
      options: { repair?: boolean; deep?: boolean; wait?: boolean },
      command: Command,
    ) => {
      await runAdminAction(command, async () => {
        const context = adminContext(command);
        const target = argument === undefined ? {} : await context.target(argument);
        const body = { ...target, repair: options.repair === true, deep: options.deep === true };
        const code = await runJob(context, 'check', body, options.wait ?? true);
        if (code !== 0 || options.wait === false) {
          return code;
        }
        const job = (await context.client.jobs({ kind: 'check', limit: 1 }))[0];
        const result = job?.result as { unhealthy?: number } | null | undefined;
        return (result?.unhealthy ?? 0) > 0 ? 1 : 0;
      });
    },
  );
}
