#!/usr/bin/env node
'use strict';
/**
 * Builds the FUSE low-level addon in packages/fuse-lowlevel (run by `postinstall`, after fuse-native's rebuild).
 * It links the system's libfuse 3 (Debian: libfuse3-dev), found through pkg-config. Built in its own directory,
 * never inside node_modules. Node's headers are taken from this Node installation, as in build-fuse-native.js.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const addonDir = path.join(__dirname, '..', 'packages', 'fuse-lowlevel');
const nodeDir = path.resolve(process.execPath, '..', '..');
const args = ['rebuild', `--directory=${addonDir}`];
if (fs.existsSync(path.join(nodeDir, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${nodeDir}`);
}
const pkgConfig = spawnSync('pkg-config', ['--exists', 'fuse3'], { stdio: 'ignore' });
if (pkgConfig.error || pkgConfig.status !== 0) {
  process.stderr.write(
    'the FUSE low-level addon needs libfuse 3 headers and pkg-config (Debian: libfuse3-dev pkg-config)\n',
  );
  process.exit(1);
}
// Under npm, npm_config_node_gyp names npm's own node-gyp; run by hand, the one bundled with this Node's npm.
const bundled = path.join(nodeDir, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const nodeGyp = process.env.npm_config_node_gyp || (fs.existsSync(bundled) ? bundled : undefined);
const result = nodeGyp
  ? spawnSync(process.execPath, [nodeGyp, ...args], { stdio: 'inherit', shell: false })
  : spawnSync('node-gyp', args, { stdio: 'inherit', shell: false });
if (result.error || result.status !== 0) {
  process.stderr.write(
    `the FUSE low-level addon could not be built (${result.error ? result.error.message : `exit ${result.status}`}): ` +
      'it needs gcc, make, python3, pkg-config and libfuse3-dev\n',
  );
  process.exit(1);
}
