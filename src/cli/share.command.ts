import { Command } from 'commander';
import { addAdminApiOptions, adminContext, runAdminAction } from './admin-command.util';
import { printJson } from './admin-output';
import { EXIT } from './exit-codes';

export function shareCommand(): Command {
  return addAdminApiOptions(
    new Command('share')
      .description(
        'Print the Tahoe read cap of a file or directory (the root without a path), to hand to someone; needs ' +
          'the cap-revealing token (--token, else adminRevealToken or <data-dir>/admin-reveal-token)',
      )
      .argument('[path|ino]', 'a path (see Paths below) or an inode number; the root when omitted')
      .option('--write', "a directory's write cap instead: whoever holds it can change the tree"),
    { paths: true },
  ).action(async (argument: string | undefined, options: { write?: boolean }, command: Command) => {
    await runAdminAction(command, async () => {
      // The reveal token is the only one the server accepts here.
      const { client, json, target } = adminContext(command, { reveal: true });
      const parsed = argument === undefined ? {} : await target(argument);
      const shared = await client.share(parsed, options.write === true);
      if (json) {
        printJson(shared);
      } else {
        process.stdout.write(`${shared.cap}\n`);
        if (!shared.current) {
          process.stderr.write(
            `riverfs: inode ${shared.ino} has changes not yet in Tahoe: the cap shows its last uploaded version\n`,
          );
        }
      }
      return EXIT.OK;
    });
  });
}
