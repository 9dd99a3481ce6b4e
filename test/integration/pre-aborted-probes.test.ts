// A probe handed a signal that is already aborted sends nothing (no SYN, no query, no ClientHello) and ends the
// way an abort midway ends it. Real servers on loopback count what reaches them.
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryTcp, queryUdp } from '../../src/probes/dns-transport.js';
import { connectOnce, probeTcp } from '../../src/probes/tcp.js';
import { handshakeTls } from '../../src/probes/tls.js';

/** A TCP server on loopback that keeps every connection it accepts, with the bytes each sent. */
interface CountingServer {
  port: number;
  connections: { socket: net.Socket; bytes: number; closed: Promise<void> }[];
  /** Resolves once a connection from this local port has been accepted (a later one, to order against). */
  accepted(localPort: number): Promise<void>;
  close(): Promise<void>;
}

async function startCountingServer(): Promise<CountingServer> {
  const connections: CountingServer['connections'] = [];
  const server = net.createServer((socket) => {
    const connection = { socket, bytes: 0, closed: once(socket, 'close').then(() => undefined) };
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      connection.bytes += chunk.length;
    });
    connections.push(connection);
    server.emit('counted', socket.remotePort);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    accepted: (localPort) =>
      new Promise((resolve) => {
        if (connections.some((connection) => connection.socket.remotePort === localPort)) resolve();
        const onCounted = (port: number) => {
          if (port !== localPort) return;
          server.off('counted', onCounted);
          resolve();
        };
        server.on('counted', onCounted);
      }),
    close: async () => {
      for (const connection of connections) connection.socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Connects once more from here and waits for the server to accept it: a connection the probe had started
 * before would have been accepted first, so afterwards the count holds everything the probe sent.
 */
async function settle(server: CountingServer): Promise<void> {
  const socket = net.connect({ host: '127.0.0.1', port: server.port });
  await once(socket, 'connect');
  await server.accepted(socket.localPort as number);
  socket.destroy();
}

let server: CountingServer;

beforeAll(async () => {
  server = await startCountingServer();
});

afterAll(async () => {
  await server?.close();
});

describe('a TCP connect given an aborted signal', () => {
  it('opens no connection and ends as an abort mid-connect does', async () => {
    const midway = new AbortController();
    const started = connectOnce('127.0.0.1', { port: server.port, timeoutMs: 5000, signal: midway.signal });
    midway.abort();
    const abortedMidway = await started;
    await settle(server);
    const before = server.connections.length;

    const result = await connectOnce('127.0.0.1', {
      port: server.port,
      timeoutMs: 5000,
      signal: AbortSignal.abort(),
    });
    await settle(server);

    expect(result.socket).toBeUndefined();
    expect(result.outcome).toEqual({ ...abortedMidway.outcome, elapsedMs: 0 });
    expect(result.outcome).toMatchObject({ kind: 'timeout', errno: 'ETIMEDOUT', address: '127.0.0.1' });
    // Only the settling connection came after the baseline.
    expect(server.connections.length - before).toBe(1);
  });

  it('opens no connection from Happy Eyeballs either, and marks the address not attempted', async () => {
    await settle(server);
    const before = server.connections.length;
    const result = await probeTcp({
      addresses: ['127.0.0.1'],
      port: server.port,
      timeoutMs: 5000,
      signal: AbortSignal.abort(),
    });
    await settle(server);
    expect(result.socket).toBeUndefined();
    expect(result.outcomes.map((outcome) => outcome.kind)).toEqual(['not_attempted']);
    expect(server.connections.length - before).toBe(1);
  });
});

describe('a DNS query given an aborted signal', () => {
  it('sends no UDP datagram and ends as a timed-out attempt', async () => {
    const datagrams: Buffer[] = [];
    const socket = dgram.createSocket('udp4');
    socket.on('message', (message) => datagrams.push(message));
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    const resolver = { host: '127.0.0.1', port: socket.address().port };
    try {
      const attempt = await queryUdp(resolver, 'site-a.test', 'A', {
        attemptTimeoutMs: 5000,
        injectionWindowMs: 0,
        signal: AbortSignal.abort(),
      });
      expect(attempt).toEqual({ kind: 'timeout' });
      // A datagram sent after it arrives after the probe's would have: once it is here, the count is complete.
      const sender = dgram.createSocket('udp4');
      const settled = once(socket, 'message');
      sender.send('settle', resolver.port, resolver.host);
      await settled;
      sender.close();
      expect(datagrams.map(String)).toEqual(['settle']);
    } finally {
      socket.close();
    }
  });

  it('opens no TCP connection for the retry over TCP and answers nothing', async () => {
    await settle(server);
    const before = server.connections.length;
    const reply = await queryTcp({ host: '127.0.0.1', port: server.port }, 'site-a.test', 'A', {
      attemptTimeoutMs: 5000,
      injectionWindowMs: 0,
      signal: AbortSignal.abort(),
    });
    await settle(server);
    expect(reply).toEqual({ kind: 'timeout' });
    expect(server.connections.length - before).toBe(1);
  });
});

describe('a TLS handshake given an aborted signal', () => {
  it('sends no ClientHello on the connected socket, closes it, and ends as a handshake timeout', async () => {
    const raw = net.connect({ host: '127.0.0.1', port: server.port });
    await once(raw, 'connect');
    await server.accepted(raw.localPort as number);
    const serverSide = server.connections.find(
      (connection) => connection.socket.remotePort === raw.localPort,
    ) as CountingServer['connections'][number];
    const { observation, socket } = await handshakeTls({
      socket: raw,
      address: '127.0.0.1',
      servername: 'site-a.test',
      timeoutMs: 5000,
      signal: AbortSignal.abort(),
    });
    await serverSide.closed;
    expect(socket).toBeUndefined();
    expect(observation).toMatchObject({ outcome: 'timeout', errno: 'ETIMEDOUT', bytesSent: 0 });
    expect(serverSide.bytes).toBe(0);
  });
});
