import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SpareFiles } from './spare-files';

describe('SpareFiles (on a temporary directory)', () => {
  let dir: string;
  const pools: SpareFiles[] = [];

  async function pool(options: { lowWater?: number; highWater?: number } = {}): Promise<SpareFiles> {
    const spares = new SpareFiles(path.join(dir, 'spare'), options);
    await spares.init();
    pools.push(spares);
    return spares;
  }

  function sparesOnDisk(): string[] {
    return ['a', 'b'].flatMap((bin) => fs.readdirSync(path.join(dir, 'spare', bin)));
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-spares-'));
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((spares) => spares.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('should make no spare until one is asked for, then refill to its high-water mark', async () => {
    const spares = await pool({ lowWater: 2, highWater: 5 });
    expect(spares.readyCount).toBe(0);
    expect(sparesOnDisk()).toEqual([]);

    const target = path.join(dir, 'block');
    expect(spares.takeInto(target)).toBe(false);
    expect(fs.existsSync(target)).toBe(false);
    await spares.settled();
    expect(spares.readyCount).toBe(5);
    expect(sparesOnDisk()).toHaveLength(5);

    expect(spares.takeInto(target)).toBe(true);
    expect(fs.statSync(target).size).toBe(0);
    expect(spares.readyCount).toBe(4);
    expect(spares.taken).toBe(1);
  });

  it('should replace what the target held with an empty file', async () => {
    const spares = await pool({ lowWater: 1, highWater: 2 });
    spares.takeInto(path.join(dir, 'first'));
    await spares.settled();
    const target = path.join(dir, 'stale');
    fs.writeFileSync(target, 'bytes of a block dropped long ago');
    expect(spares.takeInto(target)).toBe(true);
    expect(fs.readFileSync(target).length).toBe(0);
  });

  it('should take back a freed file emptied, and remove it once the pool is full', async () => {
    const spares = await pool({ lowWater: 1, highWater: 2 });
    const freed = [1, 2, 3].map((n) => {
      const file = path.join(dir, `freed-${n}`);
      fs.writeFileSync(file, Buffer.alloc(4096, n));
      return file;
    });
    await spares.recycle(freed[0]);
    await spares.recycle(freed[1], true);
    await spares.recycle(freed[2]);
    expect(freed.map((file) => fs.existsSync(file))).toEqual([false, false, false]);
    expect(spares.readyCount).toBe(2);
    expect(sparesOnDisk()).toHaveLength(2);

    const target = path.join(dir, 'reused');
    expect(spares.takeInto(target)).toBe(true);
    expect(fs.statSync(target).size).toBe(0);
  });

  it('should do nothing for a freed file that is already gone', async () => {
    const spares = await pool();
    await spares.recycle(path.join(dir, 'never-there'));
    expect(spares.readyCount).toBe(0);
  });

  it('should adopt the spares an earlier run left, emptied, and remove what is not a spare', async () => {
    const first = await pool({ lowWater: 2, highWater: 3 });
    first.takeInto(path.join(dir, 'x'));
    await first.settled();
    await first.close();
    pools.splice(0);
    const [bin] = ['a', 'b'].filter((name) => fs.readdirSync(path.join(dir, 'spare', name)).length > 0);
    const binDir = path.join(dir, 'spare', bin);
    // A recycle the crash cut between its truncate and its rename is not possible to tell from a written spare.
    fs.writeFileSync(path.join(binDir, fs.readdirSync(binDir)[0]), 'not empty');
    fs.writeFileSync(path.join(binDir, 'stray'), 'x');
    fs.mkdirSync(path.join(binDir, 's999'));
    fs.mkdirSync(path.join(dir, 'spare', 'other'));

    const second = await pool({ lowWater: 2, highWater: 3 });
    expect(second.readyCount).toBe(3);
    expect(fs.readdirSync(path.join(dir, 'spare')).sort()).toEqual(['a', 'b']);
    expect(sparesOnDisk()).not.toContain('stray');
    expect(sparesOnDisk()).not.toContain('s999');
    for (let n = 0; n < 3; n++) {
      const target = path.join(dir, `t${n}`);
      expect(second.takeInto(target)).toBe(true);
      expect(fs.statSync(target).size).toBe(0);
    }
  });

  it('should let the caller create the file when the target directory is missing, keeping the spare', async () => {
    const spares = await pool({ lowWater: 1, highWater: 1 });
    spares.takeInto(path.join(dir, 'first'));
    await spares.settled();
    expect(spares.takeInto(path.join(dir, 'missing', 'block'))).toBe(false);
    expect(spares.readyCount).toBe(1);
  });
});
