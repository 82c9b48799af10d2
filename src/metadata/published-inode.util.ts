import type { EntityManager } from 'typeorm';
import { InodeModel } from './entities';
import type { InodeType } from './metadata.types';
import type { RemoteNode } from './sync-journal';

/** Types whose edges all link the same empty cap (their meaning is in the edge metadata alone). */
const CAPLESS_TYPES: readonly InodeType[] = ['fifo', 'socket', 'char', 'block'];

function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

/**
 * The local inode that a pulled edge names too (a hard link), or null: a live inode of the same type whose identity in
 * Tahoe is `publishedIno` (the number its own edges carry: `published_ino`, or its own number when it was made here)
 * and whose content is the edge's cap. The cap must match: a name whose published number matches but whose cap differs
 * is another file now (replaced under that name), never joined.
 *
 * Identities are per publishing gateway, so two gateways' files can carry the same number; with the same cap too
 * (identical content, convergent encoding) they are indistinguishable here and become one inode. The lowest number
 * wins, so every pull of the tree decides the same way.
 */
export async function findPublishedInode(
  manager: EntityManager,
  publishedIno: number,
  node: RemoteNode,
): Promise<number | null> {
  const query = manager
    .createQueryBuilder(InodeModel, 'i')
    .select('i.ino', 'ino')
    .where('(i.publishedIno = :publishedIno OR (i.ino = :publishedIno AND i.publishedIno IS NULL))', {
      publishedIno,
    })
    .andWhere('i.type = :type', { type: node.type })
    .andWhere('i.nlink > 0');
  if (CAPLESS_TYPES.includes(node.type)) {
    // Made here, a fifo or device has no cap; pulled, it keeps the empty one its edge links.
    query.andWhere('(i.writeCap IS NULL OR i.writeCap = :cap)', { cap: node.writeCap }).andWhere('i.rdev = :rdev', {
      rdev: node.rdev,
    });
  } else {
    query.andWhere('i.writeCap = :cap', { cap: node.writeCap });
  }
  const row = await query.orderBy('i.ino', 'ASC').limit(1).getRawOne<{ ino: unknown }>();
  return row === undefined ? null : num(row.ino);
}

/** How many directory entries name the inode: its link count, recounted rather than adjusted. */
export async function countLinks(manager: EntityManager, ino: number): Promise<number> {
  const rows = await manager.query<{ n: unknown }[]>('SELECT COUNT(*) AS n FROM dir_entry WHERE child = ?', [ino]);
  return num(rows[0]?.n ?? 0);
}
