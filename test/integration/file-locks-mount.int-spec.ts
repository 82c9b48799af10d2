/**
 * File locks kept by the lock service, end to end: real processes (python3 fcntl) lock files on real FUSE mounts
 * of the in-memory test filesystem whose lock operations go to a FileLockService. Two mounts backed by two
 * services on one Redis are two gateways of one filesystem.
 * FUSE handlers run on this process's event loop, so the mounts are only touched asynchronously.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pollUntil } from '../../src/grid/process.util';
import { LowLevelMount } from '../../src/fuse-lowlevel';
import { FileLockService } from '../../src/locks';
import { InProcessStateStore } from '../../src/state/in-process-state-store';
import { RedisStateStore } from '../../src/state/redis-state-store';
import type { StateStore } from '../../src/state/state-store';
import { LockAgent } from '../support/lock-agent.helper';
import { type LockingFs, withLockService } from '../support/locking-lowlevel-fs';
import { MemoryLowLevelFs } from '../support/memory-lowlevel-fs';
import { createTestRedis } from '../support/redis.helper';

const testRedis = createTestRedis('file-locks-mount');
let prefixes = 0;

afterAll(async () => {
  await testRedis.cleanup();
});

interface Gateway {
  mountpoint: string;
  locking: LockingFs;
  locks: FileLockService;
}

/**
 * Mounts `stores.length` gateways of one in-memory filesystem, each with its own lock service over its own
 * store, runs `work`, and takes everything down again (agents first, so that their closes reach the mounts).
 */
async function withGateways(
  stores: StateStore[],
  work: (gateways: Gateway[], agents: LockAgent[]) => Promise<void>,
): Promise<void> {
  const memory = new MemoryLowLevelFs();
  const mounts: LowLevelMount[] = [];
  const gateways: Gateway[] = [];
  const agents: LockAgent[] = [];
  const unexpected: unknown[] = [];
  try {
    for (const store of stores) {
      const locks = new FileLockService(store, { recheckMs: 200 });
      await locks.start();
      const mountpoint = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-locks-'));
      const locking = withLockService(memory, locks);
      gateways.push({ mountpoint, locking, locks });
      mounts.push(
        await LowLevelMount.mount(mountpoint, locking.fs, {
          fuseOptions: ['fsname=riverfs-test', 'subtype=memory-locks', 'default_permissions'],
          onUnexpectedError: (error) => unexpected.push(error),
        }),
      );
    }
    await work(gateways, agents);
    expect(unexpected).toEqual([]);
  } finally {
    await Promise.all(agents.map((agent) => agent.killAndWait()));
    for (const mount of mounts) {
      await mount.unmount();
    }
    for (const gateway of gateways) {
      await gateway.locks.stop();
      fs.rmSync(gateway.mountpoint, { recursive: true, force: true });
    }
    await Promise.all(stores.map((store) => store.close()));
  }
}

async function agentOn(agents: LockAgent[], file: string): Promise<LockAgent> {
  const agent = await LockAgent.open(file);
  agents.push(agent);
  return agent;
}

function redisStores(count: number): RedisStateStore[] {
  prefixes += 1;
  const keyPrefix = `${testRedis.keyPrefix}${prefixes}:`;
  return Array.from({ length: count }, () => new RedisStateStore({ url: testRedis.url, keyPrefix }));
}

describe('file locks kept by the lock service, through FUSE mounts', () => {
  it('one gateway: fcntl conflicts (EAGAIN), F_GETLK naming the holder, F_SETLKW waiting for the unlock, release when the holder dies', async () => {
    await withGateways([new InProcessStateStore()], async ([gateway], agents) => {
      const file = path.join(gateway.mountpoint, 'data');
      await fs.promises.writeFile(file, 'lock me');
      const holder = await agentOn(agents, file);
      const other = await agentOn(agents, file);

      expect(await holder.send('setlk w 0 10')).toEqual({ ok: true });
      expect(await other.send('setlk w 5 1')).toEqual({ ok: false, errno: 'EAGAIN' });
      expect(await other.send('setlk r 0 10')).toEqual({ ok: false, errno: 'EAGAIN' });
      expect(await other.send('setlk w 10 0')).toEqual({ ok: true });
      expect(await other.send('getlk w 0 100')).toEqual({ ok: true, type: 'w', start: 0, len: 10, pid: holder.pid });
      expect(await holder.send('getlk w 0 100')).toEqual({ ok: true, type: 'w', start: 10, len: 0, pid: other.pid });
      expect(await other.send('setlk u 10 0')).toEqual({ ok: true });

      // A partial unlock splits the holder's lock.
      expect(await holder.send('setlk u 2 2')).toEqual({ ok: true });
      expect(await other.send('setlk w 2 2')).toEqual({ ok: true });
      expect(await other.send('setlk u 2 2')).toEqual({ ok: true });

      // F_SETLKW waits, in the service, until the holder unlocks.
      const waited = other.send('setlkw w 0 5');
      await pollUntil(() => (gateway.locking.waiting() === 1 ? true : undefined), {
        timeoutMs: 10_000,
        describeTimeout: () => 'the F_SETLKW never reached the lock service',
      });
      expect(await holder.send('setlk u 0 0')).toEqual({ ok: true });
      expect(await waited).toEqual({ ok: true });
      expect(await holder.send('getlk w 0 1')).toEqual({ ok: true, type: 'w', start: 0, len: 5, pid: other.pid });

      // The kernel closes a killed process's descriptors: its flush ends the POSIX locks.
      await other.killAndWait();
      expect(await holder.send('setlk w 0 0')).toEqual({ ok: true });
    });
  });

  it('one gateway: a process killed while it waits in F_SETLKW does not end up holding the lock', async () => {
    await withGateways([new InProcessStateStore()], async ([gateway], agents) => {
      const file = path.join(gateway.mountpoint, 'data');
      await fs.promises.writeFile(file, 'lock me');
      const holder = await agentOn(agents, file);
      const waiter = await agentOn(agents, file);
      expect(await holder.send('setlk w 0 0')).toEqual({ ok: true });
      const waited = waiter.send('setlkw w 0 1').catch(() => 'killed');
      await pollUntil(() => (gateway.locking.waiting() === 1 ? true : undefined), {
        timeoutMs: 10_000,
        describeTimeout: () => 'the F_SETLKW never reached the lock service',
      });
      // The kernel keeps a killed waiter's request until it is answered; it is granted, then its close frees it.
      const killed = waiter.killAndWait();
      expect(await holder.send('setlk u 0 0')).toEqual({ ok: true });
      await killed;
      expect(await waited).toBe('killed');
      const third = await agentOn(agents, file);
      await pollUntil(async () => ((await third.send('setlk w 0 1')).ok ? true : undefined), {
        timeoutMs: 10_000,
        describeTimeout: () => 'the killed waiter kept the lock',
      });
    });
  });

  it('one gateway: flock exclusive and shared conflicts, a blocking flock woken, release when the holder dies', async () => {
    await withGateways([new InProcessStateStore()], async ([gateway], agents) => {
      const file = path.join(gateway.mountpoint, 'data');
      await fs.promises.writeFile(file, 'lock me');
      const [a, b, c] = [await agentOn(agents, file), await agentOn(agents, file), await agentOn(agents, file)];

      // EWOULDBLOCK is EAGAIN on Linux; python names it so.
      expect(await a.send('flock sh nb')).toEqual({ ok: true });
      expect(await b.send('flock sh nb')).toEqual({ ok: true });
      expect(await c.send('flock ex nb')).toEqual({ ok: false, errno: 'EAGAIN' });
      // flock and fcntl locks do not conflict.
      expect(await c.send('setlk w 0 0')).toEqual({ ok: true });
      expect(await b.send('flock un')).toEqual({ ok: true });

      const waited = c.send('flock ex');
      await pollUntil(() => (gateway.locking.waiting() === 1 ? true : undefined), {
        timeoutMs: 10_000,
        describeTimeout: () => 'the blocking flock never reached the lock service',
      });
      expect(await a.send('flock un')).toEqual({ ok: true });
      expect(await waited).toEqual({ ok: true });
      expect(await a.send('flock sh nb')).toEqual({ ok: false, errno: 'EAGAIN' });

      // The release of a dead holder's file comes after its exit, asynchronously.
      await c.killAndWait();
      await pollUntil(async () => ((await a.send('flock ex nb')).ok ? true : undefined), {
        timeoutMs: 10_000,
        describeTimeout: () => 'the dead holder’s flock was not released',
      });
    });
  });

  it('two gateways on one Redis: fcntl and flock locks taken through one mount hold through the other', async () => {
    await withGateways(redisStores(2), async ([gatewayA, gatewayB], agents) => {
      await fs.promises.writeFile(path.join(gatewayA.mountpoint, 'shared'), 'lock me');
      const onA = await agentOn(agents, path.join(gatewayA.mountpoint, 'shared'));
      const onB = await agentOn(agents, path.join(gatewayB.mountpoint, 'shared'));

      expect(await onA.send('setlk w 100 50')).toEqual({ ok: true });
      expect(await onB.send('setlk r 120 1')).toEqual({ ok: false, errno: 'EAGAIN' });
      expect(await onB.send('getlk r 0 0')).toEqual({ ok: true, type: 'w', start: 100, len: 50, pid: onA.pid });
      expect(await onB.send('setlk w 0 100')).toEqual({ ok: true });
      expect(await onA.send('setlk w 99 1')).toEqual({ ok: false, errno: 'EAGAIN' });

      const waited = onB.send('setlkw w 100 1');
      await pollUntil(() => (gatewayB.locking.waiting() === 1 ? true : undefined), {
        timeoutMs: 10_000,
        describeTimeout: () => 'the F_SETLKW never reached gateway B',
      });
      expect(await onA.send('setlk u 0 0')).toEqual({ ok: true });
      expect(await waited).toEqual({ ok: true });

      // Each holds a range the other asks for: the second F_SETLKW would wait for ever, and gets EDEADLK.
      expect(await onA.send('setlk w 200 1')).toEqual({ ok: true });
      const crossed = onA.send('setlkw w 50 1');
      await pollUntil(() => (gatewayA.locks.waiting === 1 ? true : undefined), {
        timeoutMs: 10_000,
        describeTimeout: () => 'the F_SETLKW never waited on gateway A',
      });
      // python names errno 35 (EDEADLK) by its alias.
      expect(await onB.send('setlkw w 200 1')).toEqual({ ok: false, errno: 'EDEADLOCK' });
      expect(await onB.send('setlk u 0 0')).toEqual({ ok: true });
      expect(await crossed).toEqual({ ok: true });
      expect(await onA.send('setlk u 0 0')).toEqual({ ok: true });

      expect(await onA.send('flock ex nb')).toEqual({ ok: true });
      expect(await onB.send('flock sh nb')).toEqual({ ok: false, errno: 'EAGAIN' });
      await onA.killAndWait();
      await pollUntil(async () => ((await onB.send('flock ex nb')).ok ? true : undefined), {
        timeoutMs: 10_000,
        describeTimeout: () => 'the flock of the process killed on gateway A was not released',
      });
      const third = await agentOn(agents, path.join(gatewayA.mountpoint, 'shared'));
      expect(await third.send('flock sh nb')).toEqual({ ok: false, errno: 'EAGAIN' });
      expect(await onB.send('setlk w 0 101')).toEqual({ ok: true });
      expect(await third.send('getlk w 0 0')).toEqual({ ok: true, type: 'w', start: 0, len: 101, pid: onB.pid });
    });
  });
});
