import { INODE_COLUMN_NAMES, inodeFromRow, inodeFromValues } from './sql-inode-rows';

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
});
