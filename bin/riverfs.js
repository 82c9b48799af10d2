#!/usr/bin/env node
'use strict';
// The compiled CLI lives in dist/; `npm run build` (run by `npm start` and `npm test`) produces it.
require('../dist/src/cli/main.js');
