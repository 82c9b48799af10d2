import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** The file in a data directory that names it (and so the block cache and gateway that live there). */
export const DATA_DIRECTORY_ID_FILE = 'gateway-id';

const ID_PATTERN = /^[0-9a-f]{32}$/;

/**
 * The data directory's id: 128 random bits kept in `<dataDir>/gateway-id` (0600), created on first use. It is what
 * the filesystem lease and the owner of dirty content are keyed by, rather than the path: the same path on another
 * host, or a data directory that was wiped and recreated, is another cache and must not count as this one. Two
 * processes creating it at once agree: the file appears whole (written aside, then hard-linked into place), and the
 * loser reads the winner's.
 */
export function ensureDataDirectoryId(dataDir: string): string {
  const file = path.join(dataDir, DATA_DIRECTORY_ID_FILE);
  const existing = readDataDirectoryId(dataDir);
  if (existing !== undefined) {
    return existing;
  }
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  fs.writeFileSync(draft, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(draft, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw error;
    }
  } finally {
    fs.rmSync(draft, { force: true });
  }
  const id = readDataDirectoryId(dataDir);
  if (id === undefined) {
    throw new Error(`${file} does not hold a data directory id (32 hex digits)`);
  }
  return id;
}

/** The id kept in `dataDir`, or undefined when it has none yet; a file with anything else in it is an error. */
export function readDataDirectoryId(dataDir: string): string | undefined {
  const file = path.join(dataDir, DATA_DIRECTORY_ID_FILE);
  let content: string;
  try {
    content = fs.readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw error;
  }
  if (!ID_PATTERN.test(content)) {
    throw new Error(`${file} does not hold a data directory id (32 hex digits): remove it to make a new one`);
  }
  return content;
}
