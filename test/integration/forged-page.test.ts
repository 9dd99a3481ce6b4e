// Forged plain-http pages on loopback: the engine's page check (a raw replay listening for a second answer, a
// neutral Host, the headers a server always sends) names a forged page only on evidence, never a vhost.
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../../src/engine.js';
import type { Report } from '../../src/types.js';
import { type DnsTestServer, startDnsServer } from '../support/dns-server.js';
import { startHttpServer, startRawServer, type TestServer } from '../support/http-servers.js';

const name = 'news.example.test';
const forgedPage =
  '<html><head><title>Access denied</title></head><body>This site is not available.</body></html>';
const forgedAnswer = `HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: ${forgedPage.length}\r\nconnection: close\r\n\r\n${forgedPage}`;
/** What a real server sends: Date and Server on every answer, whatever the Host. */
function serverAnswer(status: string, body: string): string {
  return `HTTP/1.1 ${status}\r\ndate: ${new Date().toUTCString()}\r\nserver: nginx\r\ncontent-type: text/html\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`;
}
const realPage = `<html><head><title>News</title></head><body>${'The news of the day. '.repeat(40)}</body></html>`;

function hostOf(head: string): string | undefined {
  return /^host:[ \t]*([^\r\n:]+)/im.exec(head)?.[1]?.trim().toLowerCase();
}

/** Answers the name the way a path with an injector does, and any other Host as the server itself. */
function answerAs(forName: (socket: net.Socket) => void) {
  return (head: string, socket: net.Socket) => {
    if (hostOf(head) === name) {
      forName(socket);
      return;
    }
    socket.end(serverAnswer('404 Not Found', '<html><body>default server</body></html>'));
  };
}

let injected: TestServer;
let injectedStalled: TestServer;
let forgedOnly: TestServer;
let vhost: TestServer;
let serverless: TestServer;
let dns: DnsTestServer;
const timers = new Set<NodeJS.Timeout>();

/**
 * The forged page first, then, on the same connection 20 ms later, the part of the server's own answer beyond the
 * forged page's length: what TCP hands over when an injector's segment and the server's share sequence numbers and
 * the server's is longer. `stallMs` then holds this process (the prober's too) busy before either timer can run.
 */
function injectThenAnswer(stallMs: number) {
  return answerAs((socket) => {
    socket.write(forgedAnswer);
    const real = serverAnswer('200 OK', realPage);
    const timer = setTimeout(() => {
      timers.delete(timer);
      socket.end(real.slice(forgedAnswer.length));
    }, 20);
    timers.add(timer);
    const until = performance.now() + stallMs;
    while (performance.now() < until) {
      // a stalled event loop, as on a busy worker
    }
  });
}

beforeAll(async () => {
  injected = await startRawServer(injectThenAnswer(0));
  // Held busy past the replay's listening window (300 ms on loopback): the server's answer went out within the
  // window, in the same turn of the event loop as the window's end.
  injectedStalled = await startRawServer(injectThenAnswer(600));
  // A forged page and nothing after it (the injector dropped the request): it lacks Date and Server.
  forgedOnly = await startRawServer(answerAs((socket) => socket.end(forgedAnswer)));
  // One server, two vhosts: the name's site, and a default page for any other Host. Both carry Date and Server.
  vhost = await startHttpServer((request, response) => {
    response.setHeader('server', 'nginx');
    if (request.headers.host?.startsWith(name)) {
      response.writeHead(200, { 'content-type': 'text/html' }).end(realPage);
      return;
    }
    response.writeHead(404, { 'content-type': 'text/html' }).end('<html><body>default server</body></html>');
  });
  // The name's vhost is served by a program that sends Date but no Server header: one odd sign, no more.
  serverless = await startRawServer(
    answerAs((socket) =>
      socket.end(
        `HTTP/1.1 200 OK\r\ndate: ${new Date().toUTCString()}\r\ncontent-type: text/html\r\ncontent-length: ${realPage.length}\r\nconnection: close\r\n\r\n${realPage}`,
      ),
    ),
  );
  dns = await startDnsServer({ [name]: { a: ['127.0.0.1'] } });
});

afterAll(async () => {
  for (const timer of timers) clearTimeout(timer);
  await Promise.all(
    [injected, injectedStalled, forgedOnly, vhost, serverless, dns].map((server) => server?.close()),
  );
});

function probeOn(server: TestServer): Promise<Report> {
  return probe({
    url: `http://${name}:${server.port}/`,
    resolvers: [{ host: '127.0.0.1', port: dns.port }],
    timeoutMs: 3000,
  });
}

describe('a forged plain-http page', () => {
  it('reports a page followed by a second answer on the same connection as filtered_path/filter.injected_response', async () => {
    const report = await probeOn(injected);
    expect(report.verdict).toMatchObject({
      cause: 'filtered_path',
      code: 'filter.injected_response',
      confidence: 0.9,
    });
    expect(report.target.pageCheck?.replay).toMatchObject({
      outcome: 'response',
      status: 200,
      responseBytes: forgedAnswer.length,
      bytesAfterResponse: serverAnswer('200 OK', realPage).length - forgedAnswer.length,
    });
    expect(report.verdict.evidence.join('\n')).toContain('more bytes on the same connection');
    expect(report.warnings).toEqual([]);
  });

  it('hears the second answer that came within the window though the prober read it only after the window ended', async () => {
    const report = await probeOn(injectedStalled);
    expect(report.verdict).toMatchObject({ cause: 'filtered_path', code: 'filter.injected_response' });
    expect(report.target.pageCheck?.replay).toMatchObject({
      responseBytes: forgedAnswer.length,
      bytesAfterResponse: serverAnswer('200 OK', realPage).length - forgedAnswer.length,
    });
  });

  it('reports a page lacking the Date and Server headers the same server sends otherwise as filtered_path/filter.forged_page', async () => {
    const report = await probeOn(forgedOnly);
    expect(report.verdict).toMatchObject({
      cause: 'filtered_path',
      code: 'filter.forged_page',
      confidence: 0.6,
    });
    expect(report.target.pageCheck?.replay).toMatchObject({ outcome: 'response', bytesAfterResponse: 0 });
    expect(report.target.pageCheck?.neutral.headerNames).toEqual(expect.arrayContaining(['date', 'server']));
    expect(report.verdict.evidence.join('\n')).toContain('lacks Date and Server');
  });

  it('keeps a vhost whose page differs from the default server page ok/http.ok, without a warning', async () => {
    const report = await probeOn(vhost);
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    expect(report.target.pageCheck?.neutral).toMatchObject({ outcome: 'response', status: 404 });
    expect(report.warnings).toEqual([]);
  });

  it('keeps a page lacking only the Server header ok/http.ok, with an http.page_differs warning', async () => {
    const report = await probeOn(serverless);
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    expect(report.warnings).toEqual([
      expect.objectContaining({
        code: 'http.page_differs',
        summary: expect.stringContaining('This alone does not show a filter'),
      }),
    ]);
  });

  it('checks only a final 2xx over plain http whose host is a name', async () => {
    const anyHost = await startHttpServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('the same for every Host\n');
    });
    try {
      // An address as the host: the neutral request would be the same request.
      const byAddress = await probe({ url: `http://127.0.0.1:${anyHost.port}/`, timeoutMs: 3000 });
      expect(byAddress.verdict.code).toBe('http.ok');
      expect(byAddress.target.pageCheck).toBeUndefined();
      // A 404 is not a page a forged-page rule reads.
      const notFound = await probe({ url: `http://127.0.0.1:${vhost.port}/`, timeoutMs: 3000 });
      expect(notFound.target.pageCheck).toBeUndefined();
    } finally {
      await anyHost.close();
    }
  });
});
