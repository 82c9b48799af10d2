import { SecurityXattrShortcut } from './security-xattr-shortcut';

/** A store answer the test releases when it wants, to interleave a query with a setxattr. */
function heldAnswers(): { ask: () => Promise<boolean>; answer: (value: boolean | Error) => void } {
  const pending: ((value: boolean | Error) => void)[] = [];
  return {
    ask: () =>
      new Promise<boolean>((resolve, reject) =>
        pending.push((value) => (value instanceof Error ? reject(value) : resolve(value))),
      ),
    answer: (value) => pending.shift()!(value),
  };
}

/** A shortcut attached to a store that found no security.* xattr: on, its flag changes recorded in `flags`. */
async function attachedWithNoSecurityXattr(): Promise<{
  flags: boolean[];
  store: ReturnType<typeof heldAnswers>;
  shortcut: SecurityXattrShortcut;
}> {
  const flags: boolean[] = [];
  const store = heldAnswers();
  const shortcut = new SecurityXattrShortcut(store.ask);
  const attached = shortcut.attach((absent) => flags.push(absent));
  store.answer(false);
  await attached;
  return { flags, store, shortcut };
}

describe('SecurityXattrShortcut', () => {
  it('stays off until attached, then follows the store', async () => {
    const flags: boolean[] = [];
    const none = new SecurityXattrShortcut(() => Promise.resolve(false));
    await none.refresh();
    expect(none.active).toBe(false);
    await none.attach((absent) => flags.push(absent));
    expect(none.active).toBe(true);

    const some = new SecurityXattrShortcut(() => Promise.resolve(true));
    await some.attach((absent) => flags.push(absent));
    expect(some.active).toBe(false);
    expect(flags).toEqual([true]);
  });

  it('turns off before a security setxattr starts, and a query that overlapped it cannot turn it back on', async () => {
    const { flags, store, shortcut } = await attachedWithNoSecurityXattr();
    expect(flags).toEqual([true]);

    // A pull's refresh asks; a security setxattr begins before the answer, which predates its commit.
    const refreshing = shortcut.refresh();
    let commit!: () => void;
    const committed = new Promise<void>((resolve) => (commit = resolve));
    const setting = shortcut.guardSet(() => committed);
    expect(flags).toEqual([true, false]);
    store.answer(false);
    await refreshing;
    expect(shortcut.active).toBe(false);
    commit();
    await setting;
    expect(shortcut.active).toBe(false);
    expect(flags).toEqual([true, false]);
  });

  it('once off, stays off without asking the store again', async () => {
    const { shortcut } = await attachedWithNoSecurityXattr();

    // Off now: refresh does not ask again (only a pull, while it is on, can find a new xattr).
    await shortcut.guardSet(() => Promise.resolve());
    await shortcut.refresh();
    expect(shortcut.active).toBe(false);
  });

  it('after a pull asks about the inodes it changed only, once a look at the whole store succeeded', async () => {
    const asked: (readonly number[] | undefined)[] = [];
    let failNext = true;
    const shortcut = new SecurityXattrShortcut((among) => {
      asked.push(among);
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('database gone'));
      }
      return Promise.resolve(among?.includes(9) ?? false);
    });
    await expect(shortcut.attach(() => undefined)).rejects.toThrow('database gone');
    await shortcut.refresh([4, 5]);
    expect(shortcut.active).toBe(true);
    await shortcut.refresh([4, 5]);
    expect(shortcut.active).toBe(true);
    await shortcut.refresh([9]);
    expect(shortcut.active).toBe(false);
    expect(asked).toEqual([undefined, undefined, [4, 5], [9]]);
  });

  it('turns off when the store cannot be asked', async () => {
    const { flags, store, shortcut } = await attachedWithNoSecurityXattr();

    const refreshing = shortcut.refresh();
    store.answer(new Error('database gone'));
    await expect(refreshing).rejects.toThrow('database gone');
    expect(shortcut.active).toBe(false);
    expect(flags).toEqual([true, false]);
  });
});
