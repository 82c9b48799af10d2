import { Command } from 'commander';
import { dieWithLauncher, heapBoundGiven, runWithHeapBound } from './heap-bound';
import type { MountFlags } from './mount-runner';
import { addSettingOptions, configFromCommand } from './settings-options';

export function mountCommand(): Command {
  return addSettingOptions(
    new Command('mount')
      .description(
        'Mount RiverFS on an empty directory and serve it until SIGINT/SIGTERM or until the mount is removed from ' +
          'outside; exits 0 when everything reached Tahoe, 1 when something is left for the next start',
      )
      .argument('<mountpoint>', 'an existing, empty directory')
      .option('--allow-other', 'let other users use the mount (needs user_allow_other in /etc/fuse.conf when not root)')
      .option('--mkdir', 'create the mount point when it does not exist'),
  ).action(async (mountpoint: string, flags: MountFlags, command: Command) => {
    const config = configFromCommand(command);
    if (!heapBoundGiven(process.execArgv, process.env.NODE_OPTIONS)) {
      process.exit(await runWithHeapBound(config.maxHeap));
    }
    dieWithLauncher();
    const { runMount } = await import('./mount-runner');
    const code = await runMount(config, mountpoint, flags);
    // Exit now rather than when the event loop empties: after a shutdown, nothing (fuse-native's handle, which a
    // mount removed from outside never releases, a request the drain gave up on) may keep a gateway alive.
    process.exit(code);
  });
}
