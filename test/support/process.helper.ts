import fs from 'node:fs';
import { liveProcessArgs } from '../../src/grid/process.util';

/** Pids of every `tahoe run` process whose command line names `dir` or a directory under it. */
export function tahoeProcessesUnder(gridDir: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      const args = liveProcessArgs(pid);
      return (
        args !== undefined &&
        args.includes('run') &&
        args.some((arg) => arg === gridDir || arg.startsWith(`${gridDir}/`))
      );
    })
    .sort((a, b) => a - b);
}
