#!/usr/bin/env node
'use strict';
// Regenerates the configuration table in README.md from src/config/config.schema.ts (via the build output).
const fs = require('node:fs');
const path = require('node:path');
const { withConfigTable } = require('../dist/src/config/config-table.js');

const readmePath = path.join(__dirname, '..', 'README.md');
fs.writeFileSync(readmePath, withConfigTable(fs.readFileSync(readmePath, 'utf8')));
