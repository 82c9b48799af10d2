/**
 * The small-file workload, run in its own process against one directory (so the filesystem under test may be a
 * FUSE mount served by another process): create N files of `size` bytes spread over D directories, then stat,
 * read and unlink them all. Prints one JSON object: operations per second of each phase.
 */
import fs from 'node:fs';
import path from 'node:path';

function timed(work: () => void): number {
  const started = process.hrtime.bigint();
  work();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function main(): void {
  const [root, filesText, dirsText, sizeText] = process.argv.slice(2);
  const files = Number(filesText);
  const dirs = Number(dirsText);
  const size = Number(sizeText);
  if (!root || !files || !dirs || !size) {
    throw new Error('usage: small-files-workload <dir> <files> <dirs> <size>');
  }
  const payload = Buffer.alloc(size, 0x61);
  const pathOf = (index: number): string => path.join(root, `d${index % dirs}`, `f${index}`);
  for (let d = 0; d < dirs; d++) {
    fs.mkdirSync(path.join(root, `d${d}`), { recursive: true });
  }
  const create = timed(() => {
    for (let i = 0; i < files; i++) {
      fs.writeFileSync(pathOf(i), payload);
    }
  });
  const stat = timed(() => {
    for (let i = 0; i < files; i++) {
      fs.statSync(pathOf(i));
    }
  });
  const read = timed(() => {
    for (let i = 0; i < files; i++) {
      if (fs.readFileSync(pathOf(i)).length !== size) {
        throw new Error(`short read of ${pathOf(i)}`);
      }
    }
  });
  const unlink = timed(() => {
    for (let i = 0; i < files; i++) {
      fs.unlinkSync(pathOf(i));
    }
  });
  for (let d = 0; d < dirs; d++) {
    fs.rmdirSync(path.join(root, `d${d}`));
  }
  process.stdout.write(
    JSON.stringify({
      createPerSecond: files / create,
      statPerSecond: files / stat,
      readPerSecond: files / read,
      unlinkPerSecond: files / unlink,
    }) + '\n',
  );
}

main();
