import type { SyncQueueDto } from '../../src/admin/dto/sync.dto';
import type { RiverFsProcess } from './fuse-mount.helper';

async function adminGet<T>(riverfs: RiverFsProcess, url: string): Promise<T | undefined> {
  const response = await fetch(`${riverfs.adminUrl}${url}`, {
    headers: { authorization: `Bearer ${riverfs.adminToken()}` },
  });
  return response.status === 200 ? ((await response.json()) as T) : undefined;
}

/** What the admin sync queue of a mounted RiverFS shows, at one moment. */
export interface QueueGlance {
  /** The upload of the file at the given path is running. */
  uploadRunning: boolean;
  /** Some item failed (and waits for a retry), or is being tried again. */
  retrying: boolean;
  /** Nothing is queued at all. */
  empty: boolean;
}

/** One look at the sync queue through the admin API (`relative`: a path below the root, '/'-separated). */
export async function glanceAtQueue(riverfs: RiverFsProcess, relative?: string): Promise<QueueGlance> {
  const inode =
    relative === undefined
      ? undefined
      : await adminGet<{ ino: number }>(riverfs, `/admin/inodes?path=${encodeURIComponent(`/${relative}`)}`);
  const queue = await adminGet<SyncQueueDto>(riverfs, '/admin/sync/queue?limit=1000');
  const items = queue?.items ?? [];
  return {
    uploadRunning:
      inode !== undefined &&
      items.some((item) => item.ino === inode.ino && item.kind === 'upload' && item.state === 'running'),
    retrying: items.some((item) => item.state === 'failed' || item.tries > 0),
    empty: queue?.total === 0,
  };
}
