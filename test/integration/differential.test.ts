// The differential on loopback: the original keeps its whole budget, every redirect hop gets the same test,
// and a filter claim needs positive evidence.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../../src/engine.js';
import { createPki, type TestPki } from '../support/certificates.js';
import { type DnsTestServer, startDnsServer } from '../support/dns-server.js';
import { startHttpServer, startRawServer, type TestServer } from '../support/http-servers.js';
import { startSniResetServer } from '../support/tls-servers.js';

const servers: TestServer[] = [];
let dns: DnsTestServer;
let pki: TestPki;
let vhosts: TestServer;
let sizeDropper: TestServer;
let redirector: TestServer;
let sniFilter: TestServer;
let sniSilent: TestServer;
let silentRedirector: TestServer;

async function serve(start: Promise<TestServer>): Promise<TestServer> {
  const server = await start;
  servers.push(server);
  return server;
}

const resolvers = () => [{ host: '127.0.0.1', port: dns.port }];

beforeAll(async () => {
  pki = createPki();
  // One server, two names: www.slow-backend.test is answered after 1300 ms (a slow vhost backend), any other
  // Host at once.
  vhosts = await serve(
    startHttpServer((request, response) => {
      if ((request.headers.host ?? '').startsWith('www.slow-backend.test')) {
        setTimeout(() => response.writeHead(200).end('late but fine'), 1300);
      } else {
        response.writeHead(200).end('default server');
      }
    }),
  );
  // Answers a HEAD at once and never answers a GET for the page: what a path that loses large packets does.
  sizeDropper = await serve(
    startRawServer((head, socket) => {
      if (head.startsWith('HEAD ')) {
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5000\r\nconnection: close\r\n\r\n');
        socket.end();
      } else if (/^GET \/ HTTP/.test(head) && /host: 127\.0\.0\.1/i.test(head)) {
        socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
      }
      // A GET of the page: hold it, as if its large response never arrived.
    }),
  );
  sniFilter = await serve(startSniResetServer(pki.issue(['www.sni-hop.test']), 'www.sni-hop.test'));
  // Reads the ClientHello naming the hop and keeps silent: its kernel acknowledges it, as a hung server's does.
  sniSilent = await serve(
    startSniResetServer(pki.issue(['www.sni-silent-hop.test']), 'www.sni-silent-hop.test', 'drop'),
  );
  silentRedirector = await serve(
    startHttpServer((_request, response) => {
      response.writeHead(301, { location: `https://www.sni-silent-hop.test:${sniSilent.port}/` }).end();
    }),
  );
  redirector = await serve(
    startHttpServer((_request, response) => {
      response.writeHead(301, { location: `https://www.sni-hop.test:${sniFilter.port}/` }).end();
    }),
  );
  dns = await startDnsServer({
    'www.slow-backend.test': { a: ['127.0.0.1'] },
    'www.large-drop.test': { a: ['127.0.0.1'] },
    'www.redirects.test': { a: ['127.0.0.1'] },
    'www.sni-hop.test': { a: ['127.0.0.1'] },
    'www.sni-silent-hop.test': { a: ['127.0.0.1'] },
  });
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await dns?.close();
  pki?.remove();
});

describe('the differential', () => {
  it('lets a slow backend answer within the budget instead of calling it a keyword drop', async () => {
    const report = await probe({
      url: `http://www.slow-backend.test:${vhosts.port}/`,
      resolvers: resolvers(),
      timeoutMs: 2000,
    });
    expect(report.verdict.cause).not.toBe('filtered_path');
    expect(report.verdict.code).toBe('http.ok');
    expect(report.target.http?.hops[0]?.exchange).toMatchObject({ outcome: 'response', status: 200 });
  });

  it('reports a page whose HEAD is answered and whose GET never is as a path MTU black hole, not a filter', async () => {
    const report = await probe({
      url: `http://www.large-drop.test:${sizeDropper.port}/page`,
      resolvers: resolvers(),
      timeoutMs: 1500,
    });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'path.mtu_blackhole' });
    const differential = report.target.differential;
    expect(differential?.layer).toBe('http');
    if (differential?.layer !== 'http') return;
    expect(differential.isConcurrent).toBe(true);
    expect(differential.small).toMatchObject({ outcome: 'response', status: 200 });
    // The original ran on beside the side requests, to the deadline.
    expect(report.target.http?.hops[0]?.exchange.outcome).toBe('headers_timeout');
  });

  it('runs the differential on a redirect hop: an SNI reset on the https hop is a filter, not a server fault', async () => {
    const report = await probe({
      url: `http://www.redirects.test:${redirector.port}/`,
      resolvers: resolvers(),
      ca: [pki.caPem],
      timeoutMs: 3000,
    });
    expect(report.verdict).toMatchObject({ cause: 'filtered_path', code: 'filter.sni_reset' });
    expect(report.verdict.summary).toContain('at the redirect to https://www.sni-hop.test');
    const hop = report.target.http?.hops[1];
    expect(hop?.exchange).toMatchObject({ outcome: 'tls_failed', tlsHandshake: { outcome: 'reset' } });
    expect(hop?.differential?.layer).toBe('http');
    if (hop?.differential?.layer !== 'http') return;
    expect(hop.differential.neutral).toMatchObject({ outcome: 'response', servername: null });
    expect(hop.differential.retry.outcome).toBe('tls_failed');
  });

  it('calls an https hop whose server acknowledged the ClientHello and never answered a server hang, not an SNI drop', async () => {
    const report = await probe({
      url: `http://www.redirects.test:${silentRedirector.port}/`,
      resolvers: resolvers(),
      ca: [pki.caPem],
      timeoutMs: 3000,
    });
    expect(report.verdict).toMatchObject({
      cause: 'server_fault',
      code: 'tls.handshake_failed',
      confidence: 0.6,
    });
    expect(report.verdict.summary).toContain('received our TLS ClientHello naming www.sni-silent-hop.test');
    const handshake = report.target.http?.hops[1]?.exchange.tlsHandshake;
    expect(handshake).toMatchObject({ outcome: 'timeout' });
    expect(handshake?.unacknowledgedBytes).toBeLessThan(handshake?.bytesSent ?? 0);
  });
});
