#!/usr/bin/env node
'use strict';
// The compiled CLI lives in dist/; `npm run build` (run by `npm start` and `npm test`) produces it.
const { main } = require('../dist/src/cli/main.js');
main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`riverfs: ${error && error.stack ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
