import { INODE_COLUMN_NAMES, inodeFromRow, inodeFromValues } from './sql-inode-rows';

describe('inode rows', () => {
  it('should read the same inode from a row as values as from the row keyed by column', () => {
    // Every column gets a distinct value of the kind its driver returns, so that a shifted position shows.
    const row: Record<string, unknown> = {};
    INODE_COLUMN_NAMES.forEach((column, index) => {
      row[column] = ['data_dirty', 'attr_dirty', 'entries_dirty'].includes(column) ? index % 2 : String(1000 + index);
    });
    Object.assign(row, { type: 'file', sync_state: 'dirty', sync_error: 'boom', dirty_owner: 'gw', parent: null });
    const values = ['entry id', 'entry name', ...INODE_COLUMN_NAMES.map((column) => row[column])];
    expect(inodeFromValues(values, 2)).toEqual(inodeFromRow(row));
    expect(INODE_COLUMN_NAMES).toHaveLength(30);
  });
});
