/**
 * Tahoe's own SFTP frontend on the bench grid's client node, for the sshfs target. Tahoe 1.20 accepts public keys
 * only (allmydata/frontends/auth.py refuses password lines), so both a host key and a client key are generated.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LocalGrid } from '../src/grid/local-grid';
import { setIniValue } from '../src/grid/ini.util';
import { findFreePort, isPortFree, pollUntil, runCommand } from '../src/grid/process.util';

export interface SftpFrontend {
  port: number;
  user: string;
  identityFile: string;
}

async function generateKey(file: string, type: 'rsa' | 'ed25519'): Promise<void> {
  // The host key in PEM: Twisted Conch reads that format of RSA keys in every version.
  const format = type === 'rsa' ? ['-m', 'PEM', '-b', '2048'] : [];
  const result = await runCommand('ssh-keygen', ['-q', '-t', type, ...format, '-N', '', '-f', file], {
    timeoutMs: 60_000,
  });
  if (result.code !== 0) {
    throw new Error(`ssh-keygen -t ${type} failed: ${result.stderr}`);
  }
}

/** Configures [sftpd] on the client node with one account rooted at `rootCap`, restarts the node and waits for the port. */
export async function enableSftpFrontend(grid: LocalGrid, rootCap: string, keysDir: string): Promise<SftpFrontend> {
  fs.mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  const hostKey = path.join(keysDir, 'sftp-host-key');
  const clientKey = path.join(keysDir, 'sftp-client-key');
  await generateKey(hostKey, 'rsa');
  await generateKey(clientKey, 'ed25519');
  const user = 'bench';
  const accounts = path.join(keysDir, 'sftp-accounts');
  const publicKey = fs.readFileSync(`${clientKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  fs.writeFileSync(accounts, `${user} ${publicKey} ${rootCap}\n`, { mode: 0o600 });

  const port = await findFreePort();
  const config = path.join(grid.gridDir, 'client', 'tahoe.cfg');
  let text = fs.readFileSync(config, 'utf8');
  text = setIniValue(text, 'sftpd', 'enabled', 'true');
  text = setIniValue(text, 'sftpd', 'port', `tcp:${port}:interface=127.0.0.1`);
  text = setIniValue(text, 'sftpd', 'host_pubkey_file', `${hostKey}.pub`);
  text = setIniValue(text, 'sftpd', 'host_privkey_file', hostKey);
  text = setIniValue(text, 'sftpd', 'accounts.file', accounts);
  fs.writeFileSync(config, text);
  await grid.stopNode('client');
  await grid.startNode('client');
  await pollUntil(async () => ((await isPortFree(port)) ? undefined : true), {
    timeoutMs: 60_000,
    intervalMs: 100,
    describeTimeout: () => `Tahoe's SFTP frontend did not listen on 127.0.0.1:${port} within 60 s`,
  });
  return { port, user, identityFile: clientKey };
}
