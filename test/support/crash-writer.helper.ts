import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';

/**
 * A writer for crash tests, run in a child Node process of its own: when the mount it writes to dies (kill -9 of
 * RiverFS), its system calls fail with ENOTCONN and it exits, instead of the test process hanging in them.
 *
 * It follows a plan of steps and appends to a journal OUTSIDE the mount, fsync'd after every line:
 *   {"op":"begin","path":P}                          before it opens P for writing (no promise yet)
 *   {"op":"closed","path":P,"sha256":H,"size":N}     only after close(2) of P returned: the promise
 *   {"op":"rename-begin","from":A,"to":B}            before rename(2)
 *   {"op":"renamed","from":A,"to":B}                 after rename(2) returned
 * Content is random bytes written in chunks (so a kill can land in the middle of a file). Paths are relative to
 * the mount point, '/'-separated.
 */
export type WriterStep =
  | { op: 'mkdir'; path: string }
  | { op: 'write'; path: string; size: number }
  | { op: 'rename'; from: string; to: string };

export type JournalEntry =
  | { op: 'begin'; path: string }
  | { op: 'closed'; path: string; sha256: string; size: number }
  | { op: 'rename-begin'; from: string; to: string }
  | { op: 'renamed'; from: string; to: string };

// Plain JavaScript for `node -e`: argv = mountpoint, journal file, plan file.
const WRITER_SOURCE = String.raw`
const fs = require('node:fs');
const path = require('node:path');
const { createHash, randomBytes } = require('node:crypto');
const [mountpoint, journalFile, planFile] = process.argv.slice(1);
const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
const journal = fs.openSync(journalFile, 'a');
const note = (entry) => {
  fs.writeSync(journal, JSON.stringify(entry) + '\n');
  fs.fsyncSync(journal);
};
const CHUNK = 1024 * 1024;
for (const step of plan) {
  if (step.op === 'mkdir') {
    fs.mkdirSync(path.join(mountpoint, step.path), { recursive: true });
  } else if (step.op === 'write') {
    note({ op: 'begin', path: step.path });
    const hash = createHash('sha256');
    const fd = fs.openSync(path.join(mountpoint, step.path), 'w');
    for (let offset = 0; offset < step.size; offset += CHUNK) {
      const chunk = randomBytes(Math.min(CHUNK, step.size - offset));
      hash.update(chunk);
      let written = 0;
      while (written < chunk.length) {
        written += fs.writeSync(fd, chunk, written, chunk.length - written);
      }
    }
    fs.closeSync(fd);
    note({ op: 'closed', path: step.path, sha256: hash.digest('hex'), size: step.size });
  } else if (step.op === 'rename') {
    note({ op: 'rename-begin', from: step.from, to: step.to });
    fs.renameSync(path.join(mountpoint, step.from), path.join(mountpoint, step.to));
    note({ op: 'renamed', from: step.from, to: step.to });
  }
}
fs.closeSync(journal);
`;

export interface CrashWriter {
  child: ChildProcess;
  /** Resolves when the writer has exited: its exit code and what it printed on stderr. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Starts the writer on `plan` (written to `planFile`), appending to `journalFile`. */
export function startCrashWriter(
  mountpoint: string,
  journalFile: string,
  planFile: string,
  plan: WriterStep[],
): CrashWriter {
  fs.writeFileSync(planFile, JSON.stringify(plan));
  const child = spawn(process.execPath, ['-e', WRITER_SOURCE, mountpoint, journalFile, planFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  return { child, exited };
}

/** The journal's entries; a torn last line (the writer cannot be killed mid-line, but to be safe) is ignored. */
export function readJournal(journalFile: string): JournalEntry[] {
  if (!fs.existsSync(journalFile)) {
    return [];
  }
  const entries: JournalEntry[] = [];
  for (const line of fs.readFileSync(journalFile, 'utf8').split('\n')) {
    if (line.trim() === '') {
      continue;
    }
    try {
      entries.push(JSON.parse(line) as JournalEntry);
    } catch {
      // Only a last, partial line can fail to parse.
    }
  }
  return entries;
}

/** What the journal promises: a closed file is at `paths[0]`, or, when a rename's outcome is unknown, at exactly one of `paths`. */
export interface PromisedFile {
  paths: string[];
  sha256: string;
  size: number;
}

/**
 * Every closed file the journal promises, at the path(s) it must be found under. A rename whose return was journaled
 * moves the promise; one begun but never confirmed (the mount died during it) leaves the file at either name.
 */
export function promisedFiles(entries: JournalEntry[]): PromisedFile[] {
  const byPath = new Map<string, PromisedFile>();
  const pendingRenames: { from: string; to: string }[] = [];
  for (const entry of entries) {
    switch (entry.op) {
      case 'begin':
        // A new writing of this path replaces whatever promise it had (the plans never reuse a closed name).
        break;
      case 'closed':
        byPath.set(entry.path, { paths: [entry.path], sha256: entry.sha256, size: entry.size });
        break;
      case 'rename-begin':
        pendingRenames.push({ from: entry.from, to: entry.to });
        break;
      case 'renamed': {
        const index = pendingRenames.findIndex((rename) => rename.from === entry.from && rename.to === entry.to);
        pendingRenames.splice(index, 1);
        const file = byPath.get(entry.from);
        if (file !== undefined) {
          byPath.delete(entry.from);
          byPath.set(entry.to, { ...file, paths: [entry.to] });
        }
        break;
      }
    }
  }
  for (const rename of pendingRenames) {
    const file = byPath.get(rename.from);
    if (file !== undefined) {
      byPath.delete(rename.from);
      byPath.set(rename.to, { ...file, paths: [rename.from, rename.to] });
    }
  }
  return [...byPath.values()];
}
