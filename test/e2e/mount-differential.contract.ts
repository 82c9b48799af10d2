import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { FreshStatter, type FreshStatResult } from '../support/fresh-stat.helper';
import { errnoOf, randomBytesFrom, seededRandom } from '../support/fs-probe.helper';
import { type MountBackend, useSuiteMount } from '../support/mount-backends.helper';
import { type TreeEntry, comparable, snapshotTree } from '../support/tree-snapshot.helper';

/*
 * The differential test: one random sequence of filesystem calls applied to the mount and to a local directory, the
 * answers (results, errnos, data read) and the attributes of every path the call touched (type, mode, nlink, size)
 * compared after every step, and the whole trees (adding contents, symlink targets and which names share an inode)
 * every TREE_EVERY steps and at the end.
 *
 * Replay a failure with the command it prints:
 *   RIVERFS_DIFF_SEED=<seed> RIVERFS_DIFF_PATH=<path> npm run build && node scripts/run-tests.js <spec file>
 * RIVERFS_DIFF_RUNS and RIVERFS_DIFF_OPS change how many sequences of how many calls run;
 * RIVERFS_DIFF_SHRINK=1 lets fast-check shrink a failing sequence (slow: every attempt replays it on the mount).
 */

const MiB = 1024 * 1024;
const TREE_EVERY = 100;
const SEED = process.env.RIVERFS_DIFF_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.RIVERFS_DIFF_SEED);
const REPLAY_PATH = process.env.RIVERFS_DIFF_PATH;
const { O_WRONLY, O_CREAT, O_EXCL, O_APPEND, O_TRUNC } = fs.constants;

type Op =
  | { kind: 'create'; path: string; mode: number; exclusive: boolean }
  | {
      kind: 'write';
      path: string;
      offset: number;
      length: number;
      seed: number;
      how: 'at' | 'append' | 'truncate';
      create: boolean;
    }
  | { kind: 'truncate'; path: string; size: number }
  | { kind: 'read'; path: string; offset: number; length: number }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'link'; from: string; to: string }
  | { kind: 'unlink'; path: string }
  | { kind: 'mkdir'; path: string; mode: number }
  | { kind: 'rmdir'; path: string }
  | { kind: 'chmod'; path: string; mode: number }
  | { kind: 'symlink'; target: string; path: string }
  | { kind: 'readdir'; path: string };

// A small namespace, so that calls often meet what earlier calls made: files are mostly named f, g, h and
// directories d, e, but every call sometimes gets the other kind (for EISDIR, ENOTDIR, ENOTEMPTY and friends).
const dirName = fc.constantFrom('d', 'e');
const fileName = fc.constantFrom('f', 'g', 'h');
const dirPath = fc.oneof(
  { weight: 3, arbitrary: dirName },
  { weight: 1, arbitrary: fc.tuple(dirName, dirName).map((parts) => parts.join('/')) },
);
const filePath = fc.oneof(
  { weight: 3, arbitrary: fileName },
  { weight: 3, arbitrary: fc.tuple(dirName, fileName).map((parts) => parts.join('/')) },
  { weight: 1, arbitrary: fc.tuple(dirName, dirName, fileName).map((parts) => parts.join('/')) },
);
const anyPath = fc.oneof({ weight: 4, arbitrary: filePath }, { weight: 1, arbitrary: dirPath });
const mostlyFile = fc.oneof({ weight: 9, arbitrary: filePath }, { weight: 1, arbitrary: dirPath });
const mostlyDir = fc.oneof({ weight: 9, arbitrary: dirPath }, { weight: 1, arbitrary: filePath });
// Relative targets only: the two trees live in different places.
const targetArb = fc.constantFrom('f', 'g', 'd', 'd/f', 'e/g', '../f', '../d', 'nowhere', 'e/../f', 'h');
const offsetArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 5000 }) },
  { weight: 2, arbitrary: fc.integer({ min: MiB - 200, max: MiB + 200 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 * MiB }) },
);
const lengthArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 5000 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 200_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: MiB - 10, max: MiB + 300_000 }) },
);
const modeArb = fc.oneof(fc.constantFrom(0o644, 0o600, 0o755, 0o777), fc.integer({ min: 0, max: 0o7777 }));

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('create'), path: mostlyFile, mode: modeArb, exclusive: fc.boolean() }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('write'),
      path: mostlyFile,
      offset: offsetArb,
      length: lengthArb,
      seed: fc.nat(),
      how: fc.constantFrom('at', 'at', 'append', 'truncate'),
      create: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate'), path: mostlyFile, size: offsetArb }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('read'), path: mostlyFile, offset: offsetArb, length: lengthArb }),
  },
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.record({ kind: fc.constant('rename'), from: filePath, to: filePath }),
      fc.record({ kind: fc.constant('rename'), from: dirPath, to: dirPath }),
      fc.record({ kind: fc.constant('rename'), from: anyPath, to: anyPath }),
    ),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('link'), from: mostlyFile, to: filePath }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('unlink'), path: mostlyFile }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('mkdir'), path: mostlyDir, mode: modeArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rmdir'), path: mostlyDir }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('chmod'), path: anyPath, mode: modeArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('symlink'), target: targetArb, path: filePath }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('readdir'), path: mostlyDir }) },
);

function describeOp(op: Op): string {
  return JSON.stringify(op);
}

/** The paths a call touched, and their parents (whose nlink and entries change). */
function touched(op: Op): string[] {
  const paths = 'from' in op ? [op.from, op.to] : [op.path];
  const withParents = paths.flatMap((p) => [p, path.dirname(p)]).filter((p) => p !== '.');
  return [...new Set(withParents)];
}

function digest(data: Buffer): string {
  return `${data.length}:${createHash('sha1').update(data).digest('hex').slice(0, 16)}`;
}

/** Runs one call under `root` and returns what it answered, as a string to compare. */
function apply(root: string, op: Op): string {
  const at = (p: string): string => path.join(root, p);
  let result = '';
  const outcome = errnoOf(() => {
    switch (op.kind) {
      case 'create':
        fs.closeSync(fs.openSync(at(op.path), O_WRONLY | O_CREAT | (op.exclusive ? O_EXCL : 0), op.mode));
        return;
      case 'write': {
        const flags =
          O_WRONLY |
          (op.create ? O_CREAT : 0) |
          (op.how === 'append' ? O_APPEND : 0) |
          (op.how === 'truncate' ? O_TRUNC : 0);
        const fd = fs.openSync(at(op.path), flags, 0o644);
        try {
          const data = randomBytesFrom(seededRandom(op.seed), op.length);
          result = String(fs.writeSync(fd, data, 0, data.length, op.how === 'at' ? op.offset : null));
        } finally {
          fs.closeSync(fd);
        }
        return;
      }
      case 'truncate':
        fs.truncateSync(at(op.path), op.size);
        return;
      case 'read': {
        const fd = fs.openSync(at(op.path), 'r');
        try {
          const data = Buffer.alloc(op.length);
          const got = fs.readSync(fd, data, 0, op.length, op.offset);
          result = digest(data.subarray(0, got));
        } finally {
          fs.closeSync(fd);
        }
        return;
      }
      case 'rename':
        fs.renameSync(at(op.from), at(op.to));
        return;
      case 'link':
        fs.linkSync(at(op.from), at(op.to));
        return;
      case 'unlink':
        fs.unlinkSync(at(op.path));
        return;
      case 'mkdir':
        fs.mkdirSync(at(op.path), op.mode);
        return;
      case 'rmdir':
        fs.rmdirSync(at(op.path));
        return;
      case 'chmod':
        fs.chmodSync(at(op.path), op.mode);
        return;
      case 'symlink':
        fs.symlinkSync(op.target, at(op.path));
        return;
      case 'readdir':
        result = fs.readdirSync(at(op.path)).sort().join(',');
        return;
    }
  });
  return result === '' ? outcome : `${outcome} ${result}`;
}

type Attrs = { errno: string } | { type: number; mode: number; nlink: number; size: number | null };

function attrsOf(mode: number, nlink: number, size: number): Attrs {
  const type = mode & 0o170000;
  return { type, mode: mode & 0o7777, nlink, size: type === 0o040000 ? null : size };
}

function localAttrs(file: string): Attrs {
  try {
    const stat = fs.lstatSync(file);
    return attrsOf(stat.mode, stat.nlink, stat.size);
  } catch (error) {
    return { errno: (error as NodeJS.ErrnoException).code ?? String(error) };
  }
}

function mountAttrs(stat: FreshStatResult): Attrs {
  return 'errno' in stat ? { errno: stat.errno } : attrsOf(stat.mode, stat.nlink, stat.size);
}

const TREE_FIELDS = ['type', 'mode', 'nlink', 'size', 'sha256', 'target', 'links'] as const;

function tree(root: string): ReturnType<typeof comparable<(typeof TREE_FIELDS)[number]>> {
  return comparable(snapshotTree(root), TREE_FIELDS);
}

class Divergence extends Error {}

/**
 * The differential test on one backend: `runs` sequences of `ops` calls by default (RIVERFS_DIFF_RUNS and
 * RIVERFS_DIFF_OPS override both), `spec` being the file to name in the replay command.
 */
export function describeDifferential(
  backend: MountBackend,
  spec: string,
  defaults: { runs: number; ops: number },
): void {
  const runs = Number(process.env.RIVERFS_DIFF_RUNS ?? defaults.runs);
  const opsPerRun = Number(process.env.RIVERFS_DIFF_OPS ?? defaults.ops);

  describe(`the mount against a local directory (differential, random) on ${backend.title}`, () => {
    const m = useSuiteMount(backend, 'differential');
    let fresh: FreshStatter;

    beforeAll(() => {
      fresh = new FreshStatter();
    });

    afterAll(async () => {
      await fresh.close();
    });

    it('should answer every call of random sequences as a local filesystem does', async () => {
      const mountRoot = m().dir('differential');
      const localRoot = m().localDir('differential');
      let run = 0;
      let steps = 0;

      async function check(ops: Op[]): Promise<void> {
        run += 1;
        const mounted = path.join(mountRoot, `run-${run}`);
        const local = path.join(localRoot, `run-${run}`);
        fs.mkdirSync(mounted);
        fs.mkdirSync(local);
        const history: string[] = [];
        const diverged = (step: number, what: string, expected: unknown, actual: unknown): Divergence =>
          new Divergence(
            [
              `step ${step} of run ${run}: ${what} differs`,
              `  local: ${JSON.stringify(expected)}`,
              `  mount: ${JSON.stringify(actual)}`,
              'the calls up to it (most recent last):',
              ...history.slice(-25).map((line) => `  ${line}`),
            ].join('\n'),
          );
        for (const [index, op] of ops.entries()) {
          history.push(`${index}: ${describeOp(op)}`);
          steps += 1;
          if (op.kind === 'read') {
            // Reads go through the kernel's idea of the size, which for a name of a hard-linked file written through
            // another name is refreshed only when its attributes expire: ask RiverFS first (see FreshStatter).
            await fresh.stat(path.join(mounted, op.path));
          }
          const expected = apply(local, op);
          const actual = apply(mounted, op);
          if (actual !== expected) {
            throw diverged(index, 'the answer', expected, actual);
          }
          for (const p of touched(op)) {
            const want = localAttrs(path.join(local, p));
            const got = mountAttrs(await fresh.lstat(path.join(mounted, p)));
            if (JSON.stringify(got) !== JSON.stringify(want)) {
              throw diverged(index, `lstat of ${p}`, want, got);
            }
          }
          if ((index + 1) % TREE_EVERY === 0 || index === ops.length - 1) {
            const want = tree(local);
            const got = tree(mounted);
            if (JSON.stringify(got) !== JSON.stringify(want)) {
              const wantByPath = new Map(want.map((entry) => [entry.path, entry]));
              const first = got.find((entry) => JSON.stringify(entry) !== JSON.stringify(wantByPath.get(entry.path)));
              throw diverged(
                index,
                'the tree',
                first ? (wantByPath.get(first.path) ?? 'absent') : want.map((entry) => entry.path),
                first ?? got.map((entry: Pick<TreeEntry, 'path'>) => entry.path),
              );
            }
          }
        }
      }

      const details = await fc.check(
        fc.asyncProperty(fc.array(opArb, { minLength: opsPerRun, maxLength: opsPerRun }), async (ops) => {
          await check(ops);
        }),
        {
          seed: SEED,
          path: REPLAY_PATH,
          numRuns: runs,
          endOnFailure: process.env.RIVERFS_DIFF_SHRINK !== '1',
        },
      );

      if (details.failed) {
        const replay =
          `RIVERFS_DIFF_SEED=${details.seed} RIVERFS_DIFF_PATH=${details.counterexamplePath ?? ''} ` +
          `npm run build && node scripts/run-tests.js ${spec}`;
        const cause =
          details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
        throw new Error(
          `the mount diverged from the local directory (seed ${details.seed}).\n${cause}\n\nReplay: ${replay}`,
        );
      }
      expect(steps).toBeGreaterThanOrEqual(REPLAY_PATH === undefined ? runs * opsPerRun : opsPerRun);
    }, 600_000);
  });
}
