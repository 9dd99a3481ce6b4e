// A redirect to the same origin goes on the connection the answer came on, as browsers and curl send it; another
// origin's hop, or a server that closes, gets a new one. Real servers on loopback count the connections they see.

import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../../src/engine.js';
import { createPki, type TestPki } from '../support/certificates.js';
import { type DnsTestServer, startDnsServer } from '../support/dns-server.js';
import { listenOnLoopback, type TestServer } from '../support/http-servers.js';

/** A server that answers a few redirects and counts each connection's requests and closes. */
interface CountingServer extends TestServer {
  /** Requests seen, each with the number of its connection (1 for the first connection accepted). */
  requests: { path: string; connection: number }[];
  /** Connections accepted, and how many of them have closed. */
  connectionCount(): number;
  closedCount(): number;
}

async function startCountingServer(
  handler: (path: string, response: http.ServerResponse, nthOnConnection: number, socket: net.Socket) => void,
  tls?: { key: string; cert: string },
): Promise<CountingServer> {
  const numbers = new WeakMap<net.Socket, { number: number; requests: number }>();
  const requests: { path: string; connection: number }[] = [];
  let accepted = 0;
  let closed = 0;
  const onRequest = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const socket = request.socket;
    const seen = numbers.get(socket) ?? { number: 0, requests: 0 };
    seen.requests++;
    requests.push({ path: request.url ?? '/', connection: seen.number });
    handler(request.url ?? '/', response, seen.requests, socket);
  };
  const server = tls ? https.createServer(tls, onRequest) : http.createServer(onRequest);
  server.on(tls ? 'secureConnection' : 'connection', (socket: net.Socket) => {
    numbers.set(socket, { number: ++accepted, requests: 0 });
    socket.on('close', () => closed++);
  });
  const listening = await listenOnLoopback(server, tls ? 'https' : 'http');
  return { ...listening, requests, connectionCount: () => accepted, closedCount: () => closed };
}

/** Waits (bounded) until the server has seen every connection it accepted close. */
async function allClosed(server: CountingServer): Promise<boolean> {
  for (let attempt = 0; attempt < 100 && server.closedCount() < server.connectionCount(); attempt++) {
    await new Promise((done) => setTimeout(done, 20));
  }
  return server.closedCount() === server.connectionCount();
}

const servers: TestServer[] = [];
let dns: DnsTestServer;
let pki: TestPki;
let other: CountingServer;

async function keep<T extends TestServer>(start: Promise<T>): Promise<T> {
  const server = await start;
  servers.push(server);
  return server;
}

/** /moved → 301 /page; /close-moved → the same with Connection: close; /away → 301 to `other`; else 200. */
function redirects(path: string, response: http.ServerResponse): void {
  if (path === '/moved') response.writeHead(301, { location: '/page' }).end('moved');
  else if (path === '/twice') response.writeHead(302, { location: '/moved' }).end();
  else if (path === '/close-moved') response.writeHead(301, { location: '/page', connection: 'close' }).end();
  else if (path === '/away') response.writeHead(301, { location: other.url('/page') }).end();
  else response.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>page</body></html>');
}

beforeAll(async () => {
  pki = createPki();
  other = await keep(startCountingServer((path, response) => redirects(path, response)));
  dns = await startDnsServer({ 'site-a.test': { a: ['127.0.0.1'] } });
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await dns?.close();
  pki?.remove();
});

describe('redirect hops and connections', () => {
  it('sends a same-origin redirect hop on the connection the redirect came on, and closes it after', async () => {
    const site = await keep(startCountingServer((path, response) => redirects(path, response)));
    const report = await probe({ url: site.url('/twice'), timeoutMs: 5000 });

    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    const hops = report.target.http?.hops.map((hop) => hop.exchange) ?? [];
    expect(hops.map((hop) => hop.path)).toEqual(['/twice', '/moved', '/page']);
    expect(site.connectionCount()).toBe(1);
    expect(site.requests.map((request) => request.connection)).toEqual([1, 1, 1]);
    const connectMs = hops[0]?.timings.connectMs;
    expect(connectMs).toBeGreaterThanOrEqual(0);
    for (const hop of hops.slice(1)) {
      expect(hop.reusedConnection).toEqual({ connectMs });
      expect(hop.timings.connectMs).toBeUndefined();
      expect(hop.bytesSent).toBeGreaterThan(0);
      expect(hop.bytesReceived).toBeGreaterThan(0);
    }
    expect(hops[0]?.reusedConnection).toBeUndefined();
    expect(await allClosed(site)).toBe(true);
  });

  it('does not resolve a same-origin hop’s name again', async () => {
    const site = await keep(startCountingServer((path, response) => redirects(path, response)));
    const report = await probe({
      url: site.url('/moved', 'site-a.test'),
      resolvers: [{ host: '127.0.0.1', port: dns.port }],
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    const hop = report.target.http?.hops[1]?.exchange;
    expect(hop).toMatchObject({ path: '/page', hostHeader: 'site-a.test', address: '127.0.0.1' });
    expect(hop?.reusedConnection).toBeDefined();
    expect(hop?.timings.dnsMs).toBeUndefined();
    // The page check of a plain-http page by name opens connections of its own; the two hops share one.
    const [moved, page] = site.requests.filter((request) => ['/moved', '/page'].includes(request.path));
    expect(moved?.path).toBe('/moved');
    expect(page?.connection).toBe(moved?.connection);
  });

  it('opens a new connection for a hop to another origin and closes the first at once', async () => {
    const site = await keep(startCountingServer((path, response) => redirects(path, response)));
    const before = other.connectionCount();
    const report = await probe({ url: site.url('/away'), timeoutMs: 5000 });

    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    const hop = report.target.http?.hops[1]?.exchange;
    expect(hop?.reusedConnection).toBeUndefined();
    expect(hop?.timings.connectMs).toBeGreaterThanOrEqual(0);
    expect(other.connectionCount()).toBe(before + 1);
    expect(site.connectionCount()).toBe(1);
    expect(await allClosed(site)).toBe(true);
    expect(await allClosed(other)).toBe(true);
  });

  it('opens a new connection when the redirect said Connection: close', async () => {
    const site = await keep(startCountingServer((path, response) => redirects(path, response)));
    const report = await probe({ url: site.url('/close-moved'), timeoutMs: 5000 });

    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    const hop = report.target.http?.hops[1]?.exchange;
    expect(hop?.reusedConnection).toBeUndefined();
    expect(hop?.timings.connectMs).toBeGreaterThanOrEqual(0);
    expect(site.requests.map((request) => request.connection)).toEqual([1, 2]);
  });

  it('sends the hop again on a new connection when the server resets the kept one under it, and reports only that', async () => {
    // The keep-alive race a browser retries: the server drops the idle connection as the next request arrives.
    const site = await keep(
      startCountingServer((path, response, nthOnConnection, socket) => {
        if (nthOnConnection > 1) socket.resetAndDestroy();
        else redirects(path, response);
      }),
    );
    const report = await probe({ url: site.url('/moved'), timeoutMs: 5000 });

    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    const hop = report.target.http?.hops[1]?.exchange;
    expect(hop).toMatchObject({ path: '/page', outcome: 'response', status: 200 });
    expect(hop?.reusedConnection).toBeUndefined();
    expect(hop?.timings.connectMs).toBeGreaterThanOrEqual(0);
    expect(site.requests.map((request) => request.connection)).toEqual([1, 1, 2]);
    expect(report.target.http?.hops[1]?.differential).toBeUndefined();
  });

  it('still reports a reset of a hop on a new connection as a reset', async () => {
    // The retry is for a kept connection only: a hop that fails on a connection of its own is the evidence.
    const site = await keep(
      startCountingServer((path, response, _nth, socket) => {
        if (path === '/page') socket.resetAndDestroy();
        else redirects(path, response);
      }),
    );
    const report = await probe({ url: site.url('/moved'), timeoutMs: 5000 });
    const hop = report.target.http?.hops[1]?.exchange;
    expect(hop).toMatchObject({ path: '/page', outcome: 'reset' });
    expect(hop?.reusedConnection).toBeUndefined();
    expect(report.verdict.cause).not.toBe('ok');
    // The hop on the kept connection, its retry on a new one, then the differential's requests: every /page reset.
    expect(site.requests.filter((request) => request.path === '/page').length).toBeGreaterThanOrEqual(2);
  });

  it('sends a same-origin https hop on the kept TLS connection, with no handshake of its own', async () => {
    const site = await keep(
      startCountingServer((path, response) => redirects(path, response), pki.issue(['site-a.test'])),
    );
    const report = await probe({
      url: site.url('/moved', 'site-a.test'),
      resolvers: [{ host: '127.0.0.1', port: dns.port }],
      ca: [pki.caPem],
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    const hop = report.target.http?.hops[1]?.exchange;
    expect(hop?.reusedConnection).toBeDefined();
    expect(hop?.tls).toBeUndefined();
    expect(hop?.timings.tlsMs).toBeUndefined();
    expect(site.connectionCount()).toBe(1);
    expect(await allClosed(site)).toBe(true);
  });
});
