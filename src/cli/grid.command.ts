import { Command } from 'commander';
import { type LocalGridStatus } from '../grid/local-grid';
import { localGridFromConfig } from '../grid/local-grid.service';
import { addSettingOptions, configFromCommand } from './settings-options';
import { EXIT } from './exit-codes';

function printStatus(status: LocalGridStatus): void {
  const lines = [
    `grid directory: ${status.gridDir}`,
    `web API:        ${status.webUrl ?? '(no client node yet)'}`,
    `servers:        ${status.connectedServers ?? '?'} connected, ${status.happy} needed for happy uploads`,
    `state:          ${status.ready ? 'ready' : 'NOT ready'}`,
    '',
    'node        state     pid      port',
    ...status.nodes.map(
      (node) =>
        `${node.name.padEnd(11)} ${(node.created ? (node.running ? 'running' : 'stopped') : 'absent').padEnd(9)} ` +
        `${String(node.pid ?? '-').padEnd(8)} ${node.webPort ?? node.tubPort ?? '-'}${node.role === 'client' ? ' (web)' : ''}`,
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

export function gridCommand(): Command {
  const grid = new Command('grid').description(
    'Run the local Tahoe-LAFS grid (introducer, storage nodes, client node on 127.0.0.1) that the embedded default uses',
  );

  addSettingOptions(
    grid
      .command('start')
      .description('Create what is missing, start what is stopped, wait until uploads succeed; prints the web-API URL'),
  ).action(async (_options: unknown, command: Command) => {
    const config = configFromCommand(command);
    const localGrid = localGridFromConfig(config, (message) => process.stderr.write(`${message}\n`));
    const status = await localGrid.start();
    process.stderr.write(`grid ready: ${status.connectedServers} servers connected\n`);
    process.stdout.write(`${status.webUrl}\n`);
  });

  addSettingOptions(grid.command('stop').description('Stop every node of the local grid (its data stays)')).action(
    async (_options: unknown, command: Command) => {
      const config = configFromCommand(command);
      const localGrid = localGridFromConfig(config, (message) => process.stderr.write(`${message}\n`));
      await localGrid.stop();
      const after = await localGrid.status();
      const left = after.nodes.filter((node) => node.running);
      if (left.length > 0) {
        process.stderr.write(`still running: ${left.map((node) => `${node.name} (pid ${node.pid})`).join(', ')}\n`);
        process.exitCode = EXIT.FAILURE;
        return;
      }
      process.stderr.write('grid stopped\n');
    },
  );

  addSettingOptions(
    grid
      .command('status')
      .description('Show each node and whether uploads can succeed; exits 0 when ready, 3 when not')
      .option('--json', 'print the status as JSON'),
  ).action(async (options: { json?: boolean }, command: Command) => {
    const config = configFromCommand(command);
    const status = await localGridFromConfig(config).status();
    if (options.json) {
      process.stdout.write(JSON.stringify(status, null, 2) + '\n');
    } else {
      printStatus(status);
    }
    process.exitCode = status.ready ? EXIT.OK : EXIT.NOT_RUNNING;
  });

  return grid;
}
