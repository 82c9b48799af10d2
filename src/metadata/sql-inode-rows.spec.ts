import {
  changedColumns,
  INODE_COLUMN_NAMES,
  inodeFromRow,
  inodeFromValues,
  inodeParams,
  updateInodeSql,
} from './sql-inode-rows';

describe('inode rows', () => {
  it('should read each column from its position, as from the row keyed by column', () => {
    // Every column gets a distinct value, so that a shifted position shows.
    const row: Record<string, unknown> = {};
    INODE_COLUMN_NAMES.forEach((column, index) => (row[column] = String(1000 + index)));
    const inode = inodeFromValues(['entry id', 'entry name', ...INODE_COLUMN_NAMES.map((column) => row[column])], 2);
    expect(inode).toEqual(inodeFromRow(row));
    expect([inode.writeCap, inode.syncState, inode.dirtyOwner]).toEqual(['1016', '1019', '1029']);
    expect(inode).toMatchObject({
      ino: 1000,
      type: '1001',
      size: 1005,
      parent: 1008,
      ctimeNsec: 1014,
      syncTries: 1027,
    });
    expect(INODE_COLUMN_NAMES).toHaveLength(30);
  });

  it('should name only the columns whose values moved, bytes compared by value, and update just those', () => {
    const row = inodeFromValues(INODE_COLUMN_NAMES.map((_, index) => index));
    const before = inodeParams(row);
    const after = inodeParams({ ...row, size: 4096, mtimeSec: 99, dataDirty: true });
    expect(changedColumns(before, after)).toEqual([4, 10, 19]);
    expect(updateInodeSql(changedColumns(before, after))).toBe(
      'UPDATE inode SET size = ?, mtime_sec = ?, data_dirty = ? WHERE ino = ?',
    );
    expect(changedColumns([Buffer.from('a'), 1], [Buffer.from('a'), 1])).toEqual([]);
    expect(changedColumns([Buffer.from('a'), null], [Buffer.from('b'), 0])).toEqual([0, 1]);
  });
});
