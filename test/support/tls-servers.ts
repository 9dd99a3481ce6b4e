// HTTPS servers on loopback, and a TLS front that resets ClientHellos carrying a given SNI.
import https from 'node:https';
import net from 'node:net';
import type { Leaf } from './certificates.js';

export interface TlsTestServer {
  port: number;
  url: (path?: string, host?: string) => string;
  close(): Promise<void>;
}

function listen(server: net.Server, extraClose: () => void = () => {}): Promise<TlsTestServer> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        url: (path = '/', host = '127.0.0.1') => `https://${host}:${port}${path}`,
        close: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy();
            extraClose();
            server.close(() => done());
          }),
      });
    });
  });
}

function createHttps(leaf: Leaf): https.Server {
  return https.createServer({ key: leaf.key, cert: leaf.cert }, (_request, response) => {
    response.end('secure hello');
  });
}

export function startHttpsServer(leaf: Leaf): Promise<TlsTestServer> {
  return listen(createHttps(leaf));
}

/**
 * Emulates an SNI filter on loopback: a TCP front reads the first bytes of each connection (the
 * ClientHello); if they carry `blockedName` the connection is reset (or the hello silently dropped),
 * otherwise it is relayed to a real HTTPS server behind it.
 */
export async function startSniResetServer(
  leaf: Leaf,
  blockedName: string,
  action: 'reset' | 'drop' = 'reset',
): Promise<TlsTestServer> {
  const inner = await startHttpsServer(leaf);
  const front = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', (hello: Buffer) => {
      if (hello.includes(Buffer.from(blockedName, 'latin1'))) {
        // 'drop' swallows the ClientHello and never answers, as a filter that drops the packets would.
        if (action === 'reset') socket.resetAndDestroy();
        return;
      }
      const upstream = net.connect({ host: '127.0.0.1', port: inner.port });
      upstream.on('error', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
      upstream.write(hello);
      socket.pipe(upstream).pipe(socket);
    });
  });
  return listen(front, () => void inner.close());
}
