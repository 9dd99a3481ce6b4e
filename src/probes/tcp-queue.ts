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
 *
 * The table lists every connection of the namespace (150 bytes each): a batch whose thousands of probes time out
 * together would read it once per probe. The callers of one turn of the event loop share one read instead.
 */
export function unacknowledgedBytesOf(ends: ConnectionEnds): Promise<number | undefined> {
  const family = familyOfAddress(ends.remoteAddress) === 4 ? 4 : 6;
  return new Promise((resolve) => {
    let batch = waiting.get(family);
    if (batch === undefined) {
      batch = [];
      waiting.set(family, batch);
      setImmediate(() => void readForWaiting(family));
    }
    batch.push({ key: keyOf(ends.localPort, ends.remotePort, canonical(ends.remoteAddress)), resolve });
  });
}

interface Waiting {
  key: string;
  resolve: (unacknowledgedBytes: number | undefined) => void;
}

/** The callers waiting for the next read of each family's table. */
const waiting = new Map<4 | 6, Waiting[]>();

function keyOf(localPort: number, remotePort: number, remoteAddress: string): string {
  return `${localPort} ${remotePort} ${remoteAddress}`;
}

/** One read of the table for everyone waiting on this family; those who come during it wait for the next. */
async function readForWaiting(family: 4 | 6): Promise<void> {
  const batch = waiting.get(family) ?? [];
  waiting.delete(family);
  const found = new Map<string, number | undefined>();
  try {
    const table = await readFile(family === 4 ? '/proc/self/net/tcp' : '/proc/self/net/tcp6', 'latin1');
    const wanted = new Set(batch.map((each) => each.key));
    // The ports first: decoding an address is the costly part, and few lines have the ports of a wanted one.
    const wantedPorts = new Set(batch.map((each) => each.key.slice(0, each.key.lastIndexOf(' '))));
    for (const line of table.split('\n')) {
      // sl local_address rem_address st tx_queue:rx_queue …
      const fields = line.trim().split(/\s+/);
      const [local, peer, state, queues] = [fields[1], fields[2], fields[3], fields[4]];
      if (!local || !peer || !state || !queues || state === listen) continue;
      const ports = `${portOf(local)} ${portOf(peer)}`;
      if (!wantedPorts.has(ports)) continue;
      const key = `${ports} ${addressOf(peer)}`;
      if (!wanted.has(key) || found.has(key)) continue;
      const txQueue = Number.parseInt(queues.split(':')[0] ?? '', 16);
      found.set(key, Number.isNaN(txQueue) ? undefined : txQueue);
    }
  } catch {
    // No table (not Linux): nothing is known.
  }
  for (const each of batch) each.resolve(found.get(each.key));
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
