import { FsError } from '../common/errors/fs-error';
import { toRecord } from './inode-record.util';
import { type InodeModel } from './entities';
import { RestartTransaction } from './metadata-txn.util';
import {
  type Credentials,
  type InodeRecord,
  type InodeType,
  type MknodOptions,
  type Name,
  type NewInodeOptions,
  type RemovedInode,
  type RenameOptions,
  type RenameResult,
  ROOT_INO,
} from './metadata.types';
import { checkName, checkNewName, checkSymlinkTarget, dotKind } from './names.util';
import { type SqlTxnKit } from './sql-txn-kit';
import { MAX_DEPTH, num, type RawEntry, S_ISGID, setCtime, type Tx } from './sql-store.util';
import type { SqlConnection } from './sql-driver';
import { inodeParams, INSERT_INODE_SQL } from './sql-inode-rows';

/** Namespace changes: create, link, unlink, rmdir, rename (part of SqlMetadataStore). */
export class SqlNamespace {
  constructor(private readonly kit: SqlTxnKit) {}

  private async createNode(
    op: string,
    parent: number,
    name: Name,
    spec: { type: InodeType; mode: number; owner: Credentials; rdev?: number; target?: Buffer },
  ): Promise<InodeRecord> {
    const bytes = checkNewName(name);
    return await this.kit.write(op, async (tx) => {
      const dir = this.kit.liveDir(await this.kit.lockInodes(tx, [parent]), parent);
      if ((await this.kit.entryAt(tx.sql, parent, bytes)) !== null) {
        throw new FsError('EEXIST', `"${bytes.toString()}" exists in directory ${parent}`);
      }
      const row = this.kit.newInode(tx, spec.type, spec.mode, spec.owner) as InodeModel;
      // Set-group-ID directories pass their group down, and the flag itself to subdirectories.
      if ((dir.mode & S_ISGID) !== 0) {
        row.gid = dir.gid;
        if (spec.type === 'dir') {
          row.mode |= S_ISGID;
        }
      }
      if (spec.type === 'dir') {
        row.parent = parent;
      }
      if (spec.type === 'char' || spec.type === 'block') {
        row.rdev = spec.rdev ?? 0;
      }
      if (spec.target !== undefined) {
        row.size = spec.target.length;
      }
      row.ino = (await tx.sql.run(INSERT_INODE_SQL, inodeParams(row))).insertId;
      if (spec.target !== undefined) {
        await tx.sql.run('INSERT INTO symlink (ino, target) VALUES (?, ?)', [row.ino, spec.target]);
      }
      await this.kit.insertEntry(tx, parent, bytes, row.ino);
      if (spec.type === 'dir') {
        dir.nlink += 1;
      }
      this.kit.touchDir(tx, dir);
      return toRecord(row);
    });
  }

  async create(parent: number, name: Name, options: NewInodeOptions): Promise<InodeRecord> {
    return await this.createNode('create', parent, name, { type: 'file', mode: options.mode, owner: options });
  }

  async mkdir(parent: number, name: Name, options: NewInodeOptions): Promise<InodeRecord> {
    return await this.createNode('mkdir', parent, name, { type: 'dir', mode: options.mode, owner: options });
  }

  async mknod(parent: number, name: Name, options: MknodOptions): Promise<InodeRecord> {
    const allowed: readonly InodeType[] = ['file', 'fifo', 'socket', 'char', 'block'];
    if (!allowed.includes(options.type)) {
      throw new FsError('EINVAL', `mknod cannot make a ${String(options.type)}`);
    }
    return await this.createNode('mknod', parent, name, {
      type: options.type,
      mode: options.mode,
      owner: options,
      rdev: options.rdev,
    });
  }

  async symlink(parent: number, name: Name, target: Name, owner: Credentials): Promise<InodeRecord> {
    const bytes = checkSymlinkTarget(target);
    return await this.createNode('symlink', parent, name, { type: 'symlink', mode: 0o777, owner, target: bytes });
  }

  async link(ino: number, newParent: number, newName: Name): Promise<InodeRecord> {
    const bytes = checkNewName(newName);
    return await this.kit.write('link', async (tx) => {
      const rows = await this.kit.lockInodes(tx, [ino, newParent]);
      const row = rows.get(ino);
      if (row === undefined || row.nlink === 0) {
        throw new FsError('ENOENT', `no inode ${ino}`);
      }
      const dir = this.kit.liveDir(rows, newParent);
      if (row.type === 'dir') {
        throw new FsError('EPERM', 'hard links to directories are not allowed');
      }
      if ((await this.kit.entryAt(tx.sql, newParent, bytes)) !== null) {
        throw new FsError('EEXIST', `"${bytes.toString()}" exists in directory ${newParent}`);
      }
      await this.kit.insertEntry(tx, newParent, bytes, ino);
      row.nlink += 1;
      setCtime(row, tx.now);
      this.kit.markChanged(tx, row, 'attrDirty');
      this.kit.touchDir(tx, dir);
      return toRecord(row);
    });
  }

  async unlink(parent: number, name: Name): Promise<RemovedInode> {
    const bytes = checkName(name);
    if (dotKind(bytes) !== null) {
      // `.` and `..` are directories: unlink(2) answers EISDIR.
      throw new FsError('EISDIR', `cannot unlink "${bytes.toString()}"`);
    }
    return await this.kit.write('unlink', async (tx) => {
      const { dir, entry, child } = await this.lockEntry(tx, parent, bytes);
      if (child.type === 'dir') {
        throw new FsError('EISDIR', `"${bytes.toString()}" is a directory`);
      }
      await this.kit.deleteEntry(tx, entry.id);
      this.kit.touchDir(tx, dir);
      return this.kit.dropLink(tx, child);
    });
  }

  async rmdir(parent: number, name: Name): Promise<RemovedInode> {
    const bytes = checkName(name);
    const dots = dotKind(bytes);
    if (dots !== null) {
      throw new FsError(dots === 'dot' ? 'EINVAL' : 'ENOTEMPTY', `cannot rmdir "${bytes.toString()}"`);
    }
    return await this.kit.write('rmdir', async (tx) => {
      const { dir, entry, child } = await this.lockEntry(tx, parent, bytes);
      if (child.type !== 'dir') {
        throw new FsError('ENOTDIR', `"${bytes.toString()}" is not a directory`);
      }
      if (await this.kit.hasEntries(tx.sql, child.ino)) {
        throw new FsError('ENOTEMPTY', `directory "${bytes.toString()}" is not empty`);
      }
      await this.kit.deleteEntry(tx, entry.id);
      dir.nlink -= 1;
      this.kit.touchDir(tx, dir);
      return this.kit.dropLink(tx, child);
    });
  }

  /**
   * Locks directory `parent` and the inode its entry `name` names, in inode order, and returns both
   * with the entry. ENOENT when there is no such entry.
   */
  private async lockEntry(
    tx: Tx,
    parent: number,
    name: Buffer,
  ): Promise<{ dir: InodeModel; entry: RawEntry; child: InodeModel }> {
    const seen = await this.kit.entryAt(tx.sql, parent, name);
    const rows = await this.kit.lockInodes(tx, [parent, seen?.child]);
    const dir = this.kit.liveDir(rows, parent);
    const entry = await this.kit.entryOnceLocked(tx.sql, parent, name, seen);
    if (entry?.child !== seen?.child) {
      throw new RestartTransaction(`entry "${name.toString()}" of ${parent} changed before it was locked`);
    }
    if (entry === null) {
      throw new FsError('ENOENT', `no entry "${name.toString()}" in directory ${parent}`);
    }
    return { dir, entry, child: rows.get(entry.child)! };
  }

  async rename(
    parent: number,
    name: Name,
    newParent: number,
    newName: Name,
    options: RenameOptions = {},
  ): Promise<RenameResult> {
    const source = checkName(name);
    const target = checkName(newName);
    // Linux refuses `.` and `..` on either side with EBUSY (EEXIST for the target under NOREPLACE).
    if (dotKind(source) !== null) {
      throw new FsError('EBUSY', `cannot rename "${source.toString()}"`);
    }
    if (dotKind(target) !== null) {
      throw new FsError(options.noReplace ? 'EEXIST' : 'EBUSY', `cannot rename onto "${target.toString()}"`);
    }
    return await this.kit.write('rename', async (tx) => {
      const seenSource = await this.kit.entryAt(tx.sql, parent, source);
      const seenTarget = await this.kit.entryAt(tx.sql, newParent, target);
      // Moving a directory to another parent is the one change that can make a cycle; like Linux's
      // per-filesystem rename mutex, these renames are serialised, here on the root inode's row
      // (the lowest inode number, so it is still taken first).
      const movesDir = seenSource?.type === 'dir' && parent !== newParent;
      const rows = await this.kit.lockInodes(tx, [
        movesDir ? ROOT_INO : null,
        parent,
        newParent,
        seenSource?.child,
        seenTarget?.child,
      ]);
      const fromDir = this.kit.liveDir(rows, parent);
      const toDir = this.kit.liveDir(rows, newParent);
      const from = await this.kit.entryOnceLocked(tx.sql, parent, source, seenSource);
      const to = await this.kit.entryOnceLocked(tx.sql, newParent, target, seenTarget);
      if (from?.child !== seenSource?.child || to?.child !== seenTarget?.child) {
        throw new RestartTransaction('rename: an entry changed before it was locked');
      }
      if (from === null) {
        throw new FsError('ENOENT', `no entry "${source.toString()}" in directory ${parent}`);
      }
      if (to !== null && options.noReplace) {
        throw new FsError('EEXIST', `"${target.toString()}" exists in directory ${newParent}`);
      }
      if (to !== null && to.child === from.child) {
        // Both names are links to the same inode (or the very same name): rename(2) does nothing.
        return { ino: from.child, replaced: null };
      }
      const moved = rows.get(from.child)!;
      const victim = to === null ? null : rows.get(to.child)!;
      if (movesDir && (await this.isSameOrBelow(tx.sql, newParent, moved.ino))) {
        throw new FsError('EINVAL', 'cannot move a directory into itself or its own subtree');
      }
      if (victim !== null) {
        if (moved.type === 'dir' && victim.type !== 'dir') {
          throw new FsError('ENOTDIR', `"${target.toString()}" is not a directory`);
        }
        if (moved.type !== 'dir' && victim.type === 'dir') {
          throw new FsError('EISDIR', `"${target.toString()}" is a directory`);
        }
        if (victim.type === 'dir' && (await this.kit.hasEntries(tx.sql, victim.ino))) {
          throw new FsError('ENOTEMPTY', `directory "${target.toString()}" is not empty`);
        }
        await this.kit.deleteEntry(tx, to!.id);
      }
      // The entry keeps its id, so a directory being read sees it once, at its old place.
      await tx.sql.run('UPDATE dir_entry SET parent = ?, name = ? WHERE id = ?', [newParent, target, from.id]);
      if (movesDir) {
        fromDir.nlink -= 1;
        toDir.nlink += 1;
        moved.parent = newParent;
      }
      if (victim?.type === 'dir') {
        toDir.nlink -= 1;
      }
      setCtime(moved, tx.now);
      this.kit.markChanged(tx, moved, 'attrDirty');
      this.kit.touchDir(tx, fromDir);
      this.kit.touchDir(tx, toDir);
      const replaced = victim === null ? null : await this.kit.dropLink(tx, victim);
      return { ino: moved.ino, replaced };
    });
  }

  /** Whether directory `dir` is `ancestor` or lies below it, following the parent pointers up to the root. */
  private async isSameOrBelow(sql: SqlConnection, dir: number, ancestor: number): Promise<boolean> {
    let current = dir;
    for (let depth = 0; depth < MAX_DEPTH; depth += 1) {
      if (current === ancestor) {
        return true;
      }
      if (current === ROOT_INO) {
        return false;
      }
      const row = await sql.get<{ parent: unknown }>('SELECT parent FROM inode WHERE ino = ?', [current]);
      if (row === undefined || row.parent === null) {
        throw new Error(`directory ${current} has no parent: the metadata database is inconsistent`);
      }
      current = num(row.parent);
    }
    throw new Error(`directory ${dir} is more than ${MAX_DEPTH} levels deep: the parent pointers form a cycle`);
  }
}
