import { Logger } from '@nestjs/common';

/**
 * Rows the sync layer changed through the journal or the store (caps, sync state, dirty flags): what the mount shows
 * did not change, but a cached copy of these rows is stale.
 */
export interface SyncStateChanged {
  readonly inos: readonly number[];
}

/**
 * Changes from Tahoe were applied (a pull, or a publish that kept conflict copies): attributes, content or names the
 * mount shows changed. Published once the change is whole, old content's cached blocks included, so that whoever
 * reads again on hearing it reads the new state.
 */
export interface RemoteApplied {
  /** Every inode whose row changed (the directories whose entries changed among them). */
  readonly inos: readonly number[];
  /** The names that appeared or went; none when only attributes or content changed. */
  readonly names: readonly NameChange[];
}

/** A name a remote change added, removed or pointed elsewhere. */
export interface NameChange {
  readonly parent: number;
  readonly name: Buffer;
  /** The inode the name stopped naming, when it went (the kernel is told it was deleted). */
  readonly gone?: number;
}

/** A written file's content was committed locally (close, flush, fsync): it is due for an upload. */
export interface ContentCommitted {
  readonly ino: number;
}

export interface MetadataEventMap {
  syncStateChanged: SyncStateChanged;
  remoteApplied: RemoteApplied;
  contentCommitted: ContentCommitted;
}

export type MetadataEventKind = keyof MetadataEventMap;
export type MetadataListener<K extends MetadataEventKind> = (event: MetadataEventMap[K]) => void;

/**
 * When a subscriber hears an event. Caches forget first: every other subscriber may read at once what the event
 * names, and must read it fresh, whatever order the subscriptions were made in.
 */
export type MetadataSubscriberStage = 'cache' | 'reaction';

const STAGES: readonly MetadataSubscriberStage[] = ['cache', 'reaction'];

/**
 * The metadata layer's one bus of committed changes that happen behind the mount's own calls: the sync worker's
 * bookkeeping, what a pull applied, content a close committed. The metadata cache, the FUSE invalidations and the
 * sync worker subscribe here rather than being wired to each other. Delivery is synchronous, in the publisher's call;
 * a listener that throws is logged and the others still hear the event (a publisher is never failed by a listener).
 */
export class MetadataEvents {
  private readonly listeners = new Map<string, Set<(event: never) => void>>();

  constructor(private readonly log: Pick<Logger, 'error'> = new Logger(MetadataEvents.name)) {}

  /** Subscribes `listener` to `kind`; returns the unsubscribe. */
  on<K extends MetadataEventKind>(
    kind: K,
    listener: MetadataListener<K>,
    stage: MetadataSubscriberStage = 'reaction',
  ): () => void {
    const key = `${stage}:${kind}`;
    let set = this.listeners.get(key);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(key, set);
    }
    const stored = listener as (event: never) => void;
    set.add(stored);
    return () => {
      set.delete(stored);
    };
  }

  publish<K extends MetadataEventKind>(kind: K, event: MetadataEventMap[K]): void {
    for (const stage of STAGES) {
      const set = this.listeners.get(`${stage}:${kind}`);
      if (set === undefined) {
        continue;
      }
      for (const listener of [...set]) {
        try {
          (listener as MetadataListener<K>)(event);
        } catch (error) {
          this.log.error(
            `a ${kind} listener failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
          );
        }
      }
    }
  }

  /** How many listeners hear `kind` (tests, and a check that a component unsubscribed). */
  listenerCount(kind: MetadataEventKind): number {
    return STAGES.reduce((sum, stage) => sum + (this.listeners.get(`${stage}:${kind}`)?.size ?? 0), 0);
  }
}
