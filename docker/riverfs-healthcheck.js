#!/usr/bin/env node
'use strict';
/**
 * Health check of the gateway image: exit 0 when GET /health/ready answers 200 (database, state store, grid and
 * mount all up), 1 otherwise, printing why. The address is HEALTH_URL, else RIVERFS_LISTEN with a wildcard
 * host probed on loopback. The health endpoints need no token.
 */
const listen = process.env.RIVERFS_LISTEN || '127.0.0.1:7878';
const separator = listen.lastIndexOf(':');
let host = listen.slice(0, separator);
const port = listen.slice(separator + 1);
if (host === '' || host === '0.0.0.0' || host === '::' || host === '[::]') {
  host = '127.0.0.1';
}
const url = process.env.HEALTH_URL || `http://${host}:${port}/health/ready`;

fetch(url, { signal: AbortSignal.timeout(4000) }).then(
  async (answer) => {
    const body = await answer.text();
    if (answer.status === 200) {
      process.stdout.write('healthy\n');
      process.exitCode = 0;
    } else {
      process.stdout.write(`unhealthy: ${url} answered ${answer.status}: ${body.slice(0, 500)}\n`);
      process.exitCode = 1;
    }
  },
  (error) => {
    process.stdout.write(`unhealthy: ${url}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
