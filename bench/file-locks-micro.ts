/**
 * Micro-benchmark of file locks kept by the lock service (src/locks): what a lock costs in the service on each
 * state store, and what an fcntl lock/unlock costs a process on a FUSE mount whose locks go to the service,
 * against the same mount with the kernel keeping the locks itself. Not part of `npm test`.
 *
 *   npx tsc --outDir dist/bench --rootDir . --target es2022 --module commonjs --moduleResolution node \
 *     --esModuleInterop --experimentalDecorators --emitDecoratorMetadata --resolveJsonModule --skipLibCheck \
 *     --strict bench/file-locks-micro.ts
 *   node dist/bench/bench/file-locks-micro.js [redis://127.0.0.1:6379] [--ops N]
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { LockType, LowLevelMount, type LowLevelFilesystem } from '../src/fuse-lowlevel';
import { FileLockService } from '../src/locks';
import { InProcessStateStore } from '../src/state/in-process-state-store';
import { RedisStateStore } from '../src/state/redis-state-store';
import type { StateStore } from '../src/state/state-store';
import { withLockService } from '../test/support/locking-lowlevel-fs';
import { MemoryLowLevelFs } from '../test/support/memory-lowlevel-fs';

const run = promisify(execFile);

function perSecond(count: number, ms: number): string {
  return `${Math.round((count / ms) * 1000).toLocaleString('en')}/s (${((ms * 1000) / count).toFixed(1)} µs each)`;
}

/** Counts the store round trips the lock service makes (its scripts and its announcements). */
function countCalls(store: StateStore): () => number {
  let calls = 0;
  const publish = store.publish.bind(store);
  store.publish = (channel, message) => {
    calls++;
    return publish(channel, message);
  };
  if (store instanceof RedisStateStore) {
    const runScript = store.runScript.bind(store);
    store.runScript = (script, keys, args) => {
      calls++;
      return runScript(script, keys, args);
    };
  }
  return () => calls;
}

async function serviceLoop(label: string, store: StateStore, ops: number): Promise<void> {
  const a = new FileLockService(store);
  await a.start();
  const calls = countCalls(store);
  const pair = async (): Promise<void> => {
    await a.setlk(1, 1n, { type: LockType.write, start: 0, length: 10, pid: 1 }, false);
    await a.setlk(1, 1n, { type: LockType.unlock, start: 0, length: 10, pid: 1 }, false);
  };
  try {
    for (let i = 0; i < ops / 4; i++) {
      await pair(); // warm-up
    }
    const before = calls();
    let started = performance.now();
    for (let i = 0; i < ops; i++) {
      await pair();
    }
    const perPair = ((calls() - before) / ops).toFixed(2);
    console.log(
      `${label}: F_SETLK + F_UNLCK pairs   ${perSecond(ops, performance.now() - started)}, ${perPair} store calls`,
    );
    await a.setlk(2, 1n, { type: LockType.write, start: 0, length: 10, pid: 1 }, false);
    started = performance.now();
    for (let i = 0; i < ops; i++) {
      await a.getlk(2, 2n, { type: LockType.read, start: 0, length: 1, pid: 2 });
    }
    console.log(`${label}: F_GETLK (a conflict)     ${perSecond(ops, performance.now() - started)}`);
    started = performance.now();
    for (let i = 0; i < ops * 10; i++) {
      await a.releaseOwner(3, BigInt(i));
    }
    console.log(`${label}: close without locks     ${perSecond(ops * 10, performance.now() - started)}`);
  } finally {
    await a.stop();
  }
}

async function handover(label: string, stores: [StateStore, StateStore], rounds: number): Promise<void> {
  const [a, b] = [new FileLockService(stores[0]), new FileLockService(stores[1])];
  await a.start();
  await b.start();
  try {
    const lock = { type: LockType.write, start: 0, length: 1, pid: 1 };
    const unlock = { ...lock, type: LockType.unlock };
    const latencies: number[] = [];
    for (let i = 0; i < rounds; i++) {
      await a.setlk(5, 1n, lock, false);
      const waiting = b.setlk(5, 1n, lock, true);
      await new Promise((resolve) => setTimeout(resolve, 2));
      const released = performance.now();
      await a.setlk(5, 1n, unlock, false);
      await waiting;
      latencies.push(performance.now() - released);
      await b.setlk(5, 1n, unlock, false);
    }
    latencies.sort((x, y) => x - y);
    const pick = (q: number): string => latencies[Math.floor(q * (latencies.length - 1))].toFixed(2);
    console.log(`${label}: unlock → waiter on the other gateway granted: p50 ${pick(0.5)} ms, p99 ${pick(0.99)} ms`);
  } finally {
    await a.stop();
    await b.stop();
  }
}

const CYCLE = `
import fcntl, sys, time
f = open(sys.argv[1], 'r+')
n = int(sys.argv[2])
t = time.perf_counter()
for i in range(n):
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
    fcntl.lockf(f, fcntl.LOCK_UN, 10, 0)
print((time.perf_counter() - t) * 1000)
`;

async function throughMount(label: string, fs0: LowLevelFilesystem, ops: number): Promise<void> {
  const mountpoint = fs.mkdtempSync(path.join(os.tmpdir(), 'riverfs-locks-bench-'));
  const mount = await LowLevelMount.mount(mountpoint, fs0, { fuseOptions: ['fsname=riverfs-bench'] });
  try {
    const file = path.join(mountpoint, 'f');
    await fs.promises.writeFile(file, 'x');
    const { stdout } = await run('python3', ['-c', CYCLE, file, String(ops)]);
    console.log(`mount, ${label}: lockf lock + unlock pairs   ${perSecond(ops, Number(stdout))}`);
  } finally {
    await mount.unmount();
    fs.rmSync(mountpoint, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const redisUrl = args.find((arg) => arg.startsWith('redis://')) ?? 'redis://127.0.0.1:6379';
  const opsAt = args.indexOf('--ops');
  const ops = opsAt >= 0 ? Number(args[opsAt + 1]) : 5000;
  const prefix = `riverfs-bench-locks:${process.pid}:`;
  const stores: StateStore[] = [];
  const redis = (): RedisStateStore => {
    const store = new RedisStateStore({ url: redisUrl, keyPrefix: prefix });
    stores.push(store);
    return store;
  };
  try {
    const inProcess = new InProcessStateStore();
    stores.push(inProcess);
    await serviceLoop('in-process', inProcess, ops);
    const probe = redis();
    await probe.getCounter('bench-rtt');
    const rttStarted = performance.now();
    for (let i = 0; i < ops; i++) {
      await probe.getCounter('bench-rtt');
    }
    console.log(`redis     : one GET round trip (for scale) ${perSecond(ops, performance.now() - rttStarted)}`);
    await serviceLoop('redis     ', probe, ops);
    await handover('in-process', [inProcess, inProcess], 200);
    await handover('redis     ', [redis(), redis()], 200);

    // Without lock operations the kernel keeps the locks itself (the FUSE default): the floor.
    const kernelOnly = new Proxy(new MemoryLowLevelFs(), {
      get: (target, name, receiver) =>
        name === 'getlk' || name === 'setlk' || name === 'flock'
          ? undefined
          : (Reflect.get(target, name, receiver) as unknown),
    });
    await throughMount('kernel keeps locks   ', kernelOnly, ops);
    for (const [label, store] of [
      ['service, in-process  ', new InProcessStateStore()],
      ['service, redis       ', redis()],
    ] as const) {
      const locks = new FileLockService(store);
      await locks.start();
      try {
        await throughMount(label, withLockService(new MemoryLowLevelFs(), locks).fs, ops);
      } finally {
        await locks.stop();
      }
    }
  } finally {
    await Promise.all(stores.map((store) => store.close()));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
