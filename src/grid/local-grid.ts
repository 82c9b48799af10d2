import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { withFileLock } from './file-lock';
import { GridError } from './grid.errors';
import { getIniValue, setIniValue } from './ini.util';
import { protectNodeSecrets, withPrivateUmask } from './node-secrets';
import { findFreePort, isPortFree, isProcessAlive, pollUntil, runCommand, tailFile } from './process.util';
import { ensureTahoeVenv, TAHOE_VERSION } from './tahoe-venv';

export interface LocalGridOptions {
  /** Holds the introducer, storage and client node directories; reused across starts. */
  gridDir: string;
  venvDir: string;
  python?: string | undefined;
  storageNodes: number;
  sharesNeeded: number;
  sharesHappy: number;
  sharesTotal: number;
  /** More `[storage]` settings of every storage node (e.g. `expire.enabled`), applied on each start like the shares. */
  storageSettings?: Readonly<Record<string, string>>;
  /** More environment variables of every node process (e.g. FAST_LEASE_EXPIRY_ENV for a test grid). */
  nodeEnv?: Readonly<Record<string, string>>;
  /** How long start() may wait for the grid to become ready (first start includes key generation). */
  readyTimeoutMs?: number;
  log?: (message: string) => void;
}

export type NodeRole = 'introducer' | 'storage' | 'client';

export interface GridNodeStatus {
  name: string;
  role: NodeRole;
  dir: string;
  created: boolean;
  running: boolean;
  pid: number | undefined;
  /** Foolscap/HTTPS listening port (introducer and storage nodes). */
  tubPort: number | undefined;
  /** Web-API port (client node only). */
  webPort: number | undefined;
}

export interface LocalGridStatus {
  gridDir: string;
  webUrl: string | undefined;
  nodes: GridNodeStatus[];
  connectedServers: number | undefined;
  happy: number;
  ready: boolean;
}

interface WelcomeServer {
  connection_status?: string;
  last_received_data?: number | null;
}

const INTRODUCER = 'introducer';
const CLIENT = 'client';
const GRID_MARKER = 'riverfs-grid.json';

/**
 * A Tahoe-LAFS grid on 127.0.0.1 made of one introducer, N storage nodes and one client node, each a `tahoe run`
 * process of its own. The grid directory is the grid's identity: its storage nodes hold the data, so a node that
 * exists is never recreated, and nodes still running from an earlier process (even one killed with -9) are found
 * by the pid Tahoe records in `running.process` and adopted instead of being started twice.
 */
export class LocalGrid {
  private readonly log: (message: string) => void;
  private tahoe: string | undefined;

  constructor(private readonly options: LocalGridOptions) {
    this.log = options.log ?? (() => undefined);
  }

  get gridDir(): string {
    return this.options.gridDir;
  }

  storageNodeNames(): string[] {
    return Array.from({ length: this.options.storageNodes }, (_, index) => `storage${index + 1}`);
  }

  private allNodeNames(): string[] {
    return [INTRODUCER, ...this.existingStorageNodes(), CLIENT];
  }

  /** Configured storage nodes plus any extra ones an earlier, larger configuration created (never dropped: they hold data). */
  private existingStorageNodes(): string[] {
    const names = new Set(this.storageNodeNames());
    if (fs.existsSync(this.options.gridDir)) {
      for (const entry of fs.readdirSync(this.options.gridDir)) {
        if (/^storage\d+$/.test(entry) && fs.existsSync(path.join(this.options.gridDir, entry, 'tahoe.cfg'))) {
          names.add(entry);
        }
      }
    }
    return [...names].sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)));
  }

  private nodeDir(name: string): string {
    return path.join(this.options.gridDir, name);
  }

  private roleOf(name: string): NodeRole {
    if (name === INTRODUCER) {
      return 'introducer';
    }
    if (name === CLIENT) {
      return 'client';
    }
    if (/^storage\d+$/.test(name)) {
      return 'storage';
    }
    throw new GridError('UNKNOWN_NODE', `no node named "${name}" in this grid`);
  }

  private isCreated(name: string): boolean {
    return fs.existsSync(path.join(this.nodeDir(name), 'tahoe.cfg'));
  }

  /** The pid of the node's running `tahoe run` process, from Tahoe's own pid file, verified against /proc. */
  nodePid(name: string): number | undefined {
    const dir = this.nodeDir(name);
    let content: string;
    try {
      content = fs.readFileSync(path.join(dir, 'running.process'), 'utf8');
    } catch {
      return undefined;
    }
    const pid = Number(content.trim().split(/\s+/)[0]);
    if (!Number.isInteger(pid) || pid <= 0) {
      return undefined;
    }
    return isProcessAlive(pid, dir) ? pid : undefined;
  }

  /**
   * Tahoe refuses to start while its pid file names a process that exists, and a node killed with -9 stays a
   * zombie until its parent reaps it (or is a recycled pid): neither is our node, so the file is stale.
   */
  private removeStalePidFile(name: string): void {
    const pidFile = path.join(this.nodeDir(name), 'running.process');
    if (fs.existsSync(pidFile) && this.nodePid(name) === undefined) {
      fs.rmSync(pidFile, { force: true });
    }
  }

  private readConfig(name: string): string {
    return fs.readFileSync(path.join(this.nodeDir(name), 'tahoe.cfg'), 'utf8');
  }

  private writeConfig(name: string, text: string): void {
    fs.writeFileSync(path.join(this.nodeDir(name), 'tahoe.cfg'), text);
  }

  private portFromStrport(value: string | undefined): number | undefined {
    const match = value ? /^tcp:(\d+)/.exec(value.trim()) : null;
    return match ? Number(match[1]) : undefined;
  }

  private tubPort(name: string): number | undefined {
    return this.isCreated(name)
      ? this.portFromStrport(getIniValue(this.readConfig(name), 'node', 'tub.port'))
      : undefined;
  }

  private webPort(name: string): number | undefined {
    return this.isCreated(name)
      ? this.portFromStrport(getIniValue(this.readConfig(name), 'node', 'web.port'))
      : undefined;
  }

  /** The client node's web-API URL, known once the client node exists. */
  webUrl(): string | undefined {
    const port = this.webPort(CLIENT);
    return port === undefined ? undefined : `http://127.0.0.1:${port}`;
  }

  /** Creates what is missing, starts what is not running, and waits until uploads can reach `happy` servers. */
  async start(): Promise<LocalGridStatus> {
    fs.mkdirSync(this.options.gridDir, { recursive: true, mode: 0o700 });
    this.tahoe = await ensureTahoeVenv({ venvDir: this.options.venvDir, python: this.options.python, log: this.log });
    await withFileLock(path.join(this.options.gridDir, 'grid.lock'), { timeoutMs: 5 * 60_000 }, async () => {
      this.writeMarker();
      await this.ensureIntroducer();
      const furl = this.introducerFurl();
      await Promise.all(this.storageNodeNames().map((name) => this.ensureNodeCreated(name, furl)));
      await this.ensureNodeCreated(CLIENT, furl);
      this.applyShareSettings();
      for (const name of this.allNodeNames().filter((n) => n !== INTRODUCER)) {
        await this.startNode(name, { waitReady: false });
      }
    });
    await this.waitUntilHappy(this.options.readyTimeoutMs ?? 180_000);
    return this.status();
  }

  private writeMarker(): void {
    const marker = path.join(this.options.gridDir, GRID_MARKER);
    if (!fs.existsSync(marker)) {
      fs.writeFileSync(
        marker,
        JSON.stringify(
          { createdBy: 'riverfs', tahoeVersion: TAHOE_VERSION, createdAt: new Date().toISOString() },
          null,
          2,
        ) + '\n',
      );
    }
  }

  private async ensureIntroducer(): Promise<void> {
    if (!this.isCreated(INTRODUCER)) {
      this.removeIncompleteNode(INTRODUCER);
      const port = await findFreePort();
      this.log(`creating the introducer on 127.0.0.1:${port}`);
      await this.tahoeCommand([
        'create-introducer',
        `--port=tcp:${port}:interface=127.0.0.1`,
        `--location=tcp:127.0.0.1:${port}`,
        this.nodeDir(INTRODUCER),
      ]);
    }
    await this.startNode(INTRODUCER, { waitReady: false });
    const furlFile = path.join(this.nodeDir(INTRODUCER), 'private', 'introducer.furl');
    await pollUntil(() => (fs.existsSync(furlFile) ? true : undefined), {
      timeoutMs: 60_000,
      describeTimeout: () =>
        `the introducer did not write ${furlFile} within 60 s; its log:\n${tailFile(this.logFile(INTRODUCER))}`,
    });
  }

  private introducerFurl(): string {
    return fs.readFileSync(path.join(this.nodeDir(INTRODUCER), 'private', 'introducer.furl'), 'utf8').trim();
  }

  /** `tahoe create-*` refuses a non-empty directory; one without tahoe.cfg was cut short mid-creation and holds no data. */
  private removeIncompleteNode(name: string): void {
    const dir = this.nodeDir(name);
    if (fs.existsSync(dir) && !this.isCreated(name)) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  private async ensureNodeCreated(name: string, furl: string): Promise<void> {
    if (this.isCreated(name)) {
      return;
    }
    this.removeIncompleteNode(name);
    const shares = [
      `--shares-needed=${this.options.sharesNeeded}`,
      `--shares-happy=${this.options.sharesHappy}`,
      `--shares-total=${this.options.sharesTotal}`,
    ];
    if (this.roleOf(name) === 'client') {
      const webPort = await findFreePort();
      this.log(`creating the client node (web API on 127.0.0.1:${webPort})`);
      await this.tahoeCommand([
        'create-client',
        `--nickname=${name}`,
        `--introducer=${furl}`,
        `--webport=tcp:${webPort}:interface=127.0.0.1`,
        ...shares,
        this.nodeDir(name),
      ]);
      return;
    }
    const port = await findFreePort();
    this.log(`creating storage node ${name} on 127.0.0.1:${port}`);
    await this.tahoeCommand([
      'create-node',
      `--nickname=${name}`,
      `--introducer=${furl}`,
      `--port=tcp:${port}:interface=127.0.0.1`,
      `--location=tcp:127.0.0.1:${port}`,
      '--webport=none',
      ...shares,
      this.nodeDir(name),
    ]);
    // create-node reserves 1G; a storage server then refuses shares on a small or nearly full disk.
    this.writeConfig(name, setIniValue(this.readConfig(name), 'storage', 'reserved_space', '0'));
  }

  /** Share settings are configuration, not data: keep every node's tahoe.cfg in line with the options on each start. */
  private applyShareSettings(): void {
    for (const name of this.allNodeNames().filter((n) => n !== INTRODUCER)) {
      let text = this.readConfig(name);
      text = setIniValue(text, 'client', 'shares.needed', String(this.options.sharesNeeded));
      text = setIniValue(text, 'client', 'shares.happy', String(this.options.sharesHappy));
      text = setIniValue(text, 'client', 'shares.total', String(this.options.sharesTotal));
      if (this.roleOf(name) === 'storage') {
        for (const [key, value] of Object.entries(this.options.storageSettings ?? {})) {
          text = setIniValue(text, 'storage', key, value);
        }
      }
      this.writeConfig(name, text);
    }
  }

  private async tahoeCommand(args: string[]): Promise<void> {
    const tahoe = this.requireTahoe();
    const result = await withPrivateUmask(() => runCommand(tahoe, args, { timeoutMs: 120_000 }));
    if (result.code !== 0) {
      throw new GridError(
        'NODE_CREATE_FAILED',
        `tahoe ${args[0]} failed: ${(result.stdout + result.stderr).trim().slice(-2000)}`,
      );
    }
  }

  private requireTahoe(): string {
    if (this.tahoe === undefined) {
      throw new GridError('NODE_START_FAILED', 'the Tahoe venv has not been prepared (call start() first)');
    }
    return this.tahoe;
  }

  private logFile(name: string): string {
    return path.join(this.nodeDir(name), 'logs', 'riverfs-run.log');
  }

  /**
   * Starts one node unless it is already running. A port taken by another program since the node was created
   * is replaced by a free one (and, for the introducer, every node's introducer FURL is updated to match).
   */
  async startNode(name: string, options: { waitReady?: boolean } = {}): Promise<number> {
    this.roleOf(name);
    if (!this.isCreated(name)) {
      throw new GridError('UNKNOWN_NODE', `node ${name} has not been created in ${this.options.gridDir}`);
    }
    protectNodeSecrets(this.nodeDir(name));
    const running = this.nodePid(name);
    if (running !== undefined) {
      return running;
    }
    this.tahoe ??= await ensureTahoeVenv({ venvDir: this.options.venvDir, python: this.options.python, log: this.log });
    this.removeStalePidFile(name);
    await this.movePortsInTheWay(name);
    fs.mkdirSync(path.dirname(this.logFile(name)), { recursive: true });
    const logFd = fs.openSync(this.logFile(name), 'a');
    let child;
    try {
      // Detached with its own session, so the grid outlives `riverfs grid start` and a killed RiverFS; stdin is
      // /dev/null, hence --allow-stdin-close (since 1.19 `tahoe run` otherwise exits when stdin closes).
      const tahoe = this.requireTahoe();
      child = withPrivateUmask(() =>
        spawn(tahoe, ['run', '--allow-stdin-close', this.nodeDir(name)], {
          detached: true,
          stdio: ['ignore', logFd, logFd],
          cwd: this.nodeDir(name),
          env: { ...process.env, ...this.options.nodeEnv },
        }),
      );
    } finally {
      fs.closeSync(logFd);
    }
    let exitCode: number | null | undefined;
    child.on('exit', (code) => (exitCode = code));
    child.on('error', () => (exitCode = -1));
    child.unref();
    this.log(`started ${name} (pid ${child.pid})`);
    const pid = await pollUntil(
      () => {
        if (exitCode !== undefined) {
          throw new GridError(
            'NODE_START_FAILED',
            `${name} exited (code ${exitCode}) while starting; its log:\n${tailFile(this.logFile(name))}`,
          );
        }
        return this.nodePid(name);
      },
      {
        timeoutMs: 60_000,
        describeTimeout: () => `${name} did not start within 60 s; its log:\n${tailFile(this.logFile(name))}`,
      },
    );
    if (options.waitReady ?? true) {
      await this.waitUntilHappy(this.options.readyTimeoutMs ?? 120_000);
    }
    return pid;
  }

  private async movePortsInTheWay(name: string): Promise<void> {
    const role = this.roleOf(name);
    let text = this.readConfig(name);
    if (role === 'client') {
      const port = this.webPort(name);
      if (port !== undefined && !(await this.portFreesUp(port))) {
        const next = await findFreePort();
        this.log(`web port ${port} of ${name} is taken by another program; moving it to ${next}`);
        this.writeConfig(name, setIniValue(text, 'node', 'web.port', `tcp:${next}:interface=127.0.0.1`));
      }
      return;
    }
    const port = this.tubPort(name);
    if (port === undefined || (await this.portFreesUp(port))) {
      return;
    }
    const next = await findFreePort();
    this.log(`port ${port} of ${name} is taken by another program; moving it to ${next}`);
    text = setIniValue(text, 'node', 'tub.port', `tcp:${next}:interface=127.0.0.1`);
    text = setIniValue(text, 'node', 'tub.location', `tcp:127.0.0.1:${next}`);
    this.writeConfig(name, text);
    if (role === 'introducer') {
      this.rewriteIntroducerFurls(port, next);
    }
  }

  /** A node killed a moment ago may still hold its socket while the kernel tears it down: give it a moment before moving. */
  private async portFreesUp(port: number): Promise<boolean> {
    try {
      return await pollUntil(async () => ((await isPortFree(port)) ? true : undefined), {
        timeoutMs: 2000,
        intervalMs: 100,
        describeTimeout: () => `port ${port} stays taken`,
      });
    } catch {
      return false;
    }
  }

  private rewriteIntroducerFurls(oldPort: number, newPort: number): void {
    const replace = (file: string): void => {
      if (fs.existsSync(file)) {
        fs.writeFileSync(
          file,
          fs.readFileSync(file, 'utf8').split(`tcp:127.0.0.1:${oldPort}`).join(`tcp:127.0.0.1:${newPort}`),
        );
      }
    };
    replace(path.join(this.nodeDir(INTRODUCER), 'private', 'introducer.furl'));
    for (const name of this.allNodeNames().filter((n) => n !== INTRODUCER)) {
      replace(path.join(this.nodeDir(name), 'private', 'introducers.yaml'));
    }
  }

  /** Stops one node by its pid: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stopNode(name: string, graceMs = 10_000): Promise<void> {
    this.roleOf(name);
    const pid = this.nodePid(name);
    if (pid === undefined) {
      return;
    }
    const dir = this.nodeDir(name);
    this.log(`stopping ${name} (pid ${pid})`);
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    try {
      await pollUntil(() => (isProcessAlive(pid, dir) ? undefined : true), {
        timeoutMs: graceMs,
        intervalMs: 100,
        describeTimeout: () => `${name} ignored SIGTERM`,
      });
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // It exited between the check and the kill.
      }
      await pollUntil(() => (isProcessAlive(pid, dir) ? undefined : true), {
        timeoutMs: 10_000,
        intervalMs: 100,
        describeTimeout: () => `${name} (pid ${pid}) survived SIGKILL`,
      });
    }
  }

  /** Stops every node of the grid (client first, introducer last). */
  async stop(): Promise<void> {
    await this.stopNode(CLIENT);
    await Promise.all(this.existingStorageNodes().map((name) => this.stopNode(name)));
    await this.stopNode(INTRODUCER);
  }

  /** Connected storage servers as the client node reports them, or undefined when its web API does not answer. */
  async connectedServers(): Promise<number | undefined> {
    const url = this.webUrl();
    if (url === undefined || this.nodePid(CLIENT) === undefined) {
      return undefined;
    }
    try {
      const response = await fetch(`${url}/?t=json`, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(5000),
      });
      if (!response.ok) {
        return undefined;
      }
      const welcome = (await response.json()) as { servers?: WelcomeServer[] };
      return (welcome.servers ?? []).filter(
        (server) =>
          (server.connection_status ?? '').toLowerCase().startsWith('connected') &&
          server.last_received_data !== null &&
          server.last_received_data !== undefined,
      ).length;
    } catch {
      return undefined;
    }
  }

  /** A real immutable upload: the only proof that `happy` servers accept shares. */
  private async probeUpload(): Promise<boolean> {
    const url = this.webUrl();
    if (url === undefined) {
      return false;
    }
    try {
      const response = await fetch(`${url}/uri`, {
        method: 'PUT',
        headers: { accept: 'text/plain' },
        // More than 55 bytes, or Tahoe would inline it in a LIT cap and touch no server.
        body: randomBytes(128),
        signal: AbortSignal.timeout(60_000),
      });
      const body = await response.text();
      return response.status === 200 && body.startsWith('URI:CHK:');
    } catch {
      return false;
    }
  }

  /** Waits until the client node sees at least `happy` connected servers and a probe upload succeeds. */
  async waitUntilHappy(timeoutMs = 120_000): Promise<void> {
    const happy = this.options.sharesHappy;
    let seen: number | undefined;
    await pollUntil(
      async () => {
        seen = await this.connectedServers();
        if (seen === undefined || seen < happy) {
          return undefined;
        }
        return (await this.probeUpload()) ? true : undefined;
      },
      {
        timeoutMs,
        intervalMs: 500,
        describeTimeout: () =>
          `the grid in ${this.options.gridDir} was not ready within ${Math.round(timeoutMs / 1000)} s: ` +
          `${seen ?? 'no answer from the client node, so unknown'} of ${happy} servers connected; client log:\n` +
          tailFile(this.logFile(CLIENT)),
      },
    ).catch((error: unknown) => {
      throw new GridError('NOT_READY', (error as Error).message);
    });
  }

  async status(): Promise<LocalGridStatus> {
    const names = fs.existsSync(this.options.gridDir)
      ? this.allNodeNames()
      : [INTRODUCER, ...this.storageNodeNames(), CLIENT];
    const nodes = names.map((name): GridNodeStatus => {
      const role = this.roleOf(name);
      const pid = this.nodePid(name);
      return {
        name,
        role,
        dir: this.nodeDir(name),
        created: this.isCreated(name),
        running: pid !== undefined,
        pid,
        tubPort: role === 'client' ? undefined : this.tubPort(name),
        webPort: role === 'client' ? this.webPort(name) : undefined,
      };
    });
    const connectedServers = await this.connectedServers();
    return {
      gridDir: this.options.gridDir,
      webUrl: this.webUrl(),
      nodes,
      connectedServers,
      happy: this.options.sharesHappy,
      ready:
        nodes.every((node) => node.running) &&
        connectedServers !== undefined &&
        connectedServers >= this.options.sharesHappy,
    };
  }
}
