// The tests' closed loopback port (test/support/http-servers.ts freeClosedPort): refused to every connect, held
// bound for the test process's life so no port-0 bind or outgoing connection takes it, and still free for a server
// the test starts on it.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freeClosedPort } from '../support/http-servers.js';

/** How a connect to 127.0.0.1:port ends: 'connected' or its error code. */
async function connectOutcome(port: number): Promise<string> {
  const socket = net.connect({ host: '127.0.0.1', port });
  try {
    await once(socket, 'connect');
    return 'connected';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'error';
  } finally {
    socket.destroy();
  }
}

/** The local ports of this machine's IPv4 TCP sockets bound on 127.0.0.1, from /proc/net/tcp. */
function boundLoopbackPorts(): Set<number> {
  const ports = new Set<number>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const local = line.trim().split(/\s+/)[1];
    if (local?.startsWith('0100007F:')) ports.add(Number.parseInt(local.slice(9), 16));
  }
  return ports;
}

describe('freeClosedPort', () => {
  it('answers distinct ports that refuse a connect and stay bound while the test process runs', async () => {
    const ports = [await freeClosedPort(), await freeClosedPort(), await freeClosedPort()];
    expect(new Set(ports).size).toBe(3);
    for (const port of ports) expect(await connectOutcome(port), String(port)).toBe('ECONNREFUSED');
    // Held, not merely closed: a socket of ours is bound to each, so the kernel gives it to no port-0 bind.
    const bound = boundLoopbackPorts();
    for (const port of ports) expect(bound.has(port), String(port)).toBe(true);
  });

  it('lets a server the test starts listen on the port it was given', async () => {
    const port = await freeClosedPort();
    const server = net.createServer((socket) => socket.end());
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    try {
      expect(await connectOutcome(port)).toBe('connected');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    expect(await connectOutcome(port)).toBe('ECONNREFUSED');
  });
});
