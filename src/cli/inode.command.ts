import { Command } from 'commander';
import type { InodeDto } from '../admin/dto/inode.dto';
import type { SyncQueueItemDto } from '../admin/dto/sync.dto';
import { capAccessOf } from '../tahoe/cap.util';
import { addAdminApiOptions, adminContext, runAdminAction } from './admin-command.util';
import { formatBytes, keyValueTable, printJson } from './admin-output';
import { EXIT, UsageError } from './exit-codes';

function syncText(inode: InodeDto): string {
  const { sync } = inode;
  const dirty = [sync.dataDirty && 'data', sync.attrDirty && 'attributes', sync.entriesDirty && 'entries'].filter(
    (part): part is string => typeof part === 'string',
  );
  return [
    sync.state,
    dirty.length === 0
      ? 'nothing dirty'
      : `dirty: ${dirty.join(', ')}${sync.dirtySince ? ` since ${sync.dirtySince}` : ''}`,
    ...(sync.tries > 0 ? [`${sync.tries} failed attempt${sync.tries === 1 ? '' : 's'}`] : []),
  ].join('; ');
}

/** One queued task: "upload failed 3 times, retry at …", "publish pending, due at …", "upload running since …". */
function taskText(task: SyncQueueItemDto): string {
  const tries = `${task.tries} time${task.tries === 1 ? '' : 's'}`;
  if (task.state === 'failed') {
    return `${task.kind} failed ${tries}${task.nextAttemptAt ? `, retry at ${task.nextAttemptAt}` : ''}`;
  }
  const after = task.tries > 0 ? ` (failed ${tries} before)` : '';
  if (task.state === 'running') {
    return `${task.kind} running since ${task.since}${after}`;
  }
  return `${task.kind} ${task.state}${task.nextAttemptAt ? `, due at ${task.nextAttemptAt}` : ''}${after}`;
}

function workerText(inode: InodeDto): string {
  const { worker } = inode.sync;
  if (worker.state === 'unavailable') {
    return 'unavailable (this gateway has no sync worker)';
  }
  return worker.tasks.length === 0 ? 'idle (nothing queued)' : worker.tasks.map(taskText).join('; ');
}

function cacheText(inode: InodeDto): string {
  const cache = inode.cache;
  if (cache === null) {
    return '-';
  }
  const runs = cache.runs.map((run) => `${run.first}${run.last === run.first ? '' : `-${run.last}`} ${run.state}`);
  return (
    `${formatBytes(cache.cachedBytes)} cached (${cache.cachedBlocks}/${cache.blockCount} blocks of ` +
    `${formatBytes(cache.blockSize)}), ${formatBytes(cache.dirtyBytes)} dirty (${cache.dirtyBlocks} blocks)` +
    (runs.length === 0 ? '' : `; blocks ${runs.join(', ')}${cache.runsTruncated ? ', …' : ''}`)
  );
}

/**
 * The caps under the names of what they grant: the API's `writeCap` is the strongest cap synced, which for an
 * immutable (CHK or LIT) file is its read cap, since such a file has no write cap.
 */
function capRows(inode: InodeDto): [string, string][] {
  const { writeCap: strongest, readCap } = inode.caps;
  if (strongest === null) {
    return [['caps', readCap ?? '- (not in Tahoe yet)']];
  }
  const access = capAccessOf(strongest);
  if (access === 'write') {
    return [
      ['write cap', strongest],
      ['read cap', readCap ?? '-'],
    ];
  }
  const rows: [string, string][] = [[access === 'verify' ? 'verify cap' : 'read cap', strongest]];
  if (readCap !== null && readCap !== strongest) {
    rows.push(['read cap', readCap]);
  }
  return rows;
}

/** The last check in Tahoe, in one line: its verdict, shares found of needed and expected, servers, when. */
function checkText(inode: InodeDto): string {
  const { check } = inode;
  if (check === null) {
    return '- (never checked)';
  }
  const verdict = check.healthy ? 'healthy' : check.recoverable ? 'unhealthy (recoverable)' : 'unrecoverable';
  return (
    `${verdict}${check.repaired ? ', repaired' : ''}: ${check.sharesGood} shares ` +
    `(${check.sharesNeeded} needed of ${check.sharesExpected}) on ${check.servers} servers, at ${check.checkedAt}`
  );
}

/** The inode as a human reads it. */
export function formatInode(inode: InodeDto): string {
  const names =
    inode.paths.length === 0
      ? '(no name: unlinked)'
      : inode.paths.join('\n           ') +
        (inode.pathsComplete ? '' : '\n           … (search stopped at its budget)');
  const rows: [string, string][] = [
    ['inode', `${inode.ino} (${inode.type})`],
    ['names', names],
    ['mode', `${inode.modeOctal}  uid ${inode.uid}  gid ${inode.gid}  nlink ${inode.nlink}`],
    ['size', `${formatBytes(inode.size)}${inode.size >= 1024 ? ` (${inode.size} bytes)` : ''}`],
    ['mtime', inode.times.mtime.iso],
    ['ctime', inode.times.ctime.iso],
    ['atime', inode.times.atime.iso],
  ];
  if (inode.parent !== null) {
    rows.push(['parent', String(inode.parent)]);
  }
  rows.push(
    ['version', String(inode.contentVersion)],
    ['sync', syncText(inode)],
    ['worker', workerText(inode)],
    ['cache', cacheText(inode)],
    ...capRows(inode),
    ['check', checkText(inode)],
  );
  // The inode's own record first: it outlasts the queue; a task's error shows while the record has none yet.
  const lastError =
    inode.sync.lastError ?? inode.sync.worker.tasks.find((task) => task.lastError !== null)?.lastError ?? null;
  if (lastError !== null) {
    rows.push(['last error', lastError]);
  }
  return keyValueTable(rows);
}

export function inodeCommand(): Command {
  return addAdminApiOptions(
    new Command('inode')
      .description(
        'Inspect a file or directory: attributes, names, sync state, cached and dirty bytes, caps (redacted)',
      )
      .argument('<path|ino>', 'a path (see Paths below) or an inode number')
      .option(
        '--reveal',
        'show caps unredacted; needs the cap-revealing token (--token, else adminRevealToken or <data-dir>/admin-reveal-token)',
      ),
    { paths: true },
  ).action(async (argument: string, options: { reveal?: boolean }, command: Command) => {
    await runAdminAction(command, async () => {
      const { client, json, target } = adminContext(command, { reveal: options.reveal === true });
      const parsed = await target(argument);
      if (parsed.path === undefined && parsed.ino === undefined) {
        throw new UsageError('inode needs a path or an inode number');
      }
      const inode = await client.inode(parsed, options.reveal === true);
      if (json) {
        printJson(inode);
      } else {
        process.stdout.write(formatInode(inode));
      }
      return EXIT.OK;
    });
  });
}
