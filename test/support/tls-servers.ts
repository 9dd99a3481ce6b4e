// HTTPS servers on loopback, and a TLS front that resets ClientHellos carrying a given SNI.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Leaf } from './certificates.js';
import { listenOnLoopback, type TestServer } from './http-servers.js';

export type TlsTestServer = TestServer;

function createHttps(leaf: Leaf): https.Server {
  return https.createServer({ key: leaf.key, cert: leaf.cert }, (_request, response) => {
    response.end('secure hello');
  });
}

/** An HTTPS server on `address` (127.0.0.1, or ::1) presenting `leaf`. */
export function startHttpsServer(leaf: Leaf, address = '127.0.0.1'): Promise<TlsTestServer> {
  return listenOnLoopback(createHttps(leaf), 'https', () => {}, address);
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
  return listenOnLoopback(front, 'https', () => void inner.close());
}

/** An HTTPS server that speaks TLS 1.0 and 1.1 only, with the ciphers OpenSSL 3 leaves out by default. */
export function startLegacyTlsServer(leaf: Leaf): Promise<TlsTestServer> {
  const server = https.createServer(
    {
      key: leaf.key,
      cert: leaf.cert,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT:@SECLEVEL=0',
    },
    (_request, response) => response.end('old tls hello'),
  );
  return listenOnLoopback(server, 'https');
}

/** Plain HTTP on a port an https URL names: a ClientHello is answered with an HTTP 400. */
export function startPlainHttpOnTlsPort(): Promise<TlsTestServer> {
  return listenOnLoopback(
    http.createServer((_request, response) => response.end('plain hello')),
    'https',
  );
}

/**
 * Requires a client certificate from `caPem`: without one, TLS 1.3 ends the connection after the handshake
 * with a certificate_required alert.
 */
export function startClientCertificateServer(leaf: Leaf, caPem: string): Promise<TlsTestServer> {
  const server = https.createServer(
    { key: leaf.key, cert: leaf.cert, ca: caPem, requestCert: true, rejectUnauthorized: true },
    (_request, response) => response.end('client certificate accepted'),
  );
  server.on('tlsClientError', () => {});
  return listenOnLoopback(server, 'https');
}
