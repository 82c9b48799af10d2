import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import readline from 'node:readline';

export interface AgentReply {
  ok: boolean;
  errno?: string;
  pid?: number;
  type?: string;
  start?: number;
  len?: number;
}

/**
 * A python3 process (test/support/lock-agent.py) that opens a file and takes fcntl/flock locks on command,
 * so that a test can play several processes against a mount. Replies come in command order.
 */
export class LockAgent {
  private readonly pending: { resolve: (reply: AgentReply) => void; reject: (error: Error) => void }[] = [];
  private stderr = '';

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      this.pending.shift()?.resolve(JSON.parse(line) as AgentReply);
    });
    child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    child.on('exit', (code, signal) => {
      for (const waiter of this.pending.splice(0)) {
        waiter.reject(new Error(`lock agent exited (${code ?? signal}): ${this.stderr}`));
      }
    });
  }

  /** Starts an agent with `file` open (read-write, or read-only); its pid is the process's. */
  static async open(file: string, options: { readOnly?: boolean } = {}): Promise<LockAgent> {
    const agent = new LockAgent(spawn('python3', [path.join(__dirname, 'lock-agent.py')]));
    const opened = await agent.send(`open ${file}${options.readOnly === true ? ' ro' : ''}`);
    if (!opened.ok) {
      agent.kill();
      throw new Error(`the lock agent could not open ${file}: ${opened.errno}`);
    }
    return agent;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Sends one command; resolves with its reply (a blocking command's reply comes when it is granted). */
  send(command: string): Promise<AgentReply> {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        reject(new Error(`lock agent is gone: ${this.stderr}`));
        return;
      }
      this.pending.push({ resolve, reject });
      this.child.stdin.write(`${command}\n`);
    });
  }

  /** Kills the process (its descriptors are closed by the kernel: FUSE flush and release follow). */
  async killAndWait(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = once(this.child, 'exit');
      this.child.kill('SIGKILL');
      await exited;
    }
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
