/**
 * The file-by-file workloads, run in a process of their own against a directory (so the harness keeps draining the
 * output of the FUSE servers it started while the calls block). `node fs-workload.js <op> <args…>` prints one JSON
 * object: {"seconds": …} of the timed part.
 *   small <root> <create|stat|read|unlink> <files> <dirs> <size> [tag]   N files over D directories (tag: see unique-data)
 *   random <file> <reads> <blockSize> <seed>                        random aligned preads
 *   scale-create <dir> <n>                                          n empty files in one directory
 *   scale-list <dir>                                                readdir, then lstat of every entry (ls -l)
 */
import fs from 'node:fs';
import path from 'node:path';
import { seededRandom } from '../test/support/seeded-random';
import { smallFilePayload } from './unique-data';

function timed(work: () => void): number {
  const started = process.hrtime.bigint();
  work();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function smallFiles(root: string, phase: string, files: number, dirs: number, size: number, tag: string): number {
  const pathOf = (index: number): string => path.join(root, `d${index % dirs}`, `f${index}`);
  switch (phase) {
    case 'create':
      return timed(() => {
        for (let d = 0; d < dirs; d++) {
          fs.mkdirSync(path.join(root, `d${d}`), { recursive: true });
        }
        for (let i = 0; i < files; i++) {
          fs.writeFileSync(pathOf(i), smallFilePayload(size, tag, i));
        }
      });
    case 'stat':
      return timed(() => {
        for (let i = 0; i < files; i++) {
          if (fs.statSync(pathOf(i)).size !== size) {
            throw new Error(`wrong size of ${pathOf(i)}`);
          }
        }
      });
    case 'read':
      return timed(() => {
        for (let i = 0; i < files; i++) {
          if (fs.readFileSync(pathOf(i)).length !== size) {
            throw new Error(`short read of ${pathOf(i)}`);
          }
        }
      });
    case 'unlink':
      return timed(() => {
        for (let i = 0; i < files; i++) {
          fs.unlinkSync(pathOf(i));
        }
        for (let d = 0; d < dirs; d++) {
          fs.rmdirSync(path.join(root, `d${d}`));
        }
      });
    default:
      throw new Error(`unknown small-file phase ${phase}`);
  }
}

function randomReads(file: string, reads: number, blockSize: number, seed: number): number {
  const blocks = Math.floor(fs.statSync(file).size / blockSize);
  const random = seededRandom(seed);
  const buffer = Buffer.alloc(blockSize);
  const fd = fs.openSync(file, 'r');
  try {
    return timed(() => {
      for (let i = 0; i < reads; i++) {
        const position = Math.floor(random() * blocks) * blockSize;
        if (fs.readSync(fd, buffer, 0, blockSize, position) !== blockSize) {
          throw new Error(`short read at ${position}`);
        }
      }
    });
  } finally {
    fs.closeSync(fd);
  }
}

function scaleCreate(dir: string, count: number): number {
  fs.mkdirSync(dir, { recursive: true });
  return timed(() => {
    for (let i = 0; i < count; i++) {
      fs.closeSync(fs.openSync(path.join(dir, `entry-${i}`), 'w'));
    }
  });
}

function scaleList(dir: string): number {
  let entries = 0;
  const seconds = timed(() => {
    for (const name of fs.readdirSync(dir)) {
      fs.lstatSync(path.join(dir, name));
      entries++;
    }
  });
  if (entries === 0) {
    throw new Error(`${dir} is empty`);
  }
  return seconds;
}

function main(): void {
  const [op, ...args] = process.argv.slice(2);
  let seconds: number;
  switch (op) {
    case 'small':
      seconds = smallFiles(args[0], args[1], Number(args[2]), Number(args[3]), Number(args[4]), args[5] ?? '');
      break;
    case 'random':
      seconds = randomReads(args[0], Number(args[1]), Number(args[2]), Number(args[3]));
      break;
    case 'scale-create':
      seconds = scaleCreate(args[0], Number(args[1]));
      break;
    case 'scale-list':
      seconds = scaleList(args[0]);
      break;
    default:
      throw new Error(`usage: fs-workload <small|random|scale-create|scale-list> …`);
  }
  process.stdout.write(JSON.stringify({ seconds }) + '\n');
}

main();
