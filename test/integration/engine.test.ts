import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../../src/engine.js';
import { type DnsTestServer, startDnsServer } from '../support/dns-server.js';
import {
  freeClosedPort,
  startHttpServer,
  startKeywordResetServer,
  startResettingServer,
  startSilentCloseServer,
  type TestServer,
} from '../support/http-servers.js';

const servers: TestServer[] = [];
let dns: DnsTestServer;
let site: TestServer;

async function serve(start: Promise<TestServer>): Promise<TestServer> {
  const server = await start;
  servers.push(server);
  return server;
}

function resolvers() {
  return [{ host: '127.0.0.1', port: dns.port }];
}

beforeAll(async () => {
  site = await serve(
    startHttpServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      if (path === '/500') {
        response.writeHead(500).end('boom');
      } else if (path === '/502') {
        response.writeHead(502).end('bad gateway');
      } else if (path === '/cdn-522') {
        // What Cloudflare's edge sends when the site's origin server does not accept its connection in time.
        response
          .writeHead(522, { server: 'cloudflare', 'cf-ray': '8f1c2a3b4d5e6f70-AMS' })
          .end('origin timeout');
      } else if (path === '/plain-522') {
        response.writeHead(522, { server: 'nginx' }).end('odd status');
      } else if (path === '/503') {
        response.writeHead(503, { 'retry-after': '120' }).end('busy');
      } else if (path === '/429') {
        response.writeHead(429, { 'retry-after': '30' }).end('slow down');
      } else if (path === '/410') {
        response.writeHead(410).end('gone');
      } else if (path === '/slow') {
        setTimeout(() => response.end('late'), 700);
      } else if (path === '/moved') {
        response.writeHead(301, { location: `http://www.moved-b.test:${site.port}/landing` }).end();
      } else if (path === '/same-site') {
        response.writeHead(301, { location: `http://www.site-a.test:${site.port}/` }).end();
      } else if (path === '/stall') {
        response.writeHead(200, { 'content-length': '100000' });
        response.write('partial');
      } else if (path === '/big') {
        response
          .writeHead(200, { 'content-type': 'application/octet-stream' })
          .end(Buffer.alloc(1024 * 1024));
      } else if (path?.startsWith('/bytes/')) {
        // /bytes/N: a body of exactly N bytes, with its Content-Length, or chunked (?chunked) in two writes.
        const body = Buffer.alloc(Number(path.slice('/bytes/'.length)), 'b');
        if (request.url?.endsWith('?chunked')) {
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.write(body.subarray(0, 100));
          response.end(body.subarray(100));
        } else {
          response.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body);
        }
      } else if (path === '/to-long-label') {
        response.writeHead(302, { location: `http://${'a'.repeat(64)}.site-a.test:${site.port}/` }).end();
      } else if (path === '/to-port-0') {
        response.writeHead(302, { location: 'http://www.site-a.test:0/' }).end();
      } else if (path === '/to-file') {
        response.writeHead(302, { location: 'file:///etc/passwd' }).end();
      } else if (path === '/chain') {
        const hop = Number(new URL(request.url ?? '/', 'http://x').searchParams.get('n') ?? 0);
        response.writeHead(302, { location: `/chain?n=${hop + 1}` }).end();
      } else if (path === '/loop') {
        response.writeHead(302, { location: '/loop2' }).end();
      } else if (path === '/loop2') {
        response.writeHead(302, { location: '/loop' }).end();
      } else {
        response.writeHead(200, { server: 'test' }).end('hello');
      }
    }),
  );
  dns = await startDnsServer({
    'site-a.test': { a: ['127.0.0.1'] },
    'www.site-a.test': { a: ['127.0.0.1'] },
    'www.moved-b.test': { a: ['127.0.0.1'] },
    'alias.site-a.test': { cname: 'www.site-a.test' },
    'servfail.test': { rcode: 'SERVFAIL' },
    'noaddress.test': {},
    'dropped.test': { isDropped: true },
    'big.site-a.test': { a: ['127.0.0.1'], isTruncatedOverUdp: true },
    'injected.site-a.test': { a: ['127.0.0.1'], injectFirst: { a: ['127.0.0.66'], delayMs: 20 } },
    // Nothing listens on 127.0.0.2: its SYN gets an RST. (Loopback cannot hold a silent, dead address;
    // the network lab's dualstack and twoaddresses scenarios cover that.)
    'twoaddresses.site-a.test': { a: ['127.0.0.2', '127.0.0.1'] },
  });
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await dns?.close();
});

describe('engine on loopback', () => {
  it('diagnoses a healthy site reached by name as ok, with each phase observed', async () => {
    const report = await probe({
      url: site.url('/', 'site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    expect(report.target.dns?.addresses).toEqual(['127.0.0.1']);
    expect(report.target.tcp[0]).toMatchObject({ kind: 'connected', address: '127.0.0.1' });
    const hop = report.target.http?.hops[0]?.exchange;
    expect(hop).toMatchObject({ outcome: 'response', status: 200, hostHeader: 'site-a.test' });
    expect(hop?.headers.server).toBe('test');
    expect(hop?.timings.firstByteMs).toBeGreaterThanOrEqual(0);
    expect(hop?.timings.dnsMs).toBe(report.target.dns?.durationMs);
  });

  it('reaches a name over its second address when the first refuses, and warns about the first', async () => {
    const report = await probe({
      url: site.url('/', 'twoaddresses.site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    expect(report.target.tcp).toMatchObject([
      { kind: 'refused', address: '127.0.0.2', startedAfterMs: 0 },
      { kind: 'connected', address: '127.0.0.1' },
    ]);
    expect(report.target.http?.hops[0]?.exchange.address).toBe('127.0.0.1');
    expect(report.warnings).toEqual([
      expect.objectContaining({
        code: 'path.address_unreachable',
        summary: expect.stringContaining('IPv4 address 127.0.0.2 refused the connection'),
      }),
    ]);
  });

  it('reports no warning for a name whose only address answers', async () => {
    const report = await probe({
      url: site.url('/', 'site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.warnings).toEqual([]);
  });

  it('keeps a bogon answer given consistently as evidence, not a verdict', async () => {
    const report = await probe({
      url: site.url('/', 'site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    const query = report.target.dns?.resolvers[0]?.queries.find((q) => q.type === 'A');
    expect(query?.bogons).toEqual(['127.0.0.1']);
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
  });

  it('follows a CNAME to its address', async () => {
    const report = await probe({
      url: site.url('/', 'alias.site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    const query = report.target.dns?.resolvers[0]?.queries.find((q) => q.type === 'A');
    expect(query?.cnameChain).toEqual(['www.site-a.test']);
    expect(report.verdict.code).toBe('http.ok');
  });

  it('retries a truncated UDP answer over TCP', async () => {
    const report = await probe({
      url: site.url('/', 'big.site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    const query = report.target.dns?.resolvers[0]?.queries.find((q) => q.type === 'A');
    expect(query?.isTruncatedRetriedOverTcp).toBe(true);
    expect(query?.addresses).toEqual(['127.0.0.1']);
    expect(dns.queries.some((q) => q.name === 'big.site-a.test' && q.transport === 'tcp')).toBe(true);
  });

  it('reports NXDOMAIN as dns_failure dns.nxdomain', async () => {
    const report = await probe({
      url: site.url('/', 'missing.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'dns_failure', code: 'dns.nxdomain' });
    expect(report.target.tcp).toEqual([]);
  });

  it('reports SERVFAIL as dns_failure dns.servfail', async () => {
    const report = await probe({
      url: site.url('/', 'servfail.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'dns_failure', code: 'dns.servfail' });
  });

  it('reports a name without addresses as dns.nodata', async () => {
    const report = await probe({
      url: site.url('/', 'noaddress.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'dns_failure', code: 'dns.nodata' });
  });

  it('reports a resolver that never answers, while a control works, as dns.timeout after one retry', async () => {
    const report = await probe({
      url: site.url('/', 'dropped.test'),
      resolvers: resolvers(),
      controls: [site.url('/')],
      timeoutMs: 1200,
    });
    expect(report.verdict).toMatchObject({ cause: 'dns_failure', code: 'dns.timeout' });
    const query = report.target.dns?.resolvers[0]?.queries[0];
    expect(query).toMatchObject({ outcome: 'timeout', attempts: 2 });
  });

  it('points a resolver that never answers, with no control to compare, at the local network', async () => {
    const report = await probe({
      url: site.url('/', 'dropped.test'),
      resolvers: resolvers(),
      timeoutMs: 1200,
    });
    expect(report.verdict).toMatchObject({ cause: 'local_network', code: 'local.dns_unreachable' });
    expect(report.verdict.summary).toContain('--control');
  });

  it('reports a second, different reply to one query as dns.tampered', async () => {
    const report = await probe({
      url: site.url('/', 'injected.site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
      dnsInjectionWindowMs: 300,
    });
    expect(report.verdict).toMatchObject({ cause: 'filtered_path', code: 'dns.tampered' });
    const query = report.target.dns?.resolvers[0]?.queries.find((q) => q.type === 'A');
    expect(query?.addresses).toEqual(['127.0.0.66']);
    expect(query?.extraReplies[0]?.addresses).toEqual(['127.0.0.1']);
  });

  it('reports a refused port as server_fault tcp.refused', async () => {
    const port = await freeClosedPort();
    const report = await probe({ url: `http://127.0.0.1:${port}/`, timeoutMs: 3000 });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'tcp.refused' });
    expect(report.target.tcp[0]).toMatchObject({ kind: 'refused', errno: 'ECONNREFUSED' });
  });

  it.each([
    ['/500', 'server_fault', 'http.server_error'],
    ['/502', 'server_fault', 'http.server_error'],
    ['/503', 'overload', 'http.unavailable'],
    ['/429', 'overload', 'http.rate_limited'],
    ['/410', 'domain_migration', 'http.gone'],
    ['/loop', 'server_fault', 'http.redirect_loop'],
  ])('diagnoses %s as %s %s', async (path, cause, code) => {
    const report = await probe({ url: site.url(path), timeoutMs: 5000 });
    expect(report.verdict).toMatchObject({ cause, code });
  });

  it('reads at most maxBodyBytes of a large body and says it stopped', async () => {
    const report = await probe({ url: site.url('/big'), timeoutMs: 5000, maxBodyBytes: 64 * 1024 });
    const exchange = report.target.http?.hops[0]?.exchange;
    expect(exchange).toMatchObject({ outcome: 'response', bodyBytes: 64 * 1024, isBodyTruncated: true });
    expect(report.verdict.code).toBe('http.ok');
  });

  it.each([
    [999, '', false],
    [1000, '', false],
    [1001, '', true],
    [999, '?chunked', false],
    [1000, '?chunked', false],
    [1001, '?chunked', true],
  ])(
    'reads a %i-byte body%s against a 1000-byte limit as truncated: %s',
    async (size, query, isTruncated) => {
      const report = await probe({
        url: site.url(`/bytes/${size}${query}`),
        timeoutMs: 5000,
        maxBodyBytes: 1000,
      });
      const exchange = report.target.http?.hops[0]?.exchange;
      expect(exchange).toMatchObject({
        outcome: 'response',
        bodyBytes: Math.min(size, 1000),
        isBodyTruncated: isTruncated,
      });
    },
  );

  it('reports a body that stalls after the status as overload http.body_timeout', async () => {
    const report = await probe({ url: site.url('/stall'), timeoutMs: 1500 });
    expect(report.target.http?.hops[0]?.exchange).toMatchObject({ outcome: 'body_timeout', status: 200 });
    expect(report.verdict).toMatchObject({ cause: 'overload', code: 'http.body_timeout' });
  });

  it('does not follow a redirect to a non-http scheme', async () => {
    const report = await probe({ url: site.url('/to-file'), timeoutMs: 5000 });
    expect(report.target.http?.hops).toHaveLength(1);
    expect(report.target.http?.finalUrl).toBe(site.url('/to-file'));
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'http.redirect_invalid' });
  });

  it('does not follow a redirect to a host name DNS cannot ask for, and names why', async () => {
    const asked = dns.queries.length;
    const report = await probe({
      url: site.url('/to-long-label', 'site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'http.redirect_invalid' });
    expect(report.verdict.summary).toContain('a label longer than the 63 characters DNS allows');
    expect(report.target.http?.hops).toHaveLength(1);
    expect(report.target.http?.unfollowableLocation).toContain('63 characters');
    // Followed, dns-packet would have asked for another name (the label's length written modulo 256).
    expect(dns.queries.slice(asked).every((query) => query.name === 'site-a.test')).toBe(true);
  });

  it('does not follow a redirect to port 0', async () => {
    const report = await probe({ url: site.url('/to-port-0'), timeoutMs: 5000 });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'http.redirect_invalid' });
    expect(report.verdict.summary).toContain('names port 0');
    expect(report.target.http?.hops).toHaveLength(1);
  });

  it("says a CDN's 522 is the site's origin server timing out, not the path to the CDN", async () => {
    const report = await probe({ url: site.url('/cdn-522'), timeoutMs: 5000 });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'http.server_error' });
    expect(report.verdict.summary).toContain(
      "cannot get the page from the site's own server (522: the connection to the origin server timed out)",
    );
  });

  it('keeps a 522 from a server that does not name Cloudflare a plain server error', async () => {
    const report = await probe({ url: site.url('/plain-522'), timeoutMs: 5000 });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'http.server_error' });
    expect(report.verdict.summary).toBe(
      'The server fails with an internal error (522): the application is broken.',
    );
  });

  it('stops after maxRedirects hops and reports a redirect loop', async () => {
    const report = await probe({ url: site.url('/chain?n=0'), timeoutMs: 5000, maxRedirects: 3 });
    expect(report.target.http?.hops).toHaveLength(4);
    expect(report.target.http?.isRedirectLimitReached).toBe(true);
    expect(report.verdict.code).toBe('http.redirect_loop');
  });

  it('probes IPv6 literals and AAAA answers', async () => {
    const server6 = await serve(
      new Promise<TestServer>((resolve) => {
        const inner = http.createServer((_request, response) => response.end('six'));
        inner.listen(0, '::1', () => {
          const port = (inner.address() as net.AddressInfo).port;
          resolve({
            port,
            url: (path = '/', host = '[::1]') => `http://${host}:${port}${path}`,
            close: () => new Promise((done) => inner.close(() => done())),
          });
        });
      }),
    );
    dns.zone.set('six.site-a.test', { aaaa: ['::1'] });
    const literal = await probe({ url: server6.url('/'), timeoutMs: 5000 });
    expect(literal.verdict.code).toBe('http.ok');
    expect(literal.target.tcp[0]).toMatchObject({ kind: 'connected', address: '::1', family: 6 });
    const named = await probe({
      url: server6.url('/', 'six.site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(named.target.dns?.addresses).toEqual(['::1']);
    expect(named.verdict.code).toBe('http.ok');
  });

  it('keeps Retry-After of a 503 as evidence', async () => {
    const report = await probe({ url: site.url('/503'), timeoutMs: 5000 });
    expect(report.target.http?.hops[0]?.exchange.headers.retryAfter).toBe('120');
    expect(report.verdict.summary).toContain('120');
  });

  it('reports a first byte far above the round trip as overload http.slow_first_byte', async () => {
    const report = await probe({
      url: site.url('/slow'),
      timeoutMs: 5000,
      thresholds: { slowFirstByteMs: 300, slowFirstByteRatio: 10 },
    });
    expect(report.verdict).toMatchObject({ cause: 'overload', code: 'http.slow_first_byte' });
  });

  it('reports a permanent redirect to another registrable domain as domain_migration', async () => {
    const report = await probe({
      url: site.url('/moved', 'site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'domain_migration', code: 'http.redirect_offsite' });
    const hops = report.target.http?.hops ?? [];
    expect(hops.map((hop) => hop.registrableDomain)).toEqual(['site-a.test', 'moved-b.test']);
    expect(hops[1]?.exchange.status).toBe(200);
  });

  it('treats a permanent redirect within the same registrable domain as ok', async () => {
    const report = await probe({
      url: site.url('/same-site', 'site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    expect(report.target.http?.hops).toHaveLength(2);
  });

  it('reports a server that resets every request, neutral ones too, as server_fault http.reset', async () => {
    const server = await serve(startResettingServer());
    const report = await probe({
      url: server.url('/page', 'site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'http.reset' });
    const first = report.target.http?.hops[0]?.exchange;
    expect(first).toMatchObject({ outcome: 'reset', errno: 'ECONNRESET', isRequestSent: true });
    expect(report.target.differential?.neutral).toMatchObject({ outcome: 'reset', hostHeader: '127.0.0.1' });
  });

  it('reports a close without reply as server_fault http.empty_reply', async () => {
    const server = await serve(startSilentCloseServer());
    const report = await probe({ url: server.url('/'), timeoutMs: 5000 });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'http.empty_reply' });
    expect(report.target.http?.hops[0]?.exchange).toMatchObject({ outcome: 'empty_reply', hasPeerFin: true });
  });

  it('reports a reset that only requests naming the site get as filtered_path filter.keyword_reset', async () => {
    const server = await serve(startKeywordResetServer('blocked.site-a.test'));
    dns.zone.set('blocked.site-a.test', { a: ['127.0.0.1'] });
    const report = await probe({
      url: server.url('/news', 'blocked.site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'filtered_path', code: 'filter.keyword_reset' });
    const differential = report.target.differential;
    expect(differential?.neutral).toMatchObject({ outcome: 'response', status: 200 });
    expect(differential?.retry).toMatchObject({ outcome: 'reset' });
    expect(differential?.steps).toHaveLength(3);
  });

  it('blames the local network when the target and every control fail', async () => {
    const port = await freeClosedPort();
    const deadPort = await freeClosedPort();
    const report = await probe({
      url: `http://127.0.0.1:${port}/`,
      controls: [`http://127.0.0.1:${deadPort}/`],
      timeoutMs: 3000,
    });
    expect(report.verdict).toMatchObject({ cause: 'local_network', code: 'local.controls_unreachable' });
    expect(report.controls[0]?.isReachable).toBe(false);
  });

  it('keeps the target verdict when a control is reachable', async () => {
    const port = await freeClosedPort();
    const report = await probe({
      url: `http://127.0.0.1:${port}/`,
      controls: [site.url('/')],
      timeoutMs: 3000,
    });
    expect(report.verdict.code).toBe('tcp.refused');
    expect(report.controls[0]).toMatchObject({ isReachable: true, verdict: { code: 'http.ok' } });
  });

  it('refuses addresses the policy rejects before connecting', async () => {
    await expect(
      probe({
        url: site.url('/', 'site-a.test'),
        resolvers: resolvers(),
        timeoutMs: 3000,
        isAddressAllowed: (address) => (address === '127.0.0.1' ? 'loopback is not allowed' : undefined),
      }),
    ).rejects.toMatchObject({ name: 'TargetRefusedError', address: '127.0.0.1' });
  });
});
