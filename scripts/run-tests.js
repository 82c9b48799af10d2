#!/usr/bin/env node
'use strict';
/**
 * `npm test`: one local Tahoe grid for the whole run, then two Jest phases on it:
 *   1. unit + integration suites, in parallel workers;
 *   2. fault suites (test/fault), one at a time, because they stop and kill grid nodes that every other suite
 *      relies on.
 * Extra arguments (`npm test -- test/integration/x.int-spec.ts`) run just those, in one phase.
 * It ends with a plain "N passed, N failed" line summing both phases.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const jest = path.join(root, 'node_modules', 'jest', 'bin', 'jest.js');
const extra = process.argv.slice(2);

function runJest(args, label) {
  const report = path.join(os.tmpdir(), `riverfs-jest-${process.pid}-${label}.json`);
  const result = spawnSync(
    process.execPath,
    [jest, '--config', path.join(root, 'jest.config.js'), '--json', `--outputFile=${report}`, ...args],
    {
      cwd: root,
      stdio: 'inherit',
      env: process.env,
    },
  );
  let passed = 0;
  let failed = 0;
  try {
    const summary = JSON.parse(fs.readFileSync(report, 'utf8'));
    passed = summary.numPassedTests;
    failed = summary.numFailedTests + (summary.numRuntimeErrorTestSuites || 0);
    fs.rmSync(report, { force: true });
  } catch {
    failed += 1;
  }
  return { status: result.status ?? 1, passed, failed };
}

async function main() {
  let createdDir;
  if (process.env.RIVERFS_TEST_GRID !== 'off' && !process.env.RIVERFS_TEST_GRID_DIR) {
    // Phase 1's global setup creates the grid here and, because the directory was given, leaves it running for
    // phase 2; this script stops it at the end with the product's own `riverfs grid stop`.
    createdDir = path.join(os.tmpdir(), `riverfs-test-grid-${process.pid}-${Date.now().toString(36)}`);
    process.env.RIVERFS_TEST_GRID_DIR = createdDir;
  }
  const phases = [];
  try {
    if (extra.length > 0) {
      phases.push(runJest(extra, 'selected'));
    } else {
      phases.push(runJest(['--selectProjects', 'unit', 'integration'], 'parallel'));
      phases.push(runJest(['--selectProjects', 'fault', '--runInBand'], 'fault'));
    }
  } finally {
    if (createdDir) {
      const stopped = spawnSync(
        process.execPath,
        [path.join(root, 'bin', 'riverfs.js'), 'grid', 'stop', '--grid-dir', createdDir],
        {
          cwd: root,
          stdio: 'inherit',
          env: process.env,
        },
      );
      if (stopped.status !== 0) {
        phases.push({ status: 1, passed: 0, failed: 1 });
      }
      fs.rmSync(createdDir, { recursive: true, force: true });
    }
  }
  const passed = phases.reduce((sum, phase) => sum + phase.passed, 0);
  const failed = phases.reduce((sum, phase) => sum + phase.failed, 0);
  const status = phases.some((phase) => phase.status !== 0) || failed > 0 ? 1 : 0;
  process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
  process.exit(status);
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack ? error.stack : String(error)}\n`);
  process.exit(1);
});
