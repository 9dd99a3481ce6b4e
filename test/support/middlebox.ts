// An on-path filter on loopback: on 127.0.0.2 and a site's port, it resets every request naming one of the
// given hosts (after reading it, as a filter that matches the Host header does) and answers any other Host.
import { once } from 'node:events';
import net from 'node:net';

export async function startNameResettingMiddlebox(port: number, hostNames: string[]): Promise<net.Server> {
  const markers = hostNames.map((name) => `host: ${name.toLowerCase()}`);
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', (chunk: Buffer) => {
      const head = chunk.toString('latin1').toLowerCase();
      if (markers.some((marker) => head.includes(marker))) {
        socket.resetAndDestroy();
        return;
      }
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nhi\n');
    });
  });
  server.listen(port, '127.0.0.2');
  await once(server, 'listening');
  return server;
}
