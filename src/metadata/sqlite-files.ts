import fs from 'node:fs';
import path from 'node:path';

/** The files SQLite keeps beside a database: each holds rows of it (so the root cap) while it exists. */
const COMPANIONS = ['-wal', '-shm', '-journal'];

/**
 * Makes a SQLite database private before it is opened: its directory is created 0700, the file itself is created
 * 0600 when missing, and an existing one (with its -wal, -shm and -journal) narrowed to 0600. SQLite gives the
 * -wal, -shm and -journal it creates later the database file's own mode, so they are 0600 from creation on.
 * The database holds the root write cap, and `--db sqlite:PATH` may put it in a directory others can read.
 */
export function protectSqliteFiles(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.closeSync(fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600));
  for (const name of [file, ...COMPANIONS.map((suffix) => file + suffix)]) {
    try {
      if ((fs.statSync(name).mode & 0o077) !== 0) {
        fs.chmodSync(name, 0o600);
      }
    } catch (error) {
      // EPERM: another user's database, opened by a tool (fsck); its owner's next start narrows it.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EPERM') {
        throw error;
      }
    }
  }
}
