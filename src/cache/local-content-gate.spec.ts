import { LocalContentGate } from './local-content-gate';

describe('LocalContentGate', () => {
  it('should count a file as written here while it has a writer or dirty blocks, and hold it only otherwise', () => {
    const dirty = new Set<number>();
    const gate = new LocalContentGate({ hasDirtyData: (ino) => dirty.has(ino) });
    expect(gate.hasLocalContent(1)).toBe(false);
    dirty.add(1);
    expect(gate.holdForRemoteChange(1)).toBeUndefined();
    dirty.delete(1);
    const release = gate.holdForRemoteChange(1);
    expect(release).toBeDefined();
    release!();
  });

  it('should refuse a hold while a writer is in, and allow it once every writer has left', async () => {
    const gate = new LocalContentGate({ hasDirtyData: () => false });
    const first = await gate.enterWriter(7);
    const second = await gate.enterWriter(7);
    first();
    first(); // Leaving twice counts once.
    expect(gate.holdForRemoteChange(7)).toBeUndefined();
    second();
    expect(gate.hasLocalContent(7)).toBe(false);
    expect(gate.holdForRemoteChange(7)).toBeDefined();
  });

  it('should make a writer wait until every hold on its file is released, and let other files through', async () => {
    const gate = new LocalContentGate({ hasDirtyData: () => false });
    const releaseA = gate.holdForRemoteChange(3)!;
    const releaseB = gate.holdForRemoteChange(3)!;
    let entered = false;
    const writer = gate.enterWriter(3).then((leave) => {
      entered = true;
      return leave;
    });
    const leaveOther = await gate.enterWriter(4);
    leaveOther();
    releaseA();
    await Promise.resolve();
    await Promise.resolve();
    expect(entered).toBe(false);
    releaseB();
    (await writer)();
    expect(entered).toBe(true);
  });
});
