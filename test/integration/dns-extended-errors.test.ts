// Extended DNS Errors (RFC 8914) from a real DNS server on loopback: a resolver's own word that it blocks a name,
// that the name's DNSSEC fails, or that it could not reach the name's servers; and EDNS itself, with a server too
// old for it. RECORD_FIXTURES=1 writes each observation to test/fixtures/observations for the classifier's tests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../../src/engine.js';
import type { Report } from '../../src/types.js';
import { type DnsTestServer, startDnsServer } from '../support/dns-server.js';
import { recordFixture } from '../support/fixtures.js';
import { startHttpServer, type TestServer } from '../support/http-servers.js';

let blocker: DnsTestServer;
let honest: DnsTestServer;
let site: TestServer;

const record = recordFixture;

function probeWith(servers: DnsTestServer[], host: string): Promise<Report> {
  return probe({
    url: site.url('/', host),
    resolvers: servers.map((server) => ({ host: '127.0.0.1', port: server.port })),
    timeoutMs: 4000,
  });
}

beforeAll(async () => {
  site = await startHttpServer((_request, response) => {
    response.writeHead(200, { server: 'test', 'content-type': 'text/html' }).end('<html>site</html>');
  });
  // A Pi-hole-like blocker, a family filter and a validating resolver, each answering one name its way.
  blocker = await startDnsServer({
    'ads.site-a.test': { rcode: 'NXDOMAIN', extendedError: { code: 15, text: 'gravity' } },
    'family.site-a.test': { a: ['0.0.0.0'], extendedError: { code: 17 } },
    'court.site-a.test': { rcode: 'NXDOMAIN', extendedError: { code: 16, text: 'blocked by order 12/2026' } },
    'signed.site-a.test': { rcode: 'SERVFAIL', extendedError: { code: 7, text: 'signature expired' } },
    'lame.site-a.test': { rcode: 'SERVFAIL', extendedError: { code: 22, text: 'time limit exceeded' } },
    'plain-servfail.site-a.test': { rcode: 'SERVFAIL' },
    'old.site-a.test': { a: ['127.0.0.1'], isEdnsRefused: true },
    'fine.site-a.test': { a: ['127.0.0.1'] },
    'stale.site-a.test': { a: ['127.0.0.1'], extendedError: { code: 3, text: 'upstream unreachable' } },
  });
  honest = await startDnsServer({
    'court.site-a.test': { a: ['127.0.0.1'] },
    'nothere.site-a.test': { rcode: 'NXDOMAIN' },
  });
});

afterAll(async () => {
  await site?.close();
  await blocker?.close();
  await honest?.close();
});

describe('Extended DNS Errors', () => {
  it('asks with EDNS (a 1232-byte payload), so a resolver can give its reasons', async () => {
    const report = await probeWith([blocker], 'fine.site-a.test');
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    const asked = blocker.queries.filter((query) => query.name === 'fine.site-a.test');
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((query) => query.hasEdns)).toBe(true);
  });

  it('reports an NXDOMAIN with EDE 15 Blocked as filtered_path/filter.dns_blocked, not a name that does not exist', async () => {
    const report = await probeWith([blocker], 'ads.site-a.test');
    record(report, 'dns-blocked-nxdomain-ede');
    expect(report.verdict).toMatchObject({
      cause: 'filtered_path',
      code: 'filter.dns_blocked',
      confidence: 0.9,
    });
    expect(report.verdict.summary).toContain('EDE 15 Blocked: "gravity"');
    const query = report.target.dns?.resolvers[0]?.queries.find((each) => each.type === 'A');
    expect(query).toMatchObject({
      outcome: 'nxdomain',
      extendedErrors: [{ code: 15, name: 'Blocked', text: 'gravity' }],
    });
    expect(report.verdict.evidence.join('\n')).toContain('EDE 15 Blocked');
  });

  it('does not connect to the 0.0.0.0 a filtering resolver answers with EDE 17 Filtered', async () => {
    const report = await probeWith([blocker], 'family.site-a.test');
    record(report, 'dns-blocked-zero-address-ede');
    expect(report.verdict).toMatchObject({ cause: 'filtered_path', code: 'filter.dns_blocked' });
    expect(report.verdict.summary).toContain('EDE 17 Filtered');
    expect(report.target.dns?.addresses).toEqual([]);
    expect(report.target.tcp).toEqual([]);
  });

  it('names the blocking resolver and says the site answers through another one', async () => {
    const report = await probeWith([blocker, honest], 'court.site-a.test');
    record(report, 'dns-blocked-one-of-two-resolvers');
    expect(report.verdict).toMatchObject({ cause: 'filtered_path', code: 'filter.dns_blocked' });
    expect(report.verdict.summary).toContain(`127.0.0.1:${blocker.port} says it blocks court.site-a.test`);
    expect(report.verdict.summary).toContain(
      `127.0.0.1:${honest.port} resolves it, and the site answers there`,
    );
    expect(report.target.http?.hops[0]?.exchange).toMatchObject({ outcome: 'response', status: 200 });
  });

  it('reports a SERVFAIL with EDE 7 Signature Expired as dns_failure/dns.dnssec_invalid', async () => {
    const report = await probeWith([blocker], 'signed.site-a.test');
    record(report, 'dns-dnssec-signature-expired');
    expect(report.verdict).toMatchObject({
      cause: 'dns_failure',
      code: 'dns.dnssec_invalid',
      confidence: 0.85,
    });
    expect(report.verdict.summary).toContain('EDE 7 Signature Expired');
  });

  it('reports a SERVFAIL with EDE 22 as dns.servfail that names the unreachable name servers', async () => {
    const report = await probeWith([blocker], 'lame.site-a.test');
    record(report, 'dns-servfail-no-reachable-authority');
    expect(report.verdict).toMatchObject({ cause: 'dns_failure', code: 'dns.servfail' });
    expect(report.verdict.summary).toContain('EDE 22 No Reachable Authority');
    expect(report.verdict.summary).toContain("could not reach the domain's authoritative name servers");
  });

  it('keeps a SERVFAIL without a reason a plain dns.servfail, and an NXDOMAIN without one dns.nxdomain', async () => {
    const servfail = await probeWith([blocker], 'plain-servfail.site-a.test');
    expect(servfail.verdict).toMatchObject({ code: 'dns.servfail' });
    expect(servfail.verdict.summary).toContain('or its DNSSEC is invalid');
    const nxdomain = await probeWith([honest], 'nothere.site-a.test');
    expect(nxdomain.verdict).toMatchObject({ cause: 'dns_failure', code: 'dns.nxdomain' });
  });

  it('keeps a site answered through a stale cached answer ok, with a dns.stale_answer warning', async () => {
    const report = await probeWith([blocker], 'stale.site-a.test');
    record(report, 'dns-stale-answer');
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    expect(report.warnings).toEqual([
      expect.objectContaining({
        code: 'dns.stale_answer',
        summary: expect.stringContaining('(EDE 3 Stale Answer: "upstream unreachable")'),
      }),
    ]);
  });

  it('asks a server that answers EDNS with FORMERR again without it, and uses that answer', async () => {
    const report = await probeWith([blocker], 'old.site-a.test');
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    const asked = blocker.queries.filter((query) => query.name === 'old.site-a.test' && query.type === 'A');
    expect(asked.map((query) => query.hasEdns)).toEqual([true, false]);
    const query = report.target.dns?.resolvers[0]?.queries.find((each) => each.type === 'A');
    expect(query).toMatchObject({ outcome: 'answer', addresses: ['127.0.0.1'], attempts: 2 });
  });
});
