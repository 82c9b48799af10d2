import fs from 'node:fs';
import path from 'node:path';

/** The version in package.json, found from both src/ (tests) and dist/src/ (the built CLI). */
export function packageVersion(): string {
  for (const candidate of [
    path.join(__dirname, '..', '..', 'package.json'),
    path.join(__dirname, '..', '..', '..', 'package.json'),
  ]) {
    try {
      const parsed = JSON.parse(fs.readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (parsed.name === 'riverfs' && parsed.version) {
        return parsed.version;
      }
    } catch {
      // Try the next location.
    }
  }
  return '0.0.0-unknown';
}
