import fs from 'node:fs';
import path from 'node:path';

/**
 * Starts a Tahoe process (`create-*`, `run`) with umask 077, so that what it writes (node keys, furls, the introducer
 * cache with the storage servers' furls, the API token) is private from creation on; Tahoe itself writes most of
 * them with the mode the umask leaves, 0644 under the usual 022. Only the start is wrapped: a child takes the umask at
 * fork, which spawn() does before returning, so the process's own umask is back at once.
 */
export function withPrivateUmask<T>(start: () => T): T {
  const previous = process.umask(0o077);
  try {
    return start();
  } finally {
    process.umask(previous);
  }
}

/**
 * Narrows a node's `private/` directory to 0700 and every file in it to 0600: a node made before RiverFS started
 * Tahoe with a private umask (or by another tool) holds them 0644.
 */
export function protectNodeSecrets(nodeDir: string): void {
  const privateDir = path.join(nodeDir, 'private');
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(privateDir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return;
    }
    throw error;
  }
  narrowMode(privateDir, 0o700);
  for (const entry of entries.filter((candidate) => candidate.isFile())) {
    narrowMode(path.join(privateDir, entry.name), 0o600);
  }
}

function narrowMode(file: string, mode: number): void {
  if ((fs.statSync(file).mode & 0o777) !== mode) {
    fs.chmodSync(file, mode);
  }
}
