import fs from 'node:fs';

/** Pids of every `tahoe run` process whose command line names `dir` or a directory under it. */
export function tahoeProcessesUnder(gridDir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    try {
      const args = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (
        state !== 'Z' &&
        args.includes('run') &&
        args.some((arg) => arg === gridDir || arg.startsWith(`${gridDir}/`))
      ) {
        pids.push(Number(entry));
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return pids.sort((a, b) => a - b);
}
