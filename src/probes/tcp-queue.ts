// The kernel's view of one of our TCP connections (Linux /proc/net/tcp): how many bytes it still holds unacknowledged.
import { readFile } from 'node:fs/promises';
import { familyOfAddress } from './util.js';

export interface ConnectionEnds {
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/** A listening socket's state (hex, as /proc/net/tcp prints it); a connection of ours has any other. */
const listen = '0A';

/**
 * The bytes we sent on this connection that the peer has not acknowledged (tx_queue: write_seq - snd_una), read
 * from this process's network namespace; a FIN we queued counts as one, and a connection in TIME_WAIT (both
 * sides closed, all acknowledged) has none. Undefined where there is no
 * /proc/net/tcp (not Linux) or the connection is not in it. A request the server's TCP acknowledged reached it;
 * one still unacknowledged after seconds of retransmissions was lost on the way.
 */
export async function unacknowledgedBytesOf(ends: ConnectionEnds): Promise<number | undefined> {
  const family = familyOfAddress(ends.remoteAddress);
  let table: string;
  try {
    table = await readFile(family === 4 ? '/proc/self/net/tcp' : '/proc/self/net/tcp6', 'latin1');
  } catch {
    return undefined;
  }
  const remote = canonical(ends.remoteAddress);
  for (const line of table.split('\n')) {
    // sl local_address rem_address st tx_queue:rx_queue …
    const fields = line.trim().split(/\s+/);
    const [local, peer, state, queues] = [fields[1], fields[2], fields[3], fields[4]];
    if (!local || !peer || !state || !queues || state === listen) continue;
    if (portOf(local) !== ends.localPort || portOf(peer) !== ends.remotePort) continue;
    if (addressOf(peer) !== remote) continue;
    const txQueue = Number.parseInt(queues.split(':')[0] ?? '', 16);
    return Number.isNaN(txQueue) ? undefined : txQueue;
  }
  return undefined;
}

function portOf(endpoint: string): number {
  return Number.parseInt(endpoint.slice(endpoint.indexOf(':') + 1), 16);
}

/** An address as /proc/net/tcp prints it: 32-bit words in host byte order (little-endian on every Linux we run on). */
function addressOf(endpoint: string): string {
  const hex = endpoint.slice(0, endpoint.indexOf(':'));
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    for (let byte = 6; byte >= 0; byte -= 2)
      bytes.push(Number.parseInt(hex.slice(word + byte, word + byte + 2), 16));
  }
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let index = 0; index < 16; index += 2)
    groups.push((((bytes[index] ?? 0) << 8) | (bytes[index + 1] ?? 0)).toString(16));
  return canonical(groups.join(':'));
}

/** One spelling per address: the URL parser's (IPv6 compressed, lower case, an embedded IPv4 in hex). */
function canonical(address: string): string {
  if (familyOfAddress(address) === 4) return address;
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}
