import fs from 'node:fs';

export interface ListeningSocket {
  pid: number;
  protocol: 'tcp' | 'tcp6' | 'udp' | 'udp6';
  /** The bound address as text: 127.0.0.1, 0.0.0.0, ::1, :: or a hex IPv6. */
  address: string;
  port: number;
}

/** The inodes of the sockets process `pid` holds open (its /proc/<pid>/fd links "socket:[N]"). */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) {
        inodes.add(match[1]);
      }
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

function ipv4(hex: string): string {
  // /proc shows the address as one 32-bit number in host (little-endian) order.
  return [6, 4, 2, 0].map((at) => parseInt(hex.slice(at, at + 2), 16)).join('.');
}

function ipv6(hex: string): string {
  if (hex === '00000000000000000000000000000000') {
    return '::';
  }
  if (hex === '00000000000000000000000001000000') {
    return '::1';
  }
  if (hex.startsWith('0000000000000000FFFF0000')) {
    return `::ffff:${ipv4(hex.slice(24))}`;
  }
  return hex;
}

/**
 * Every socket process `pid` listens on: TCP sockets in LISTEN state and every bound UDP socket, from the
 * /proc/<pid>/net tables of its network namespace, kept to the sockets the process itself holds.
 */
export function listeningSockets(pid: number): ListeningSocket[] {
  const own = socketInodes(pid);
  const sockets: ListeningSocket[] = [];
  for (const protocol of ['tcp', 'tcp6', 'udp', 'udp6'] as const) {
    const lines = fs.readFileSync(`/proc/${pid}/net/${protocol}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      const [addressHex, portHex] = fields[1].split(':');
      const state = fields[3];
      const inode = fields[9];
      const listening = protocol.startsWith('tcp') ? state === '0A' : true;
      if (!listening || !own.has(inode)) {
        continue;
      }
      sockets.push({
        pid,
        protocol,
        address: protocol.endsWith('6') ? ipv6(addressHex) : ipv4(addressHex),
        port: parseInt(portHex, 16),
      });
    }
  }
  return sockets;
}

export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}
