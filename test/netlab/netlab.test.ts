// Runs reach inside the network lab (test/netlab/lab.sh): every scenario through the CLI as a process, and
// through the service (reach serve) running in the prober namespace.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daysLeftOf } from '../../src/monitor/certificate-expiry.js';
import type { HttpExchange, Report } from '../../src/types.js';
import { bringLabUp, findLabSkipReason, labNames, runLab } from './lab-control.js';
import { cliPath, LabProcess, runInNamespace } from './lab-process.js';
import { describeVantages } from './vantages.js';

const { labPrefix, labState, labCa, proberNamespace } = labNames('t');

const noRouteNamespace = `${labPrefix}noroute`;
const ipv4OnlyNamespace = `${labPrefix}clean`;
const honestResolver = '198.51.100.53';
const lyingResolver = '198.51.100.54';
const deadResolver = '198.51.100.55';
const rewritingResolver = '198.51.100.56';
const refusingResolver = '203.0.113.102';
const truncatingResolver = '203.0.113.103';
const racedResolver = '203.0.113.104';
const blockingResolver = '203.0.113.107';
const namedControl = 'http://control.site-b.test/';
const addressControl = 'http://203.0.113.5/';
/** The service listens on the prober namespace's own loopback: only processes inside the lab reach it. */
const serviceUrl = 'http://127.0.0.1:8080';

const skipReason = findLabSkipReason();
if (skipReason) console.warn(`netlab suite skipped: ${skipReason}`);

interface Scenario {
  name: string;
  url: string;
  resolvers?: string[];
  control?: string;
  timeoutMs?: number;
  /** Trust the lab CA: `--ca` for the CLI, NODE_EXTRA_CA_CERTS for the service. */
  withLabCa?: boolean;
  /** Runs in the namespace without any route (the CLI only: the service lives in the prober namespace). */
  isNoRoute?: boolean;
  /** Runs in the clean vantage's namespace, which has no IPv6 (the CLI only, as above). */
  isIpv4Only?: boolean;
  cause: string;
  code: string;
  /** Asserts the key observation behind the verdict. */
  evidence: (report: Report) => void;
}

function firstExchange(report: Report): HttpExchange | undefined {
  return report.target.http?.hops[0]?.exchange;
}

function dnsOutcomes(report: Report): string[] {
  return (report.target.dns?.resolvers ?? []).flatMap((resolver) =>
    resolver.queries.filter((query) => query.type === 'A').map((query) => query.outcome),
  );
}

function controlsReached(report: Report): boolean[] {
  return report.controls.map((control) => control.isReachable);
}

const scenarios: Scenario[] = [
  {
    name: 'reports a healthy site as ok/http.ok',
    url: 'http://www.site-a.test/',
    cause: 'ok',
    code: 'http.ok',
    evidence: (report) => {
      expect(firstExchange(report)).toMatchObject({ outcome: 'response', status: 200 });
      expect(controlsReached(report)).toEqual([true]);
      // The page check ran on the plain-http 200 and found nothing: nginx's page is nginx's.
      expect(report.target.pageCheck?.replay).toMatchObject({ outcome: 'response', bytesAfterResponse: 0 });
      expect(report.warnings).toEqual([]);
    },
  },
  {
    name: 'reports a name that does not exist as dns_failure/dns.nxdomain',
    url: 'http://nosuchname.site-a.test/',
    cause: 'dns_failure',
    code: 'dns.nxdomain',
    evidence: (report) => {
      expect(dnsOutcomes(report)).toContain('nxdomain');
      expect(controlsReached(report)).toEqual([true]);
    },
  },
  {
    name: 'reports a zone that failed to load on the authoritative server as dns_failure/dns.servfail',
    url: 'http://www.broken.test/',
    cause: 'dns_failure',
    code: 'dns.servfail',
    evidence: (report) => expect(dnsOutcomes(report)).toContain('servfail'),
  },
  {
    name: 'reports a name with no address record as dns_failure/dns.nodata',
    url: 'http://noaddress.site-a.test/',
    cause: 'dns_failure',
    code: 'dns.nodata',
    evidence: (report) => expect(dnsOutcomes(report)).toContain('nodata'),
  },
  {
    name: 'reports a resolver whose queries are dropped as dns_failure/dns.timeout while an address control works',
    url: 'http://www.site-a.test/',
    resolvers: [deadResolver],
    control: addressControl,
    timeoutMs: 3000,
    cause: 'dns_failure',
    code: 'dns.timeout',
    evidence: (report) => {
      expect(dnsOutcomes(report)).toContain('timeout');
      expect(controlsReached(report)).toEqual([true]);
    },
  },
  {
    name: 'reports a lying resolver that answers a bogon next to an honest one as filtered_path/dns.tampered',
    url: 'http://tampered.site-a.test/',
    resolvers: [honestResolver, lyingResolver],
    cause: 'filtered_path',
    code: 'dns.tampered',
    evidence: (report) => {
      const liar = report.target.dns?.resolvers.find((resolver) =>
        resolver.resolver.startsWith(lyingResolver),
      );
      expect(liar?.queries.flatMap((query) => query.bogons)).toContain('10.10.10.10');
    },
  },
  {
    name: 'reports a port nobody listens on as server_fault/tcp.refused',
    url: 'http://closed.site-a.test/',
    cause: 'server_fault',
    code: 'tcp.refused',
    evidence: (report) =>
      expect(report.target.tcp[0]).toMatchObject({ kind: 'refused', address: '203.0.113.11' }),
  },
  {
    name: 'reports a router dropping every packet to the address as filtered_path/filter.blackhole',
    url: 'http://blackhole.site-a.test/',
    timeoutMs: 3000,
    cause: 'filtered_path',
    code: 'filter.blackhole',
    evidence: (report) => {
      expect(report.target.tcp[0]).toMatchObject({ kind: 'timeout', address: '203.0.113.66' });
      expect(controlsReached(report)).toEqual([true]);
    },
  },
  {
    name: 'reports a dual-stack site whose IPv6 path the router blackholes as ok/http.ok with a path.address_unreachable warning',
    url: 'http://dualstack.site-a.test/',
    cause: 'ok',
    code: 'http.ok',
    evidence: (report) => {
      expect(firstExchange(report)).toMatchObject({
        outcome: 'response',
        status: 200,
        address: '203.0.113.10',
      });
      expect(report.target.tcp).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ kind: 'timeout', address: '2001:db8:113::10', family: 6 }),
          expect.objectContaining({ kind: 'connected', address: '203.0.113.10', family: 4 }),
        ]),
      );
      expect(report.warnings).toEqual([
        expect.objectContaining({
          code: 'path.address_unreachable',
          summary: expect.stringContaining('IPv6 address 2001:db8:113::10 did not answer'),
        }),
      ]);
    },
  },
  {
    name: 'reports a name with two A records, one blackholed by the router, as ok/http.ok with a path.address_unreachable warning',
    url: 'http://twoaddresses.site-a.test/',
    cause: 'ok',
    code: 'http.ok',
    evidence: (report) => {
      expect(firstExchange(report)).toMatchObject({
        outcome: 'response',
        status: 200,
        address: '203.0.113.10',
      });
      // bind9 rotates the two records: whichever came first, both addresses have an outcome.
      expect(report.target.tcp).toHaveLength(2);
      expect(report.target.tcp).toEqual(
        expect.arrayContaining([expect.objectContaining({ kind: 'timeout', address: '203.0.113.66' })]),
      );
      expect(report.warnings).toEqual([
        expect.objectContaining({
          code: 'path.address_unreachable',
          summary: expect.stringContaining('IPv4 address 203.0.113.66 did not answer'),
        }),
      ]);
    },
  },
  {
    name: 'reports a router answering ICMP host-unreachable as server_fault/tcp.unreachable',
    url: 'http://unreachable.site-a.test/',
    cause: 'server_fault',
    code: 'tcp.unreachable',
    evidence: (report) =>
      expect(report.target.tcp[0]).toMatchObject({ kind: 'host_unreachable', address: '203.0.113.67' }),
  },
  {
    name: 'reports a prober without any route as local_network/local.no_route when the name needs DNS',
    url: 'http://www.site-a.test/',
    isNoRoute: true,
    cause: 'local_network',
    code: 'local.no_route',
    evidence: (report) => expect(controlsReached(report)).toEqual([false]),
  },
  {
    name: 'reports a prober without any route as local_network/local.no_route when the URL is an address',
    url: 'http://203.0.113.10/',
    control: addressControl,
    isNoRoute: true,
    cause: 'local_network',
    code: 'local.no_route',
    evidence: (report) => {
      expect(report.target.tcp[0]).toMatchObject({ kind: 'net_unreachable', errno: 'ENETUNREACH' });
      expect(controlsReached(report)).toEqual([false]);
    },
  },
  {
    name: 'reports a 500 from nginx as server_fault/http.server_error',
    url: 'http://error500.site-a.test/',
    cause: 'server_fault',
    code: 'http.server_error',
    evidence: (report) =>
      expect(firstExchange(report)).toMatchObject({
        status: 500,
        headers: { server: expect.stringMatching(/^nginx/) },
      }),
  },
  {
    name: 'reports a 502 from nginx in front of a dead upstream as server_fault/http.server_error',
    url: 'http://badgateway.site-a.test/',
    cause: 'server_fault',
    code: 'http.server_error',
    evidence: (report) => expect(firstExchange(report)).toMatchObject({ status: 502 }),
  },
  {
    name: 'reports nginx closing without a reply (return 444) as server_fault/http.empty_reply',
    url: 'http://noreply.site-a.test/',
    cause: 'server_fault',
    code: 'http.empty_reply',
    evidence: (report) =>
      expect(firstExchange(report)).toMatchObject({ outcome: 'empty_reply', isRequestSent: true }),
  },
  {
    name: 'reports a server that resets every request as server_fault/http.reset',
    url: 'http://reset.site-a.test/',
    cause: 'server_fault',
    code: 'http.reset',
    evidence: (report) =>
      expect(firstExchange(report)).toMatchObject({ outcome: 'reset', isRequestSent: true }),
  },
  {
    name: 'reports a 503 with Retry-After as overload/http.unavailable',
    url: 'http://busy.site-a.test/',
    cause: 'overload',
    code: 'http.unavailable',
    evidence: (report) =>
      expect(firstExchange(report)).toMatchObject({ status: 503, headers: { retryAfter: '120' } }),
  },
  {
    name: 'reports a 429 as overload/http.rate_limited',
    url: 'http://limited.site-a.test/',
    cause: 'overload',
    code: 'http.rate_limited',
    evidence: (report) => expect(firstExchange(report)).toMatchObject({ status: 429 }),
  },
  {
    name: 'reports a backend whose first byte comes seconds after connect as overload/http.slow_first_byte',
    url: 'http://slow.site-a.test/',
    timeoutMs: 6000,
    cause: 'overload',
    code: 'http.slow_first_byte',
    evidence: (report) => {
      const exchange = firstExchange(report);
      expect(exchange).toMatchObject({ outcome: 'response', status: 200 });
      // The backend holds its answer for 2500 ms by construction (lab.sh), so this bound always holds.
      expect(exchange?.timings.firstByteMs).toBeGreaterThanOrEqual(2500);
    },
  },
  {
    name: 'reports a 301 to another registrable domain as domain_migration/http.redirect_offsite',
    url: 'http://moved301.site-a.test/',
    cause: 'domain_migration',
    code: 'http.redirect_offsite',
    evidence: (report) =>
      expect(firstExchange(report)).toMatchObject({
        status: 301,
        headers: { location: 'http://www.site-b.test/from-site-a' },
      }),
  },
  {
    name: 'reports a 308 to another registrable domain as domain_migration/http.redirect_offsite',
    url: 'http://moved308.site-a.test/',
    cause: 'domain_migration',
    code: 'http.redirect_offsite',
    evidence: (report) =>
      expect(firstExchange(report)).toMatchObject({
        status: 308,
        headers: { location: 'http://www.site-b.test/from-site-a' },
      }),
  },
  {
    name: 'reports a 410 as domain_migration/http.gone',
    url: 'http://gone.site-a.test/',
    cause: 'domain_migration',
    code: 'http.gone',
    evidence: (report) => expect(firstExchange(report)).toMatchObject({ status: 410 }),
  },
  {
    name: 'reports an RST injected on a Host header match as filtered_path/filter.keyword_reset while a neutral name on the same address passes',
    url: 'http://blocked.site-a.test/',
    cause: 'filtered_path',
    code: 'filter.keyword_reset',
    evidence: (report) => {
      expect(firstExchange(report)).toMatchObject({
        outcome: 'reset',
        isRequestSent: true,
        address: '203.0.113.10',
      });
      expect(report.target.differential).toMatchObject({ layer: 'http', neutral: { outcome: 'response' } });
    },
  },
  {
    name: 'reports an RST injected on a same-origin redirect hop’s path as filtered_path/filter.keyword_reset, the hop sent again on a new connection',
    url: 'http://keyword-path.site-a.test/',
    cause: 'filtered_path',
    code: 'filter.keyword_reset',
    evidence: (report) => {
      expect(firstExchange(report)).toMatchObject({ outcome: 'response', status: 302 });
      const hop = report.target.http?.hops[1];
      // Reset on the kept connection, then on a new one: the new one's reset is the evidence.
      expect(hop?.exchange).toMatchObject({
        path: '/banned/report.html',
        outcome: 'reset',
        isRequestSent: true,
      });
      expect(hop?.exchange.reusedConnection).toBeUndefined();
      expect(hop?.differential).toMatchObject({ layer: 'http', neutral: { outcome: 'response' } });
    },
  },
  {
    name: 'reports an https site with a certificate from the lab CA as ok/http.ok',
    url: 'https://tls.site-a.test/',
    withLabCa: true,
    cause: 'ok',
    code: 'http.ok',
    evidence: (report) =>
      expect(report.target.tls).toMatchObject({ outcome: 'established', isTrusted: true }),
  },
  {
    name: 'reports an expired certificate as server_fault/tls.cert_expired',
    url: 'https://expired.site-a.test/',
    withLabCa: true,
    cause: 'server_fault',
    code: 'tls.cert_expired',
    evidence: (report) => expect(report.target.tls).toMatchObject({ verifyError: 'CERT_HAS_EXPIRED' }),
  },
  {
    name: 'reports a certificate for another name as server_fault/tls.cert_name_mismatch',
    url: 'https://wrongname.site-a.test/',
    withLabCa: true,
    cause: 'server_fault',
    code: 'tls.cert_name_mismatch',
    evidence: (report) =>
      expect(report.target.tls).toMatchObject({ verifyError: 'ERR_TLS_CERT_ALTNAME_INVALID' }),
  },
  {
    name: 'reports an RST injected on a ClientHello carrying the SNI as filtered_path/filter.sni_reset while a neutral SNI passes',
    url: 'https://sni-blocked.site-a.test/',
    withLabCa: true,
    cause: 'filtered_path',
    code: 'filter.sni_reset',
    evidence: (report) => {
      expect(report.target.tls).toMatchObject({ outcome: 'reset', servername: 'sni-blocked.site-a.test' });
      expect(report.target.differential).toMatchObject({ layer: 'tls', neutral: { outcome: 'established' } });
    },
  },
  // Evidence scenarios: a verdict a person can trust needs positive evidence (docs/causes.md).
  {
    name: 'reports a resolver that answers every name, made-up ones too, as dns_failure/dns.nxdomain_rewritten',
    url: 'http://nosuchname.site-a.test/',
    resolvers: [honestResolver, rewritingResolver],
    cause: 'dns_failure',
    code: 'dns.nxdomain_rewritten',
    evidence: (report) => {
      expect(report.verdict.summary).toContain(`${rewritingResolver}:53`);
      expect(report.target.dns?.nxdomainCanary?.results).toEqual([
        { resolver: `${rewritingResolver}:53`, outcome: 'answer', addresses: ['203.0.113.35'] },
      ]);
      // The search page's address was not followed.
      expect(report.target.tcp).toEqual([]);
    },
  },
  {
    name: 'reports a resolver denying a name the honest one resolves as dns_failure/dns.nxdomain_disagreement, not ok',
    url: 'http://denied.site-a.test/',
    resolvers: [lyingResolver, honestResolver],
    cause: 'dns_failure',
    code: 'dns.nxdomain_disagreement',
    evidence: (report) => {
      expect(report.verdict.summary).toContain(`${lyingResolver}:53 says NXDOMAIN`);
      expect(report.target.dns?.nxdomainCanary?.results[0]).toMatchObject({
        resolver: `${honestResolver}:53`,
        outcome: 'nxdomain',
      });
    },
  },
  {
    name: 'reports a name the resolver sends to a block-page server as filtered_path/filter.block_page',
    url: 'http://blockpage-dns.site-a.test/',
    resolvers: [lyingResolver],
    cause: 'filtered_path',
    code: 'filter.block_page',
    evidence: (report) => {
      expect(firstExchange(report)).toMatchObject({
        outcome: 'response',
        status: 200,
        address: '203.0.113.31',
      });
      expect(report.verdict.evidence.join('\n')).toContain('ooni/blocking-fingerprints');
    },
  },
  {
    name: 'reports a 451 naming its blocker as filtered_path/filter.http_451',
    url: 'http://legal451.site-a.test/',
    cause: 'filtered_path',
    code: 'filter.http_451',
    evidence: (report) => {
      expect(report.verdict.summary).toContain('blocked by http://authority.site-b.test/notice');
    },
  },
  {
    name: 'reports a 403 as the site refusing this client, server_fault/http.forbidden, neither ok nor a filter',
    url: 'http://forbidden.site-a.test/',
    cause: 'server_fault',
    code: 'http.forbidden',
    evidence: (report) => {
      expect(firstExchange(report)).toMatchObject({ outcome: 'response', status: 403 });
    },
  },
  {
    name: 'reports a network that sends the site and the control to one login page as local_network/local.captive_portal',
    url: 'http://www.intercepted.site-a.test/',
    control: 'http://intercepted.site-b.test/',
    cause: 'local_network',
    code: 'local.captive_portal',
    evidence: (report) => {
      expect(report.verdict.summary).toContain('login.portal-net.test');
      expect(report.target.http?.hops.at(-1)?.exchange).toMatchObject({ outcome: 'response', status: 200 });
    },
  },
  {
    name: 'reports an SNI reset on the https hop of an http redirect as filtered_path/filter.sni_reset',
    url: 'http://sni-hop.site-a.test/',
    withLabCa: true,
    cause: 'filtered_path',
    code: 'filter.sni_reset',
    evidence: (report) => {
      const hop = report.target.http?.hops[1];
      expect(hop?.exchange).toMatchObject({ outcome: 'tls_failed', tlsHandshake: { outcome: 'reset' } });
      expect(hop?.differential).toMatchObject({ layer: 'http', neutral: { outcome: 'response' } });
    },
  },
  {
    name: 'lets a backend that answers after 2.5 s of a 4 s budget answer: overload/http.slow_first_byte, no filter claim',
    url: 'http://slow.site-a.test/',
    timeoutMs: 4000,
    cause: 'overload',
    code: 'http.slow_first_byte',
    evidence: (report) => {
      expect(firstExchange(report)).toMatchObject({ outcome: 'response', status: 200 });
    },
  },
  {
    name: 'reports a large page lost to a path MTU black hole as server_fault/path.mtu_blackhole, not a filter',
    url: 'http://large.site-a.test/page',
    cause: 'server_fault',
    code: 'path.mtu_blackhole',
    evidence: (report) => {
      expect(['headers_timeout', 'body_timeout']).toContain(firstExchange(report)?.outcome);
      expect(report.verdict.summary).toMatch(/MTU black hole/);
    },
  },
  {
    name: "reports a forged 200 injected on the path, the server's own answer following it, as filtered_path/filter.injected_response",
    url: 'http://forged-pass.site-a.test/',
    cause: 'filtered_path',
    code: 'filter.injected_response',
    evidence: (report) => {
      expect(firstExchange(report)).toMatchObject({ outcome: 'response', status: 200 });
      expect(firstExchange(report)?.bodyPrefix).toContain('Access restricted');
      const replay = report.target.pageCheck?.replay;
      expect(replay).toMatchObject({ outcome: 'response', status: 200 });
      // The tail of nginx's own page came after the forged one on the same connection.
      expect(replay?.bytesAfterResponse).toBeGreaterThan(0);
      expect(replay?.afterResponsePrefix).toContain('stories');
    },
  },
  {
    name: 'reports a forged 200 whose request the injector drops as filtered_path/filter.forged_page: no Date or Server where nginx sends both',
    url: 'http://forged-drop.site-a.test/',
    cause: 'filtered_path',
    code: 'filter.forged_page',
    evidence: (report) => {
      expect(firstExchange(report)?.bodyPrefix).toContain('Access restricted');
      expect(report.target.pageCheck?.replay).toMatchObject({ outcome: 'response', bytesAfterResponse: 0 });
      expect(report.target.pageCheck?.neutral).toMatchObject({
        status: 404,
        headers: { server: expect.stringMatching(/^nginx/) },
      });
      expect(report.verdict.summary).toContain('lacks the Date and Server headers');
    },
  },
  {
    name: 'reports a body cut short by a FIN before its Content-Length as server_fault/http.body_cut, not ok',
    url: 'http://short.site-a.test/',
    cause: 'server_fault',
    code: 'http.body_cut',
    evidence: (report) => {
      expect(firstExchange(report)).toMatchObject({ outcome: 'body_cut', status: 200, hasPeerFin: true });
      expect(firstExchange(report)?.bodyBytes).toBeGreaterThan(0);
    },
  },
  {
    name: 'reports a reset after a 200 and part of the body as server_fault/http.body_cut, not a keyword filter',
    url: 'http://shortreset.site-a.test/',
    cause: 'server_fault',
    code: 'http.body_cut',
    evidence: (report) => {
      expect(firstExchange(report)).toMatchObject({ outcome: 'reset', status: 200 });
      expect(report.target.differential).toMatchObject({ layer: 'http', neutral: { outcome: 'response' } });
    },
  },
  {
    name: 'reports a malformed chunk after a 200 as server_fault/http.protocol_error, not ok',
    url: 'http://badchunk.site-a.test/',
    cause: 'server_fault',
    code: 'http.protocol_error',
    evidence: (report) => {
      expect(firstExchange(report)).toMatchObject({ outcome: 'protocol_error', status: 200 });
      expect(report.verdict.summary).toContain('chunk size');
    },
  },
  {
    name: 'reports an SSH server on port 80 as server_fault/http.protocol_error, quoting its banner',
    url: 'http://banner.site-a.test/',
    cause: 'server_fault',
    code: 'http.protocol_error',
    evidence: (report) => {
      expect(firstExchange(report)).toMatchObject({ outcome: 'protocol_error', address: '203.0.113.101' });
      expect(report.verdict.summary).toContain('SSH-2.0-OpenSSH');
    },
  },
  {
    name: 'reports a listener that reads every request and never answers as overload/http.timeout',
    url: 'http://hung.site-a.test/',
    timeoutMs: 3000,
    cause: 'overload',
    code: 'http.timeout',
    evidence: (report) => {
      const original = firstExchange(report);
      expect(original?.outcome).toBe('headers_timeout');
      // Acknowledged: nothing left of the request, at most our FIN (one) when read before its ACK came.
      expect(original?.unacknowledgedBytes).toBeLessThanOrEqual(1);
      expect(report.target.differential).toMatchObject({ neutral: { outcome: 'headers_timeout' } });
    },
  },
  {
    name: 'reports a server that acknowledges the request for one name and never answers it as overload/http.timeout, not filter.keyword_drop',
    url: 'http://silent.site-a.test/',
    timeoutMs: 3000,
    cause: 'overload',
    code: 'http.timeout',
    evidence: (report) => {
      const original = firstExchange(report);
      expect(original?.outcome).toBe('headers_timeout');
      // Acknowledged: nothing left of the request, at most our FIN (one) when read before its ACK came.
      expect(original?.unacknowledgedBytes).toBeLessThanOrEqual(1);
      expect(report.target.differential).toMatchObject({
        neutral: { outcome: 'response' },
        isConcurrent: true,
      });
    },
  },
  {
    name: 'reports requests naming the site dropped on the path (never acknowledged), a neutral Host answered, as filtered_path/filter.keyword_drop',
    url: 'http://kwdrop.site-a.test/',
    timeoutMs: 3000,
    cause: 'filtered_path',
    code: 'filter.keyword_drop',
    evidence: (report) => {
      const original = firstExchange(report);
      expect(original?.outcome).toBe('headers_timeout');
      expect(original?.unacknowledgedBytes).toBeGreaterThanOrEqual(
        original?.bytesSent ?? Number.POSITIVE_INFINITY,
      );
      expect(report.target.differential).toMatchObject({ neutral: { outcome: 'response', status: 404 } });
    },
  },
  {
    name: 'reports redirects between two names that come back to the first as server_fault/http.redirect_loop, naming the hops',
    url: 'http://loop-a.site-a.test/',
    cause: 'server_fault',
    code: 'http.redirect_loop',
    evidence: (report) =>
      expect(report.verdict.summary).toContain(
        'http://loop-a.site-a.test/ → http://loop-b.site-a.test/ → back to http://loop-a.site-a.test/',
      ),
  },
  {
    name: 'reports a redirect to a name that does not exist as dns_failure/dns.redirect_target, naming the hop',
    url: 'http://deadhop.site-a.test/',
    cause: 'dns_failure',
    code: 'dns.redirect_target',
    evidence: (report) => {
      expect(report.target.http?.hops.at(-1)?.exchange).toMatchObject({ outcome: 'dns_failed' });
      expect(report.verdict.summary).toContain('http://nosuchname.site-b.test/landing');
    },
  },
  {
    name: 'reports a resolver that answers REFUSED as dns_failure/dns.refused',
    url: 'http://www.site-a.test/',
    resolvers: [refusingResolver],
    control: addressControl,
    cause: 'dns_failure',
    code: 'dns.refused',
    evidence: (report) => expect(dnsOutcomes(report)).toEqual(['refused']),
  },
  {
    name: 'reports a truncated answer whose TCP retry is dropped on the path as dns_failure/dns.truncated_tcp_failed, not NODATA',
    url: 'http://www.site-a.test/',
    resolvers: [truncatingResolver],
    control: addressControl,
    cause: 'dns_failure',
    code: 'dns.truncated_tcp_failed',
    evidence: (report) => {
      expect(dnsOutcomes(report)).toEqual(['truncated']);
      expect(report.target.dns?.resolvers[0]?.queries[0]).toMatchObject({ errno: 'timeout' });
    },
  },
  {
    name: 'reports an NXDOMAIN a resolver marks EDE 15 Blocked as filtered_path/filter.dns_blocked, not dns.nxdomain',
    url: 'http://dnsblock.site-a.test/',
    resolvers: [blockingResolver],
    control: addressControl,
    cause: 'filtered_path',
    code: 'filter.dns_blocked',
    evidence: (report) => {
      expect(dnsOutcomes(report)).toEqual(['nxdomain']);
      const query = report.target.dns?.resolvers[0]?.queries.find((each) => each.type === 'A');
      expect(query?.extendedErrors).toEqual([{ code: 15, name: 'Blocked', text: 'blocklist' }]);
      expect(report.verdict.summary).toContain('EDE 15 Blocked');
    },
  },
  {
    name: 'reports a 0.0.0.0 a resolver marks EDE 17 Filtered as filtered_path/filter.dns_blocked, the site answering through the other resolver',
    url: 'http://dnsfilter.site-a.test/',
    resolvers: [blockingResolver, honestResolver],
    cause: 'filtered_path',
    code: 'filter.dns_blocked',
    evidence: (report) => {
      expect(report.target.dns?.addresses).toEqual(['203.0.113.10']);
      expect(report.target.tcp.map((outcome) => outcome.address)).not.toContain('0.0.0.0');
      expect(firstExchange(report)).toMatchObject({ outcome: 'response', address: '203.0.113.10' });
      expect(report.verdict.summary).toContain(
        `${honestResolver}:53 resolves it, and the site answers there`,
      );
    },
  },
  {
    name: 'reports a forged DNS answer raced ahead of the real one as filtered_path/dns.tampered',
    url: 'http://www.site-a.test/',
    resolvers: [racedResolver],
    control: addressControl,
    cause: 'filtered_path',
    code: 'dns.tampered',
    evidence: (report) => {
      const query = report.target.dns?.resolvers[0]?.queries.find((candidate) => candidate.type === 'A');
      expect(query?.addresses).toEqual(['203.0.113.105']);
      expect(query?.extraReplies).toMatchObject([{ rcode: 'NOERROR', addresses: ['203.0.113.10'] }]);
    },
  },
  {
    name: 'reports a CNAME whose target does not exist as dns_failure/dns.dangling_cname, naming the target',
    url: 'http://dangling.site-a.test/',
    cause: 'dns_failure',
    code: 'dns.dangling_cname',
    evidence: (report) => {
      expect(dnsOutcomes(report)).toEqual(['nxdomain']);
      expect(report.verdict.summary).toContain('gone-target.site-b.test');
    },
  },
  {
    name: 'reports a site with IPv6 addresses only, probed from a network without IPv6, as local_network/local.no_ipv6_route (CLI only)',
    url: 'http://v6only.site-a.test/',
    isIpv4Only: true,
    cause: 'local_network',
    code: 'local.no_ipv6_route',
    evidence: (report) => {
      expect(report.target.tcp).toMatchObject([{ kind: 'net_unreachable', family: 6, errno: 'ENETUNREACH' }]);
      expect(controlsReached(report)).toEqual([true]);
    },
  },
  // TLS faults real servers produce (lab.sh build_tls_faults, 203.0.113.80-.85): the server's doing, never a filter.
  {
    name: 'reports a leaf certificate sent without its intermediate as server_fault/tls.cert_chain_incomplete',
    url: 'https://chain-missing.site-a.test/',
    withLabCa: true,
    cause: 'server_fault',
    code: 'tls.cert_chain_incomplete',
    evidence: (report) => {
      expect(report.target.tls).toMatchObject({
        verifyError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        certificate: { issuer: 'CN=reach netlab intermediate' },
      });
      expect(report.verdict.summary).toContain('without the intermediate certificate of its issuer');
    },
  },
  {
    name: 'reports a self-signed certificate as server_fault/tls.untrusted, saying self-signed',
    url: 'https://self-signed.site-a.test/',
    withLabCa: true,
    cause: 'server_fault',
    code: 'tls.untrusted',
    evidence: (report) => {
      expect(report.target.tls).toMatchObject({ verifyError: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
      expect(report.verdict.summary).toContain('is self-signed');
    },
  },
  {
    name: 'reports a server that speaks only TLS 1.0 and 1.1 as server_fault/tls.version_or_cipher_mismatch',
    url: 'https://old-tls.site-a.test/',
    withLabCa: true,
    cause: 'server_fault',
    code: 'tls.version_or_cipher_mismatch',
    evidence: (report) => {
      expect(report.target.tls).toMatchObject({
        outcome: 'alert',
        errno: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
        followUp: { kind: 'legacy_handshake', outcome: 'established', protocol: 'TLSv1.1' },
      });
    },
  },
  {
    name: 'reports a handshake nginx rejects for a name it does not serve as server_fault/tls.unrecognized_name, not a filter',
    url: 'https://unknown-sni.site-a.test/',
    withLabCa: true,
    cause: 'server_fault',
    code: 'tls.unrecognized_name',
    evidence: (report) =>
      expect(report.target.tls).toMatchObject({ outcome: 'alert', errno: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' }),
  },
  {
    name: 'reports plain HTTP on port 443 as server_fault/tls.not_tls with the status line it answers',
    url: 'https://plain-on-443.site-a.test/',
    withLabCa: true,
    cause: 'server_fault',
    code: 'tls.not_tls',
    evidence: (report) =>
      expect(report.target.tls).toMatchObject({
        errno: 'ERR_SSL_WRONG_VERSION_NUMBER',
        followUp: { kind: 'plaintext_request', statusLine: 'HTTP/1.1 200 OK' },
      }),
  },
  {
    name: 'reports a server that closes after every ClientHello, named or not, as server_fault/tls.handshake_failed',
    url: 'https://tls-close.site-a.test/',
    withLabCa: true,
    cause: 'server_fault',
    code: 'tls.handshake_failed',
    evidence: (report) => {
      expect(report.target.tls).toMatchObject({ outcome: 'closed', address: '203.0.113.85' });
      expect(report.target.differential).toMatchObject({ layer: 'tls', neutral: { outcome: 'closed' } });
    },
  },
  {
    name: "reports nginx's 400 for a missing client certificate as server_fault/tls.client_cert_required, not ok",
    url: 'https://client-cert.site-a.test/',
    withLabCa: true,
    cause: 'server_fault',
    code: 'tls.client_cert_required',
    evidence: (report) => {
      expect(firstExchange(report)).toMatchObject({ outcome: 'response', status: 400 });
      expect(firstExchange(report)?.bodyPrefix).toContain('No required SSL certificate was sent');
    },
  },
  {
    name: 'reports a certificate_required alert after the TLS 1.3 handshake as server_fault/tls.client_cert_required',
    url: 'https://client-cert-alert.site-a.test/',
    withLabCa: true,
    cause: 'server_fault',
    code: 'tls.client_cert_required',
    evidence: (report) => {
      expect(report.target.tls).toMatchObject({ outcome: 'established', protocol: 'TLSv1.3' });
      expect(firstExchange(report)).toMatchObject({ errno: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
    },
  },
  {
    name: 'reports an http site whose redirect leads to an expired certificate as server_fault/tls.cert_expired, not ok',
    url: 'http://expired-hop.site-a.test/',
    withLabCa: true,
    cause: 'server_fault',
    code: 'tls.cert_expired',
    evidence: (report) => {
      expect(report.target.tls).toBeNull();
      expect(report.target.http?.hops[1]?.exchange.tls).toMatchObject({
        servername: 'expired.site-a.test',
        verifyError: 'CERT_HAS_EXPIRED',
      });
    },
  },
  {
    name: 'reports an http site whose redirect leads to a TLS 1.0/1.1-only server as server_fault/tls.version_or_cipher_mismatch',
    url: 'http://old-tls-hop.site-a.test/',
    withLabCa: true,
    cause: 'server_fault',
    code: 'tls.version_or_cipher_mismatch',
    evidence: (report) =>
      expect(report.target.http?.hops[1]?.exchange).toMatchObject({
        outcome: 'tls_failed',
        errno: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
      }),
  },
  {
    name: 'reports a ClientHello carrying the name silently dropped (never acknowledged) as filtered_path/filter.sni_drop while a neutral one completes',
    url: 'https://sni-dropped.site-a.test/',
    withLabCa: true,
    timeoutMs: 3000,
    cause: 'filtered_path',
    code: 'filter.sni_drop',
    evidence: (report) => {
      expect(report.target.tls).toMatchObject({ outcome: 'timeout', servername: 'sni-dropped.site-a.test' });
      expect(report.target.differential).toMatchObject({
        layer: 'tls',
        trigger: 'tls_timeout',
        isConcurrent: true,
        neutral: { outcome: 'established', certificate: { subject: 'CN=sni-dropped.site-a.test' } },
        retry: { outcome: 'timeout' },
      });
      // The router dropped it: the server's TCP never acknowledged our ClientHello.
      const tls = report.target.tls;
      expect(tls?.unacknowledgedBytes).toBeGreaterThanOrEqual(tls?.bytesSent ?? Number.POSITIVE_INFINITY);
      expect(report.verdict.confidence).toBe(0.7);
      expect(report.verdict.summary).toContain("never reached the server's TCP");
    },
  },
];

/** Runs `reach probe --json` as a process inside the lab and returns its exit code and report. */
async function probeWithCli(scenario: Scenario): Promise<{ exitCode: number | null; report: Report }> {
  const args = ['probe', scenario.url, '--json', '--control', scenario.control ?? namedControl];
  for (const resolver of scenario.resolvers ?? [honestResolver]) args.push('--resolver', resolver);
  args.push('--timeout', String(scenario.timeoutMs ?? 4000));
  if (scenario.withLabCa) args.push('--ca', labCa);
  const namespace = scenario.isNoRoute
    ? noRouteNamespace
    : scenario.isIpv4Only
      ? ipv4OnlyNamespace
      : proberNamespace;
  const result = await runInNamespace(namespace, [process.execPath, cliPath, ...args]);
  try {
    return { exitCode: result.exitCode, report: JSON.parse(result.stdout) as Report };
  } catch {
    throw new Error(
      `reach ${args.join(' ')} printed no JSON report (exit ${result.exitCode}).\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
    );
  }
}

// Sends one request from inside the prober namespace (the service is on that namespace's loopback).
const requestScript = `
const [url, body] = process.argv.slice(1);
const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
process.stdout.write(JSON.stringify({ status: response.status, body: await response.text() }));
`;

/** POSTs the scenario to the service, waiting for the result, and returns the report. */
async function probeWithService(scenario: Scenario): Promise<Report> {
  const body = JSON.stringify({
    url: scenario.url,
    resolvers: scenario.resolvers ?? [honestResolver],
    controls: [scenario.control ?? namedControl],
    timeoutMs: scenario.timeoutMs ?? 4000,
  });
  const result = await runInNamespace(proberNamespace, [
    process.execPath,
    '--input-type=module',
    '-e',
    requestScript,
    `${serviceUrl}/probe?wait=30`,
    body,
  ]);
  const reply = JSON.parse(result.stdout || '{}') as { status?: number; body?: string };
  const parsed = JSON.parse(reply.body ?? '{}') as { status?: string; report?: Report };
  if (reply.status !== 200 || parsed.status !== 'completed' || !parsed.report) {
    throw new Error(`POST /probe answered ${reply.status}: ${reply.body}\nstderr: ${result.stderr}`);
  }
  return parsed.report;
}

/** Submits a batch, waits (bounded) for every URL's result, and prints the status and the NDJSON results. */
const batchScript = `
const [base, body] = process.argv.slice(1);
const submitted = await fetch(base + '/batches', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
if (submitted.status !== 202) throw new Error('POST /batches answered ' + submitted.status + ': ' + (await submitted.text()));
const { id } = await submitted.json();
let status;
for (let attempt = 0; attempt < 300; attempt++) {
  status = await (await fetch(base + '/batches/' + id)).json();
  if (status.pending === 0) break;
  await new Promise((resolve) => setTimeout(resolve, 200));
}
const results = await (await fetch(base + '/batches/' + id + '/results')).text();
process.stdout.write(JSON.stringify({ status, results }));
`;

/**
 * Creates a monitor whose webhook is a receiver in this same process, waits (bounded) for its first run and for
 * a certificate warning, and prints the monitor, the status page's JSON and the webhook payloads received.
 */
const monitorScript = `
import { createServer } from 'node:http';
const [base, input] = process.argv.slice(1);
const received = [];
const receiver = createServer((request, response) => {
  let text = '';
  request.on('data', (chunk) => { text += chunk; });
  request.on('end', () => { received.push(JSON.parse(text)); response.end('ok'); });
});
await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const body = { ...JSON.parse(input), webhooks: [{ url: 'http://127.0.0.1:' + receiver.address().port + '/hook', secret: 'netlab-webhook-secret' }] };
const created = await fetch(base + '/monitors', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
if (created.status !== 201) throw new Error('POST /monitors answered ' + created.status + ': ' + (await created.text()));
const { id } = await created.json();
let monitor;
for (let attempt = 0; attempt < 300; attempt++) {
  monitor = await (await fetch(base + '/monitors/' + id)).json();
  if (monitor.lastRun && received.some((payload) => payload.event === 'certificate.expiring')) break;
  await new Promise((resolve) => setTimeout(resolve, 200));
}
const summary = await (await fetch(base + '/status.json')).json();
receiver.close();
process.stdout.write(JSON.stringify({ monitor, summary, received }));
`;

/** The scenarios a batch can hold: those run with the default resolver, control and deadline, like its options. */
const batchScenarios = () =>
  scenarios.filter(
    (scenario) =>
      !scenario.isNoRoute &&
      !scenario.isIpv4Only &&
      scenario.resolvers === undefined &&
      scenario.control === undefined &&
      scenario.timeoutMs === undefined,
  );

/** `reach serve` inside the prober namespace, with a private redis-server, trusting the lab CA. */
function labService(): LabProcess {
  return new LabProcess('reach serve', proberNamespace, ['serve'], {
    HOST: '127.0.0.1',
    PORT: '8080',
    PROBE_ALLOW_PRIVATE: 'true',
    REDIS_DATA_DIR: `${labState}/service-redis`,
    NODE_EXTRA_CA_CERTS: labCa,
  });
}

describe.skipIf(skipReason !== undefined)('reach inside the network lab', () => {
  beforeAll(() => {
    if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build first`);
    bringLabUp(labPrefix);
  }, 90_000);

  afterAll(() => {
    runLab('down', labPrefix);
  }, 90_000);

  describe('the CLI (reach probe --json)', () => {
    for (const scenario of scenarios) {
      it(scenario.name, async () => {
        const { exitCode, report } = await probeWithCli(scenario);
        // The whole report rides along so a failure shows what reach saw.
        expect({ cause: report.verdict.cause, code: report.verdict.code, report }).toMatchObject({
          cause: scenario.cause,
          code: scenario.code,
        });
        expect(exitCode).toBe(scenario.cause === 'ok' ? 0 : 1);
        scenario.evidence(report);
      });
    }
  });

  describe('the service (POST /probe to reach serve in the prober namespace)', () => {
    const service = labService();

    beforeAll(() => service.start(['API listening']), 120_000);
    afterAll(() => service.close(), 30_000);

    for (const scenario of scenarios.filter((candidate) => !candidate.isNoRoute && !candidate.isIpv4Only)) {
      it(scenario.name, async () => {
        const report = await probeWithService(scenario);
        expect({ cause: report.verdict.cause, code: report.verdict.code, report }).toMatchObject({
          cause: scenario.cause,
          code: scenario.code,
        });
        scenario.evidence(report);
      });
    }

    it('runs the same scenarios as one batch (POST /batches), each URL ending with its own cause and code', async () => {
      const list = batchScenarios();
      const body = JSON.stringify({
        urls: list.map((scenario) => scenario.url),
        resolvers: [honestResolver],
        controls: [namedControl],
        // Above the 4 s each runs with alone: here they share the worker's slots and the lab's servers at once.
        timeoutMs: 6000,
      });
      const result = await runInNamespace(proberNamespace, [
        process.execPath,
        '--input-type=module',
        '-e',
        batchScript,
        serviceUrl,
        body,
      ]);
      const { status, results } = JSON.parse(result.stdout || '{}') as {
        status?: { pending: number };
        results?: string;
      };
      expect(status, result.stderr).toMatchObject({ pending: 0, state: 'completed', total: list.length });
      const items = (results ?? '')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { index: number; status: string; report: Report });
      expect(items.map((item) => item.index).sort((a, b) => a - b)).toEqual(list.map((_, index) => index));
      const seen = items
        .sort((a, b) => a.index - b.index)
        .map((item) => ({
          name: list[item.index]?.name,
          cause: item.report?.verdict.cause,
          code: item.report?.verdict.code,
        }));
      expect(seen).toEqual(list.map(({ name, cause, code }) => ({ name, cause, code })));
      for (const item of items) (list[item.index] as Scenario).evidence(item.report);
    }, 90_000);

    it('monitors a site whose lab-CA certificate expires in two days: up, one webhook warning, the days left in the monitor and the status JSON', async () => {
      const body = JSON.stringify({
        name: 'Expiring',
        url: 'https://expiring.site-a.test/',
        intervalSeconds: 60,
        resolvers: [honestResolver],
        controls: [namedControl],
        certificateExpiryDays: [14, 3],
      });
      const result = await runInNamespace(proberNamespace, [
        process.execPath,
        '--input-type=module',
        '-e',
        monitorScript,
        serviceUrl,
        body,
      ]);
      const { monitor, summary, received } = JSON.parse(result.stdout || '{}') as {
        monitor?: {
          id: string;
          state: string;
          certificateExpiryDays?: number[];
          lastRun?: { cause: string; code: string };
          certificate?: { notAfter: string; daysLeft: number };
        };
        summary?: { components: { id: string; reach?: { certificate?: unknown } }[] };
        received?: { event: string; code: string; certificate?: unknown }[];
      };
      // The certificate is trusted (the service trusts the lab CA) and still valid: the site is up.
      expect(monitor, result.stderr).toMatchObject({
        state: 'up',
        certificateExpiryDays: [14, 3],
        lastRun: { cause: 'ok', code: 'http.ok' },
      });
      const certificate = monitor?.certificate;
      expect(certificate, JSON.stringify(monitor)).toBeDefined();
      const { notAfter, daysLeft } = certificate as { notAfter: string; daysLeft: number };
      // Issued with openssl -days 2 when the lab came up: under two days left, more than one.
      const msLeft = Date.parse(notAfter) - Date.now();
      expect(msLeft).toBeGreaterThan(86_400_000);
      expect(msLeft).toBeLessThanOrEqual(2 * 86_400_000);
      expect(daysLeft).toBe(daysLeftOf(notAfter, Date.now()));
      expect(daysLeft).toBe(1);
      const component = summary?.components.find((entry) => entry.id === monitor?.id);
      expect(component?.reach?.certificate).toEqual({ notAfter, daysLeft });
      // One warning, for the 3-day threshold, on the monitor's webhook: an alert of its own, not a down state.
      const warnings = (received ?? []).filter((payload) => payload.event === 'certificate.expiring');
      expect(warnings, JSON.stringify(received)).toEqual([
        expect.objectContaining({
          code: 'tls.certificate_expiring',
          certificate: { notAfter, daysLeft, thresholdDays: 3 },
        }),
      ]);
    }, 90_000);
  });

  describeVantages({ labPrefix, labState });
});
