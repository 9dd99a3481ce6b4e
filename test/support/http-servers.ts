// Real TCP/HTTP servers on loopback, each misbehaving in one way a site can fail.
import http from 'node:http';
import net from 'node:net';

export interface TestServer {
  port: number;
  url: (path?: string, host?: string) => string;
  close(): Promise<void>;
}

/** Listens on a free loopback port; close() also ends open connections (and runs `onClose`). */
export function listenOnLoopback(
  server: net.Server,
  scheme: 'http' | 'https' = 'http',
  onClose: () => void = () => {},
): Promise<TestServer> {
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
        url: (path = '/', host = '127.0.0.1') => `${scheme}://${host}:${port}${path}`,
        close: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy();
            onClose();
            server.close(() => done());
          }),
      });
    });
  });
}

const wrap = (server: net.Server) => listenOnLoopback(server);

export type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

/** An ordinary HTTP server. */
export function startHttpServer(handler: Handler): Promise<TestServer> {
  const server = http.createServer({ keepAlive: false }, handler);
  return wrap(server);
}

/** Reads one request head, then acts on the raw socket. */
export function startRawServer(onRequest: (head: string, socket: net.Socket) => void): Promise<TestServer> {
  const server = net.createServer((socket) => {
    let head = '';
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        socket.removeAllListeners('data');
        onRequest(head, socket);
      }
    });
  });
  return wrap(server);
}

/** Resets (RST) every connection once the request arrived: a failing server or load balancer. */
export const startResettingServer = () => startRawServer((_head, socket) => socket.resetAndDestroy());

/** Closes (FIN) without a reply, like nginx `return 444`. */
export const startSilentCloseServer = () => startRawServer((_head, socket) => socket.end());

/**
 * Emulates an on-path keyword filter on loopback: a request whose Host names `blockedName` is reset,
 * every other request is answered 200. From the client this is exactly what an injected RST looks like.
 */
export function startKeywordResetServer(blockedName: string): Promise<TestServer> {
  return startRawServer((head, socket) => {
    if (head.toLowerCase().includes(`host: ${blockedName.toLowerCase()}`)) {
      socket.resetAndDestroy();
      return;
    }
    socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
  });
}

/** A port on loopback where nothing listens (bound once, then closed). */
export async function freeClosedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
