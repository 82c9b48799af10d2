import fs from 'node:fs';
import path from 'node:path';
import { withConfigTable } from './config-table';

describe('the README configuration table', () => {
  it('should match the settings the loader knows (run `npm run docs:config` after changing them)', () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    expect(withConfigTable(readme)).toBe(readme);
  });
});
