/**
 * `npm run openapi:generate` writes openapi.json at the repository root from the application's controllers and
 * DTOs (no server, no database, no grid); `npm run openapi:check` is CI's drift check: it fails, showing the
 * command to run, when the committed file differs from what the code describes.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { offlineOpenApiDocument } from '../src/http/openapi.util';

const FILE = path.join(__dirname, '..', '..', '..', 'openapi.json');

async function render(): Promise<string> {
  const document = await offlineOpenApiDocument();
  // Formatted as `prettier --check .` expects it, so the committed file passes the format check too.
  const options = (await prettier.resolveConfig(FILE)) ?? {};
  return prettier.format(JSON.stringify(document), { ...options, parser: 'json', filepath: FILE });
}

async function main(mode: string | undefined): Promise<number> {
  const text = await render();
  if (mode === 'generate') {
    fs.writeFileSync(FILE, text);
    console.log(`wrote ${FILE}`);
    return 0;
  }
  if (mode === 'check') {
    const committed = fs.existsSync(FILE) ? fs.readFileSync(FILE, 'utf8') : '';
    if (committed === text) {
      console.log('openapi.json matches the code');
      return 0;
    }
    console.error('openapi.json differs from what the code describes; regenerate it with: npm run openapi:generate');
    return 1;
  }
  console.error('usage: openapi.js generate|check');
  return 2;
}

main(process.argv[2]).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error('openapi failed:', error);
    process.exitCode = 2;
  },
);
