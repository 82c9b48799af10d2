#!/usr/bin/env node
'use strict';
/**
 * Rebuilds fuse-native's addon after patch-package has applied patches/fuse-native+2.2.6.patch (run by
 * `postinstall`). The patched JS refuses to load with the prebuilt binary, so the rebuild is not optional.
 * Node's headers are taken from this Node installation: node-gyp would otherwise download them, and only the
 * package registries are reachable from our machines.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const addonDir = path.join(__dirname, '..', 'node_modules', 'fuse-native');
if (!fs.existsSync(addonDir)) {
  process.exit(0);
}
const nodeDir = path.resolve(process.execPath, '..', '..');
const args = ['rebuild', `--directory=${addonDir}`];
if (fs.existsSync(path.join(nodeDir, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${nodeDir}`);
}
const result = spawnSync('node-gyp', args, { stdio: 'inherit', shell: false });
if (result.error || result.status !== 0) {
  process.stderr.write(
    `fuse-native could not be rebuilt (${result.error ? result.error.message : `exit ${result.status}`}): ` +
      'it needs gcc, g++, make and python3 (Debian: build-essential python3)\n',
  );
  process.exit(1);
}
