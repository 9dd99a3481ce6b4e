// Real TCP/HTTP servers on loopback, each misbehaving in one way a site can fail.
import http from 'node:http';
import net from 'node:net';

export interface TestServer {
  port: number;
  url: (path?: string, host?: string) => string;
  close(): Promise<void>;
}

/**
 * Listens on a free port of a loopback address (127.0.0.1, or ::1); close() also ends open connections (and
 * runs `onClose`).
 */
export function listenOnLoopback(
  server: net.Server,
  scheme: 'http' | 'https' = 'http',
  onClose: () => void = () => {},
  address = '127.0.0.1',
): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve) => {
    server.listen(0, address, () => {
      const port = (server.address() as net.AddressInfo).port;
      const literal = net.isIPv6(address) ? `[${address}]` : address;
      resolve({
        port,
        url: (path = '/', host = literal) => `${scheme}://${host}:${port}${path}`,
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

/** The listener the held ports' sockets connect to: started once per test process, never keeping it alive. */
let anchor: Promise<number> | undefined;
/** Both ends of each held port's connection, referenced for as long as the process runs. */
const heldSockets: net.Socket[] = [];

function anchorPort(): Promise<number> {
  anchor ??= (async () => {
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.unref();
      heldSockets.push(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    server.unref();
    return (server.address() as net.AddressInfo).port;
  })();
  return anchor;
}

/**
 * A port on loopback where nothing listens, held so until the test process ends. A port bound and closed again
 * is free for anyone: another suite's server on port 0, or an outgoing connection, could take it before the test
 * uses it, and a "refused" target would answer. Here the port is the local end of a connection of ours (bound,
 * not listening): a connect to it is refused, and the kernel hands it to no other bind on port 0 and to no
 * outgoing connection while it is held. A server the test starts may still listen on it (Node and redis-server
 * bind with SO_REUSEADDR), so the same port serves a test that starts a process on a port chosen for it.
 */
export async function freeClosedPort(): Promise<number> {
  const socket = net.connect({ host: '127.0.0.1', port: await anchorPort(), localAddress: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  socket.unref();
  heldSockets.push(socket);
  return socket.localPort as number;
}
