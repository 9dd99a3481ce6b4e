// The kernel's count of our unacknowledged bytes (Linux /proc/net/tcp and tcp6), read for real connections on
// loopback: a request the peer's TCP took is acknowledged, a connection that does not exist is not found.
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { unacknowledgedBytesOf } from '../../src/probes/tcp-queue.js';

const hasProcTcp = existsSync('/proc/self/net/tcp');

/** A server on `host` that reads what comes and never answers; the client sends `request` and waits for it to arrive. */
async function sendUnanswered(host: string, request: string) {
  const server = net.createServer((socket) => socket.on('data', () => {}));
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const received = new Promise<void>((resolve) =>
    server.once('connection', (socket) => socket.once('data', () => resolve())),
  );
  const client = net.connect({ host, port });
  await once(client, 'connect');
  client.write(request);
  await received;
  return {
    ends: {
      localPort: client.localPort as number,
      remoteAddress: client.remoteAddress as string,
      remotePort: port,
    },
    close: async () => {
      client.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

describe.skipIf(!hasProcTcp)('unacknowledgedBytesOf', () => {
  it('finds an IPv4 connection whose request the server took, with nothing left unacknowledged', async () => {
    const connection = await sendUnanswered('127.0.0.1', 'GET / HTTP/1.1\r\nhost: a.test\r\n\r\n');
    try {
      expect(await unacknowledgedBytesOf(connection.ends)).toBe(0);
    } finally {
      await connection.close();
    }
  });

  it('finds an IPv6 connection the same way (tcp6, its address in 32-bit words)', async () => {
    const connection = await sendUnanswered('::1', 'GET / HTTP/1.1\r\nhost: a.test\r\n\r\n');
    try {
      expect(connection.ends.remoteAddress).toBe('::1');
      expect(await unacknowledgedBytesOf(connection.ends)).toBe(0);
    } finally {
      await connection.close();
    }
  });

  it('answers the callers of one moment each with its own connection, and nothing for one that does not exist', async () => {
    const connections = await Promise.all(
      ['GET / HTTP/1.1\r\n\r\n', 'x', 'GET /two HTTP/1.1\r\n\r\n'].map((request) =>
        sendUnanswered('127.0.0.1', request),
      ),
    );
    try {
      const [first, second, third] = connections;
      if (!first || !second || !third) throw new Error('three connections expected');
      const answers = await Promise.all([
        unacknowledgedBytesOf(first.ends),
        unacknowledgedBytesOf(second.ends),
        unacknowledgedBytesOf({ ...second.ends, remoteAddress: '127.0.0.3' }),
        unacknowledgedBytesOf(third.ends),
      ]);
      expect(answers).toEqual([0, 0, undefined, 0]);
    } finally {
      await Promise.all(connections.map((connection) => connection.close()));
    }
  });

  it('says nothing for a connection that does not exist', async () => {
    const connection = await sendUnanswered('127.0.0.1', 'x');
    try {
      // The same ends with the remote address changed: no such connection.
      expect(await unacknowledgedBytesOf({ ...connection.ends, remoteAddress: '127.0.0.2' })).toBeUndefined();
    } finally {
      await connection.close();
    }
  });
});
