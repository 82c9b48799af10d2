import { execFile } from 'node:child_process';
import type { INestApplication, LoggerService } from '@nestjs/common';
import { FsOpsModule } from '../fs-ops/fs-ops.module';
import { FuseService } from '../fs-ops/fuse.service';
import { TahoeSyncWorker } from '../sync/tahoe-sync.worker';
import { EXIT } from './exit-codes';

/**
 * Beyond the drain, what the other shutdown steps may take together (unmount 35 s, closing connections, stopping
 * the embedded grid's nodes) before the process exits anyway: every step has its own bound, this one catches what
 * no step foresaw.
 */
const STEPS_BUDGET_MS = 90_000;
/** A forced exit still lazily unmounts a listed mount, so that no dead mount stays behind; it waits this long. */
const FORCED_UNMOUNT_MS = 2_000;

/**
 * How `riverfs mount` ends, whatever the cause: a signal, or the mount removed from under it. The first cause runs
 * the application's shutdown (unmount, drain bounded by --sync-drain-timeout, close everything), each step bounded
 * and none able to stop the ones after it; a second signal exits at once, saying what is left. Resolves with the
 * exit code: 0 when everything reached Tahoe, 1 when something was left (it stays in the cache and journal and is
 * pushed at the next start), the stop was forced, or the gateway lost its filesystem lease (stopping was not asked
 * for: a supervisor must see a failure).
 */
export function runUntilStopped(
  app: INestApplication,
  target: string,
  logger: LoggerService,
  causes: { onLeaseLost?: (stop: (reason: string) => void) => void } = {},
): Promise<number> {
  const fuse = app.get(FuseService);
  const sync = app.get(TahoeSyncWorker);
  const budgetMs = sync.drainTimeoutMs + STEPS_BUDGET_MS;

  const describeLeft = async (): Promise<string> => {
    const queue = await sync.queue({ offset: 0, limit: 0 });
    if (queue.total === 0) {
      return 'nothing queued for Tahoe';
    }
    const waiting = Object.entries(queue.depth).filter(([, count]) => count > 0);
    const failing = queue.total - waiting.reduce((sum, [, count]) => sum + count, 0);
    const parts = [
      ...waiting.map(([kind, count]) => `${count} ${kind}(s)`),
      ...(failing > 0 ? [`${failing} failing, waiting for a retry`] : []),
    ];
    return (
      `${queue.total} item(s) not in Tahoe yet (${parts.join(', ')}); they stay in the local cache and journal ` +
      'and are pushed at the next start'
    );
  };

  return new Promise<number>((resolve) => {
    let closing = false;
    let signals = 0;
    let unasked = false;
    const exit = (code: number): void => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      resolve(unasked ? EXIT.FAILURE : code);
    };

    const shutdown = (why: string): void => {
      if (closing) {
        return;
      }
      closing = true;
      logger.log(
        `${why}: flushing, unmounting ${target} and pushing what is dirty (at most ${sync.drainTimeoutMs / 1000} s)`,
        'Mount',
      );
      const watchdog = setTimeout(() => {
        void describeLeft().then((left) => {
          logger.error(`the shutdown did not end within ${budgetMs / 1000} s; exiting now: ${left}`, 'Mount');
          exit(EXIT.FAILURE);
        });
      }, budgetMs);
      app
        .close()
        .catch((error: unknown) => {
          logger.error(`a shutdown step failed: ${String(error)}`, 'Mount');
        })
        .then(async () => {
          clearTimeout(watchdog);
          const left = app.get(FsOpsModule).leftAfterDrain;
          if (left === 0) {
            logger.log('stopped; everything reached Tahoe', 'Mount');
            exit(EXIT.OK);
            return;
          }
          logger.warn(
            left === undefined
              ? `stopped without finishing the drain: ${await describeLeft()}`
              : `stopped with ${left} item(s) not in Tahoe; they stay in the local cache and journal and are ` +
                  'pushed at the next start',
            'Mount',
          );
          exit(EXIT.FAILURE);
        })
        .catch((error: unknown) => {
          logger.error(`shutdown: ${String(error)}`, 'Mount');
          exit(EXIT.FAILURE);
        });
    };

    const onSignal = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (signals === 1) {
        // Also when the shutdown already runs (the mount vanished): a signal then joins it rather than cutting it.
        shutdown(signal);
        return;
      }
      fuse.stopAccepting();
      void describeLeft()
        .catch(() => 'what is left is unknown')
        .then(async (left) => {
          logger.warn(`${signal} again: exiting now, without waiting: ${left}`, 'Mount');
          if (await fuse.listedByKernel().catch(() => false)) {
            await new Promise<void>((done) =>
              execFile('fusermount3', ['-uz', target], { timeout: FORCED_UNMOUNT_MS }, () => done()),
            );
          }
          exit(EXIT.FAILURE);
        });
    };

    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    fuse.onMountLost(() => shutdown(`the mount on ${target} was removed from outside`));
    causes.onLeaseLost?.((reason) => {
      unasked = true;
      shutdown(reason);
    });
  });
}
