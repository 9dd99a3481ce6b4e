// Resolvers that disagree about whether a name exists, on loopback: the canary tells the rewriter from the denier.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../../src/engine.js';
import { type DnsTestServer, startDnsServer } from '../support/dns-server.js';
import { startHttpServer, type TestServer } from '../support/http-servers.js';

let site: TestServer;
let honest: DnsTestServer;
let rewriter: DnsTestServer;
let denier: DnsTestServer;

beforeAll(async () => {
  site = await startHttpServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' }).end('<html>search results and ads</html>');
  });
  // Knows www.shop-a.test; every other name under the test domains does not exist.
  honest = await startDnsServer({ 'www.shop-a.test': { a: ['127.0.0.1'] } });
  // Answers every name, existing or not, with its own page's address.
  rewriter = await startDnsServer({ '*': { a: ['127.0.0.1'] } });
  // Says www.shop-a.test does not exist.
  denier = await startDnsServer({});
});

afterAll(async () => {
  await site?.close();
  await Promise.all([honest, rewriter, denier].map((server) => server?.close()));
});

const resolverOf = (server: DnsTestServer) => ({ host: '127.0.0.1', port: server.port });

describe('resolvers that disagree about a name', () => {
  it('names the resolver that rewrites NXDOMAIN and does not follow its address to an ok', async () => {
    const report = await probe({
      url: `http://nosuchshop.shop-a.test:${site.port}/`,
      resolvers: [resolverOf(honest), resolverOf(rewriter)],
      timeoutMs: 3000,
    });
    expect(report.verdict).toMatchObject({ cause: 'dns_failure', code: 'dns.nxdomain_rewritten' });
    expect(report.verdict.summary).toContain(rewriter.resolver);
    expect(report.target.dns?.nxdomainCanary?.results).toEqual([
      { resolver: rewriter.resolver, outcome: 'answer', addresses: ['127.0.0.1'] },
    ]);
    // The rewriter's address was not used: nothing was connected to.
    expect(report.target.tcp).toEqual([]);
  });

  it('reports a resolver denying a name that another resolves (and that invents nothing) as a disagreement, not ok', async () => {
    const report = await probe({
      url: `http://www.shop-a.test:${site.port}/`,
      resolvers: [resolverOf(denier), resolverOf(honest)],
      timeoutMs: 3000,
    });
    expect(report.verdict).toMatchObject({
      cause: 'dns_failure',
      code: 'dns.nxdomain_disagreement',
      confidence: 0.6,
    });
    expect(report.verdict.summary).toContain(denier.resolver);
    expect(report.target.dns?.nxdomainCanary?.results[0]).toMatchObject({
      resolver: honest.resolver,
      outcome: 'nxdomain',
    });
  });

  it('asks no canary when the resolvers agree', async () => {
    const report = await probe({
      url: `http://www.shop-a.test:${site.port}/`,
      resolvers: [resolverOf(honest)],
      timeoutMs: 3000,
    });
    expect(report.verdict.code).toBe('http.ok');
    expect(report.target.dns?.nxdomainCanary).toBeUndefined();
  });
});
