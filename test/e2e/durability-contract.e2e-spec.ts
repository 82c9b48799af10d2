import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pollUntil } from '../../src/grid/process.util';
import { python } from '../support/fs-probe.helper';
import { RiverFsProcess, withTempMountpoint } from '../support/fuse-mount.helper';

const j = path.join;

/** One fsync or fdatasync the gateway made, as strace saw it: when it ended (epoch seconds) and on which path. */
interface SyncCall {
  endedAt: number;
  path: string;
}

/**
 * A power cut cannot be made on demand here (no root block device to cut, no dm-log-writes in a container): what
 * survives one is what reached the disk through fsync/fdatasync before the reply. So strace records every sync call
 * of the serving process (all its threads: libuv's pool runs them), and the test checks which ones ran before close
 * and fsync answered.
 */
class SyncTrace {
  private stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly output: string,
  ) {}

  static async attach(pid: number): Promise<SyncTrace> {
    const output = j(fs.mkdtempSync(j(os.tmpdir(), 'riverfs-strace-')), 'trace');
    const child = spawn(
      'strace',
      ['-f', '-p', String(pid), '-e', 'trace=fsync,fdatasync', '-y', '-ttt', '-T', '-o', output],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const trace = new SyncTrace(child, output);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (trace.stderr += chunk));
    await pollUntil(() => (/attached/.test(trace.stderr) ? true : undefined), {
      timeoutMs: 20_000,
      intervalMs: 20,
      describeTimeout: () => `strace did not attach to ${pid}: ${trace.stderr}`,
    });
    return trace;
  }

  /** Detaches (strace writes out everything it saw) and returns the sync calls. */
  async stop(): Promise<SyncCall[]> {
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGINT');
    await exited;
    const calls: SyncCall[] = [];
    for (const line of fs.readFileSync(this.output, 'utf8').split('\n')) {
      // 1234 1796574919.597927 fdatasync(20</path/to/file>) = 0 <0.000417>
      const match = /^\d+\s+([\d.]+) f(?:data)?sync\(\d+<([^>]*)>\) = 0 <([\d.]+)>/.exec(line);
      if (match) {
        calls.push({ endedAt: Number(match[1]) + Number(match[3]), path: match[2] });
      }
    }
    fs.rmSync(path.dirname(this.output), { recursive: true, force: true });
    return calls;
  }
}

/** Wall-clock time in epoch seconds with sub-millisecond precision (strace's -ttt clock). */
function nowSeconds(): number {
  return (performance.timeOrigin + performance.now()) / 1000;
}

describe('the durability contract of a local filesystem (SQLite, writeback)', () => {
  it('should sync nothing for close, and sync the cache files, their directory and the SQLite WAL and database for fsync and fsyncdir', async () => {
    await withTempMountpoint(async (mountpoint) => {
      // A long sync delay: no upload (which syncs a block before naming it clean) runs during the test.
      const riverfs = await RiverFsProcess.start(mountpoint, { args: ['--sync-delay', '600'] });
      try {
        const database = j(riverfs.dataDir, 'riverfs.sqlite');
        const files = j(riverfs.dataDir, 'cache', 'blocks');
        const trace = await SyncTrace.attach(riverfs.pid!);

        // close: survives a crash of RiverFS (written and committed), with no sync at all.
        const closedStart = nowSeconds();
        fs.writeFileSync(j(mountpoint, 'closed.txt'), 'closed, not synced\n');
        fs.mkdirSync(j(mountpoint, 'made'));
        const closedEnd = nowSeconds();

        // fsync: survives a crash of the machine when it returns.
        const fd = fs.openSync(j(mountpoint, 'synced.bin'), 'w');
        fs.writeSync(fd, Buffer.alloc(70_000, 7));
        fs.fsyncSync(fd);
        const fsynced = nowSeconds();
        fs.closeSync(fd);
        const synced = fs.statSync(j(mountpoint, 'synced.bin')).ino;

        // fsyncdir: the directory's entries survive a crash of the machine.
        fs.writeFileSync(j(mountpoint, 'made', 'entry'), '');
        const afterEntry = nowSeconds();
        const dir = fs.openSync(j(mountpoint, 'made'), 'r');
        fs.fsyncSync(dir);
        const dirSynced = nowSeconds();
        fs.closeSync(dir);

        const calls = await trace.stop();
        const ours = (call: SyncCall): boolean => call.path.startsWith(files) || call.path.startsWith(database);
        const between = (from: number, to: number): string[] =>
          calls.filter((call) => ours(call) && call.endedAt >= from && call.endedAt <= to).map((call) => call.path);

        expect(between(closedStart, closedEnd)).toEqual([]);

        const forFsync = between(closedEnd, fsynced);
        // Its block file and the shard directory holding its name (cache-layout.ts: 1,024 inodes per shard).
        const shard = String(Math.floor(synced / 1024));
        expect(forFsync).toContain(j(files, shard, `${synced}.0.d`));
        expect(forFsync).toContain(j(files, shard));
        // The shard directory's own name in blocks/ (the directory is new).
        expect(forFsync).toContain(files);
        // The checkpoint: the WAL synced, then the database file it was copied into.
        expect(forFsync).toContain(`${database}-wal`);
        expect(forFsync).toContain(database);
        expect(forFsync.indexOf(`${database}-wal`)).toBeLessThan(forFsync.lastIndexOf(database));

        expect(between(afterEntry, dirSynced)).toEqual(expect.arrayContaining([`${database}-wal`, database]));

        // What the checkpoint left in the database file alone, without the WAL (whose unsynced tail a power cut may
        // take): the fsync'd file's size and the fsync'd directory's entry.
        const copy = j(fs.mkdtempSync(j(os.tmpdir(), 'riverfs-db-')), 'main.sqlite');
        fs.copyFileSync(database, copy);
        try {
          const made = fs.statSync(j(mountpoint, 'made')).ino;
          const [size, entries] = python<[number, number]>(
            'import json, sqlite3, sys; db = sqlite3.connect(sys.argv[1]); ' +
              'size = db.execute("SELECT size FROM inode WHERE ino = ?", (int(sys.argv[2]),)).fetchone()[0]; ' +
              'entries = db.execute("SELECT COUNT(*) FROM dir_entry WHERE parent = ?", (int(sys.argv[3]),)).fetchone()[0]; ' +
              'print(json.dumps([size, entries]))',
            [copy, String(synced), String(made)],
          );
          expect(size).toBe(70_000);
          expect(entries).toBe(1);
        } finally {
          fs.rmSync(path.dirname(copy), { recursive: true, force: true });
        }
      } finally {
        await riverfs.dispose();
      }
    });
  });
});
