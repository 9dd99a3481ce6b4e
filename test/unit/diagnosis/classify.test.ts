// The classifier on recorded observations (test/fixtures/observations): one verdict per fixture, the ambiguous ones included.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classify, rules } from '../../../src/diagnosis/classify.js';
import type { Cause, Observations, Verdict } from '../../../src/types.js';

const fixtureDir = new URL('../../fixtures/observations/', import.meta.url);
const fixtureNames = readdirSync(fixtureDir)
  .filter((file) => file.endsWith('.json'))
  .map((file) => file.replace(/\.json$/, ''))
  .sort();

function load(name: string): Observations {
  return JSON.parse(readFileSync(new URL(`${name}.json`, fixtureDir), 'utf8')) as Observations;
}

function verdictOf(name: string): Verdict {
  return classify(load(name));
}

interface Expectation {
  fixture: string;
  behaviour: string;
  cause: Cause;
  code: string;
  /** Exact confidence; when absent, `check` bounds it. */
  confidence?: number;
  rule: string;
  /** Substrings that must appear in the evidence (each in at least one line). */
  evidence?: string[];
  /** Patterns the summary must match. */
  summary?: RegExp[];
  /** Extra facts about the observation the behaviour rests on. */
  check?: (obs: Observations, verdict: Verdict) => void;
}

const expectations: Expectation[] = [
  // local-resources-exhausted
  {
    fixture: 'local-resources-exhausted-tcp',
    behaviour:
      'blames this machine, not the site, when the connect failed for want of open files (EMFILE: a batch past ulimit -n)',
    cause: 'local_network',
    code: 'local.resources_exhausted',
    confidence: 0.95,
    rule: 'local-resources-exhausted',
    evidence: ['tcp: 203.0.113.10:80 error (EMFILE)'],
    summary: [
      /ran out of open files for this process \(EMFILE\)/,
      /says nothing about the site/,
      /ulimit -n/,
    ],
  },
  {
    fixture: 'local-resources-exhausted-dns',
    behaviour:
      'blames this machine when every DNS query failed to open its socket (EMFILE), not the resolvers',
    cause: 'local_network',
    code: 'local.resources_exhausted',
    confidence: 0.95,
    rule: 'local-resources-exhausted',
    evidence: [
      '203.0.113.53:53 A www.example.test → EMFILE',
      '203.0.113.53:53 AAAA www.example.test → EMFILE',
    ],
  },
  // local-no-route
  {
    fixture: 'local-no-route-dns',
    behaviour:
      'blames the local network when every DNS query fails with ENETUNREACH (no control: lower confidence)',
    cause: 'local_network',
    code: 'local.no_route',
    confidence: 0.75,
    rule: 'local-no-route',
    evidence: [
      '203.0.113.53:53 A www.example.test → ENETUNREACH',
      '203.0.113.54:53 AAAA www.example.test → ENETUNREACH',
    ],
  },
  {
    fixture: 'local-no-route-tcp-control-failed',
    behaviour: 'blames the local network when the target and the control are both net unreachable',
    cause: 'local_network',
    code: 'local.no_route',
    confidence: 0.9,
    rule: 'local-no-route',
    evidence: [
      '203.0.113.10:80 net unreachable (ENETUNREACH)',
      'control: http://203.0.113.20/ failed (local.no_route)',
    ],
  },
  // local-no-ipv6-route
  {
    fixture: 'local-no-ipv6-route',
    behaviour:
      'blames the local network when a site with IPv6 addresses only fails with ENETUNREACH while a control answers over IPv4',
    cause: 'local_network',
    code: 'local.no_ipv6_route',
    confidence: 0.8,
    rule: 'local-no-ipv6-route',
    evidence: [
      '2001:db8:113::10:80 net unreachable (ENETUNREACH)',
      'control: http://control.site-b.test/ answered',
    ],
    summary: [/IPv6 addresses only/, /no IPv6 route/],
  },
  {
    fixture: 'local-no-ipv6-route-no-control',
    behaviour:
      'blames the missing IPv6 route, not a network with no route at all, when no control is given but an IPv4 resolver answered the name',
    cause: 'local_network',
    code: 'local.no_ipv6_route',
    confidence: 0.7,
    rule: 'local-no-ipv6-route',
    summary: [/while the resolver answered over IPv4/],
    check: (obs) => expect(obs.controls).toEqual([]),
  },
  // local-controls-failed
  {
    fixture: 'local-controls-unreachable',
    behaviour: 'blames the local network when the target and every control time out',
    cause: 'local_network',
    code: 'local.controls_unreachable',
    confidence: 0.75,
    rule: 'local-controls-failed',
    evidence: ['control: http://192.0.2.20/ failed (tcp.timeout)', '192.0.2.10:80 timeout (ETIMEDOUT)'],
  },
  // dns-tampered
  {
    fixture: 'dns-tampered-injected-reply',
    behaviour: 'reports a second, different reply to one query as DNS tampering (an on-path injector)',
    cause: 'filtered_path',
    code: 'dns.tampered',
    confidence: 0.9,
    rule: 'dns-tampered',
    evidence: [
      'sent two different replies to one A query: first NOERROR 198.51.100.66, then NOERROR 203.0.113.10',
    ],
    summary: [/second, different reply/],
  },
  {
    fixture: 'dns-tampered-bogon-disagreement',
    behaviour:
      'reports one resolver answering a bogon while another answers a public address as DNS tampering',
    cause: 'filtered_path',
    code: 'dns.tampered',
    confidence: 0.8,
    rule: 'dns-tampered',
    evidence: ['answered 10.10.34.34 (a bogon) while', 'answered 203.0.113.10'],
    summary: [/private or reserved address/],
  },
  // dns-failure
  {
    fixture: 'dns-nxdomain-two-resolvers',
    behaviour: 'reports an NXDOMAIN both resolvers agree on as a name that does not exist',
    cause: 'dns_failure',
    code: 'dns.nxdomain',
    confidence: 0.95,
    rule: 'dns-failure',
    evidence: ['A www.exmaple.com → NXDOMAIN'],
    summary: [/www\.exmaple\.com does not exist/],
  },
  {
    fixture: 'dns-nxdomain-one-resolver',
    behaviour: 'reports an NXDOMAIN from a single resolver as a missing name, with less confidence',
    cause: 'dns_failure',
    code: 'dns.nxdomain',
    confidence: 0.9,
    rule: 'dns-failure',
  },
  {
    fixture: 'dns-servfail',
    behaviour: 'reports SERVFAIL as a DNS failure of the domain',
    cause: 'dns_failure',
    code: 'dns.servfail',
    confidence: 0.85,
    rule: 'dns-failure',
    evidence: ['A servfail.example.test → SERVFAIL'],
  },
  {
    fixture: 'dns-servfail-no-reachable-authority',
    behaviour:
      'reports a SERVFAIL carrying EDE 22 as dns.servfail saying the resolver could not reach the name servers',
    cause: 'dns_failure',
    code: 'dns.servfail',
    confidence: 0.85,
    rule: 'dns-failure',
    evidence: ['SERVFAIL (servfail', 'EDE 22 No Reachable Authority: "time limit exceeded"'],
    summary: [
      /SERVFAIL, EDE 22 No Reachable Authority/,
      /could not reach the domain's authoritative name servers/,
    ],
  },
  {
    fixture: 'dns-dnssec-signature-expired',
    behaviour:
      "reports a SERVFAIL carrying EDE 7 Signature Expired as dns.dnssec_invalid, the domain's own fault",
    cause: 'dns_failure',
    code: 'dns.dnssec_invalid',
    confidence: 0.85,
    rule: 'dns-failure',
    evidence: ['EDE 7 Signature Expired: "signature expired"'],
    summary: [/DNSSEC does not validate \(EDE 7 Signature Expired/, /re-sign the zone/],
  },
  {
    fixture: 'dns-stale-answer',
    behaviour: 'keeps a site answered through a stale cached DNS answer (EDE 3) ok: the warning says it',
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.95,
    rule: 'reachable',
  },
  {
    fixture: 'dns-blocked-nxdomain-ede',
    behaviour:
      'reports an NXDOMAIN carrying EDE 15 Blocked as filter.dns_blocked, not as a name that does not exist',
    cause: 'filtered_path',
    code: 'filter.dns_blocked',
    confidence: 0.9,
    rule: 'dns-blocked',
    evidence: ['NXDOMAIN (nxdomain', 'EDE 15 Blocked: "gravity"'],
    summary: [
      /says it blocks ads\.site-a\.test on purpose \(EDE 15 Blocked: "gravity"\)/,
      /not a fault of the site/,
    ],
  },
  {
    fixture: 'dns-blocked-zero-address-ede',
    behaviour:
      'reports a 0.0.0.0 answer carrying EDE 17 Filtered as filter.dns_blocked, with nothing connected to',
    cause: 'filtered_path',
    code: 'filter.dns_blocked',
    confidence: 0.9,
    rule: 'dns-blocked',
    evidence: ['0.0.0.0', 'EDE 17 Filtered'],
    check: (obs) => {
      expect(obs.target.dns?.addresses).toEqual([]);
      expect(obs.target.tcp).toEqual([]);
    },
  },
  {
    fixture: 'dns-blocked-one-of-two-resolvers',
    behaviour:
      "reports one resolver's EDE 16 Censored as filter.dns_blocked, naming the other resolver and that the site answers there",
    cause: 'filtered_path',
    code: 'filter.dns_blocked',
    confidence: 0.9,
    rule: 'dns-blocked',
    evidence: ['EDE 16 Censored: "blocked by order 12/2026"'],
    summary: [/resolves it, and the site answers there/],
  },
  {
    fixture: 'dns-refused',
    behaviour: 'reports a resolver that answers REFUSED as dns.refused',
    cause: 'dns_failure',
    code: 'dns.refused',
    confidence: 0.7,
    rule: 'dns-failure',
    evidence: ['A www.example.test → REFUSED'],
  },
  {
    fixture: 'dns-nodata',
    behaviour: 'reports a name with neither A nor AAAA records as NODATA',
    cause: 'dns_failure',
    code: 'dns.nodata',
    confidence: 0.85,
    rule: 'dns-failure',
    evidence: ['A nodata.example.test → NOERROR (nodata'],
  },
  {
    fixture: 'dns-timeout-no-control',
    behaviour:
      'points silent resolvers without a reachable control at the local network, and says a control would tell',
    cause: 'local_network',
    code: 'local.dns_unreachable',
    confidence: 0.55,
    rule: 'dns-failure',
    evidence: ['no reply after 2 attempts'],
    summary: [/add --control/],
  },
  {
    fixture: 'dns-timeout-control-reachable',
    behaviour:
      'reports resolvers silent for this name while a control answers as dns.timeout with more confidence',
    cause: 'dns_failure',
    code: 'dns.timeout',
    confidence: 0.8,
    rule: 'dns-failure',
    evidence: ['no reply after 2 attempts', 'control: http://www.example-org.test:'],
    summary: [/while other sites work/],
  },
  // tcp-failure
  {
    fixture: 'tcp-refused',
    behaviour: 'reports a refused connection as the web server being down',
    cause: 'server_fault',
    code: 'tcp.refused',
    confidence: 0.9,
    rule: 'tcp-failure',
    evidence: ['203.0.113.10:44151 refused (ECONNREFUSED)'],
  },
  {
    fixture: 'tcp-host-unreachable',
    behaviour: 'reports EHOSTUNREACH (ICMP host unreachable) as tcp.unreachable',
    cause: 'server_fault',
    code: 'tcp.unreachable',
    confidence: 0.6,
    rule: 'tcp-failure',
    evidence: ['198.51.100.10:80 host unreachable (EHOSTUNREACH)'],
  },
  {
    fixture: 'tcp-net-unreachable-control-reachable',
    behaviour:
      'reports a network unreachable target as tcp.unreachable, not the local network, when a control answers',
    cause: 'server_fault',
    code: 'tcp.unreachable',
    confidence: 0.6,
    rule: 'tcp-failure',
    evidence: ['203.0.113.10:80 net unreachable (ENETUNREACH)', 'answered'],
  },
  {
    fixture: 'filter-blackhole',
    behaviour:
      'reports dropped SYNs while a control answers as a blackhole, saying a dead host looks the same',
    cause: 'filtered_path',
    code: 'filter.blackhole',
    confidence: 0.6,
    rule: 'tcp-failure',
    evidence: ['192.0.2.10:80 timeout (ETIMEDOUT)', 'answered'],
    summary: [/the host is down/],
  },
  {
    fixture: 'tcp-timeout-no-control',
    behaviour: 'reports dropped SYNs without a control as tcp.timeout with low confidence',
    cause: 'filtered_path',
    code: 'tcp.timeout',
    confidence: 0.4,
    rule: 'tcp-failure',
    summary: [/add --control/],
  },
  {
    fixture: 'tcp-error-prohibited',
    behaviour: 'reports any other connect errno (EACCES from a prohibit route) as tcp.error naming the errno',
    cause: 'server_fault',
    code: 'tcp.error',
    confidence: 0.5,
    rule: 'tcp-failure',
    evidence: ['198.51.100.200:80 error (EACCES)'],
    summary: [/EACCES/],
  },
  // tls-differential
  {
    fixture: 'filter-sni-reset',
    behaviour: 'reports a handshake reset only when the SNI names the site as an SNI filter',
    cause: 'filtered_path',
    code: 'filter.sni_reset',
    confidence: 0.85,
    rule: 'tls-differential',
    evidence: ['differential: ClientHello without SNI to the same address: handshake completed'],
  },
  {
    fixture: 'filter-sni-reset-default-certificate-elsewhere',
    behaviour:
      'is less sure of an SNI filter when the certificate presented without SNI does not cover the name, and says why',
    cause: 'filtered_path',
    code: 'filter.sni_reset',
    confidence: 0.7,
    rule: 'tls-differential',
    evidence: [
      'ClientHello without SNI to the same address: handshake completed',
      'the certificate the server presents without SNI (CN=default.hosting.test) does not cover www.example.test',
    ],
    summary: [/a server that refuses names it does not host looks the same/, /another network/],
  },
  {
    fixture: 'filter-sni-close',
    behaviour:
      'reports a handshake closed only when the SNI names the site as an SNI filter, and says closed, not reset',
    cause: 'filtered_path',
    code: 'filter.sni_reset',
    confidence: 0.85,
    rule: 'tls-differential',
    evidence: [
      '(SNI www.example.test) closed (ECONNRESET)',
      'ClientHello without SNI to the same address: handshake completed',
    ],
    check: (obs, verdict) => {
      expect(obs.target.differential?.trigger).toBe('tls_closed');
      expect(verdict.summary).toMatch(/closed/);
      expect(verdict.summary).not.toMatch(/are reset/);
    },
  },
  {
    fixture: 'tls-intermediate-expired',
    behaviour:
      "names the expired intermediate the server sends, not the site's own current certificate, as what fails",
    cause: 'server_fault',
    code: 'tls.cert_expired',
    confidence: 0.9,
    rule: 'tls-certificate',
    evidence: ['certificate at depth 1 of the chain (CN=reach test intermediate)'],
    summary: [/sends an intermediate certificate \(CN=reach test intermediate\) that expired on 2020-02-01/],
  },
  {
    fixture: 'tls-hello-acknowledged-unanswered',
    behaviour:
      'reports a ClientHello naming the site that the server acknowledged and never answered as tls.handshake_failed, not an SNI drop',
    cause: 'server_fault',
    code: 'tls.handshake_failed',
    confidence: 0.6,
    rule: 'tls-differential',
    evidence: ['tcp: the server acknowledged our ClientHello'],
    summary: [/received our TLS ClientHello naming blocked\.site-a\.test/],
    check: (obs) => {
      const tls = obs.target.tls;
      expect(tls?.unacknowledgedBytes).toBeLessThan(tls?.bytesSent ?? 0);
    },
  },
  {
    fixture: 'filter-sni-drop',
    behaviour:
      'reports a handshake dropped only when the SNI names the site as an SNI drop, less sure than a reset',
    cause: 'filtered_path',
    code: 'filter.sni_drop',
    confidence: 0.6,
    rule: 'tls-differential',
    evidence: [
      '(SNI www.example.test) timeout (ETIMEDOUT)',
      'ClientHello without SNI to the same address: handshake completed',
    ],
  },
  {
    fixture: 'tls-handshake-failed-neutral-too',
    behaviour: 'reports a handshake reset with and without SNI as the server failing TLS, not a filter',
    cause: 'server_fault',
    code: 'tls.handshake_failed',
    confidence: 0.65,
    rule: 'tls-differential',
    evidence: ['ClientHello without SNI to the same address: reset (ECONNRESET)'],
    summary: [/even without the site's name/],
  },
  {
    fixture: 'tls-handshake-failed-alert',
    behaviour: 'reports a TLS alert from the server as its TLS setup being broken',
    cause: 'server_fault',
    code: 'tls.handshake_failed',
    confidence: 0.8,
    rule: 'tls-differential',
    evidence: ['alert (ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL)'],
    // No handshake without SNI was tried after an alert: the summary must not claim one failed.
    check: (obs, verdict) => {
      expect(obs.target.differential).toBeNull();
      expect(verdict.summary).not.toMatch(/without the site's name/);
    },
  },
  {
    fixture: 'tls-handshake-failed-intermittent',
    behaviour: 'reports a handshake that failed once and then succeeded as an intermittent fault',
    cause: 'server_fault',
    code: 'tls.handshake_failed',
    confidence: 0.4,
    rule: 'tls-differential',
    evidence: ['ClientHello with SNI www.example.test again on a new connection: handshake completed'],
    summary: [/intermittent/],
  },
  // tls-refused
  {
    fixture: 'tls-version-mismatch',
    behaviour:
      'reports a server that speaks only TLS 1.1 as tls.version_or_cipher_mismatch, naming the version it completed with',
    cause: 'server_fault',
    code: 'tls.version_or_cipher_mismatch',
    confidence: 0.9,
    rule: 'tls-refused',
    evidence: [
      'alert (ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION)',
      'also offers TLS 1.0, 1.1 and old ciphers, on a new connection: handshake completed with TLSv1.1',
    ],
    summary: [/only with TLSv1\.1/, /TLS 1\.2 or 1\.3/],
  },
  {
    fixture: 'tls-cipher-mismatch',
    behaviour:
      'names the cipher, not the version, when the legacy handshake lands on TLS 1.2 with a cipher refused by default',
    cause: 'server_fault',
    code: 'tls.version_or_cipher_mismatch',
    confidence: 0.9,
    rule: 'tls-refused',
    evidence: [
      'alert (ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE)',
      'handshake completed with TLSv1.2 (AES128-SHA)',
    ],
    summary: [/only with the cipher AES128-SHA \(TLSv1\.2\)/, /current ciphers/],
    check: (_obs, verdict) => expect(verdict.summary).not.toMatch(/enable TLS 1\.2/),
  },
  {
    fixture: 'tls-unrecognized-name',
    behaviour:
      "reports a server that aborts the handshake for a name it does not serve as tls.unrecognized_name, the server's doing",
    cause: 'server_fault',
    code: 'tls.unrecognized_name',
    confidence: 0.85,
    rule: 'tls-refused',
    evidence: ['alert (ERR_SSL_TLSV1_UNRECOGNIZED_NAME)'],
    summary: [/no site configured for this name/],
  },
  {
    fixture: 'tls-unrecognized-name-address',
    behaviour:
      'says a handshake without a name (an address in the URL) was refused, rather than blaming a name never sent',
    cause: 'server_fault',
    code: 'tls.unrecognized_name',
    confidence: 0.85,
    rule: 'tls-refused',
    evidence: ['(no SNI) alert (ERR_SSL_TLSV1_UNRECOGNIZED_NAME)'],
    summary: [/names no site/, /Use the site's name/],
  },
  {
    fixture: 'tls-not-tls-plain-http',
    behaviour:
      'reports a port that answers plain HTTP to a ClientHello as tls.not_tls, with the status line it sent',
    cause: 'server_fault',
    code: 'tls.not_tls',
    confidence: 0.9,
    rule: 'tls-refused',
    evidence: [
      '(ERR_SSL_WRONG_VERSION_NUMBER)',
      'a plain-text HTTP request (HEAD /) to the same port, on a new connection: answered "HTTP/1.1 200 OK"',
    ],
    summary: [/answers plain HTTP, not TLS/],
  },
  // tls-certificate
  {
    fixture: 'tls-cert-chain-incomplete',
    behaviour:
      'reports a leaf sent without its intermediate as tls.cert_chain_incomplete, naming the missing issuer',
    cause: 'server_fault',
    code: 'tls.cert_chain_incomplete',
    confidence: 0.9,
    rule: 'tls-certificate',
    evidence: [
      'not trusted: UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'issued by CN=reach netlab intermediate, which the server did not send',
    ],
    summary: [/without the intermediate certificate of its issuer \(CN=reach netlab intermediate\)/],
  },
  {
    fixture: 'tls-cert-expired-redirect-hop',
    behaviour:
      'reports an http site redirecting to an https hop with an expired certificate as tls.cert_expired, not ok',
    cause: 'server_fault',
    code: 'tls.cert_expired',
    confidence: 0.95,
    rule: 'tls-certificate',
    evidence: [
      '301 → https://expired.site-a.test/',
      '(SNI expired.site-a.test)',
      'not trusted: CERT_HAS_EXPIRED',
    ],
    summary: [/^expired-hop\.site-a\.test redirects to https:\/\/expired\.site-a\.test/, /has expired/],
    check: (obs) => expect(obs.target.tls).toBeNull(),
  },
  {
    fixture: 'tls-cert-chain-incomplete-redirect-hop',
    behaviour:
      'reports an https hop whose server leaves out its intermediate as tls.cert_chain_incomplete, naming the hop',
    cause: 'server_fault',
    code: 'tls.cert_chain_incomplete',
    confidence: 0.9,
    rule: 'tls-certificate',
    evidence: ['301 → https://chain-missing.site-a.test/', 'not trusted: UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    summary: [
      /redirects to https:\/\/chain-missing\.site-a\.test/,
      /The server of chain-missing\.site-a\.test/,
    ],
  },
  {
    fixture: 'tls-untrusted-leaf-alone',
    behaviour:
      'keeps a leaf sent alone whose certificate names no issuer URL as tls.untrusted: a private CA looks the same',
    cause: 'server_fault',
    code: 'tls.untrusted',
    confidence: 0.85,
    rule: 'tls-certificate',
    evidence: ['issued by CN=reach netlab intermediate, which the server did not send'],
    summary: [/private CA \(pass it with --ca\)/, /intermediate certificate missing/],
  },
  {
    fixture: 'tls-cert-self-signed',
    behaviour:
      'reports a self-signed certificate as tls.untrusted and says it is self-signed, not a broken chain',
    cause: 'server_fault',
    code: 'tls.untrusted',
    confidence: 0.85,
    rule: 'tls-certificate',
    evidence: ['not trusted: DEPTH_ZERO_SELF_SIGNED_CERT'],
    summary: [/is self-signed/, /--ca/],
    check: (_obs, verdict) => expect(verdict.summary).not.toMatch(/chain/),
  },
  {
    fixture: 'tls-cert-expired',
    behaviour: 'reports an expired certificate as tls.cert_expired',
    cause: 'server_fault',
    code: 'tls.cert_expired',
    confidence: 0.95,
    rule: 'tls-certificate',
    evidence: ['valid to 2025-01-01T00:00:00.000Z, not trusted: CERT_HAS_EXPIRED'],
  },
  {
    fixture: 'tls-cert-name-mismatch',
    behaviour: 'reports a certificate for another name as tls.cert_name_mismatch',
    cause: 'server_fault',
    code: 'tls.cert_name_mismatch',
    confidence: 0.9,
    rule: 'tls-certificate',
    evidence: ['certificate CN=www.example-net.test', 'ERR_TLS_CERT_ALTNAME_INVALID'],
  },
  {
    fixture: 'tls-untrusted',
    behaviour: 'reports a self-signed certificate as untrusted and suggests --ca',
    cause: 'server_fault',
    code: 'tls.untrusted',
    confidence: 0.85,
    rule: 'tls-certificate',
    evidence: ['not trusted: DEPTH_ZERO_SELF_SIGNED_CERT'],
    summary: [/--ca/],
  },
  {
    fixture: 'tls-cert-not-yet-valid',
    behaviour: 'reports a certificate valid only from a future date as tls.cert_not_yet_valid',
    cause: 'server_fault',
    code: 'tls.cert_not_yet_valid',
    confidence: 0.85,
    rule: 'tls-certificate',
    evidence: ['not trusted: CERT_NOT_YET_VALID'],
    summary: [/clock/],
  },
  // tls-client-certificate
  {
    fixture: 'tls-client-cert-required-nginx',
    behaviour:
      "reports nginx's 400 for a missing client certificate as tls.client_cert_required, not a reachable site",
    cause: 'server_fault',
    code: 'tls.client_cert_required',
    confidence: 0.9,
    rule: 'tls-client-certificate',
    evidence: [': 400', 'No required SSL certificate was sent'],
    summary: [/requires a client certificate/],
  },
  {
    fixture: 'tls-client-cert-required-alert',
    behaviour:
      'reports a certificate_required alert after a TLS 1.3 handshake as tls.client_cert_required, not an empty reply',
    cause: 'server_fault',
    code: 'tls.client_cert_required',
    confidence: 0.9,
    rule: 'tls-client-certificate',
    evidence: ['certificate_required alert (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED)'],
    summary: [/requires a client certificate/],
  },
  // redirect-loop
  {
    fixture: 'http-redirect-loop',
    behaviour: 'reports redirects that come back to a visited URL as a redirect loop',
    cause: 'server_fault',
    code: 'http.redirect_loop',
    confidence: 0.85,
    rule: 'redirect-loop',
    evidence: ['302 → /loop2', '302 → /loop,'],
    summary: [
      /^The site redirects in a loop: http:\/\/www\.example\.test:40749\/loop → http:\/\/www\.example\.test:40749\/loop2 → back to http:\/\/www\.example\.test:40749\/loop\./,
    ],
  },
  {
    fixture: 'http-redirect-invalid',
    behaviour: 'reports a redirect to a non-http URL as one nothing can follow, not as a healthy 302',
    cause: 'server_fault',
    code: 'http.redirect_invalid',
    confidence: 0.8,
    rule: 'redirect-unfollowable',
    evidence: ['302 → file:///etc/passwd'],
    summary: [/not an http\(s\) URL/],
  },
  // domain-migration
  {
    fixture: 'http-gone',
    behaviour: 'reports 410 Gone as a domain migration (the page was retired)',
    cause: 'domain_migration',
    code: 'http.gone',
    confidence: 0.8,
    rule: 'domain-migration',
    evidence: ['/410 via 203.0.113.10: 410'],
  },
  {
    fixture: 'http-redirect-offsite-permanent',
    behaviour: 'reports a 301 to another registrable domain as a permanent domain migration',
    cause: 'domain_migration',
    code: 'http.redirect_offsite',
    confidence: 0.9,
    rule: 'domain-migration',
    summary: [/permanently moved to another domain, example-net\.test/],
  },
  {
    fixture: 'http-redirect-offsite-temporary',
    behaviour:
      'reports a 302 to another registrable domain as a migration with less confidence, not "permanently"',
    cause: 'domain_migration',
    code: 'http.redirect_offsite',
    confidence: 0.6,
    rule: 'domain-migration',
    check: (_obs, verdict) => expect(verdict.summary).not.toMatch(/permanently/),
  },
  {
    fixture: 'http-redirect-offsite-temporary-after-same-site-301',
    behaviour:
      'judges a migration by the hop that leaves the domain: a 302 offsite after a same-site 301 is temporary',
    cause: 'domain_migration',
    code: 'http.redirect_offsite',
    confidence: 0.6,
    rule: 'domain-migration',
    check: (obs, verdict) => {
      const statuses = obs.target.http?.hops.map((hop) => hop.exchange.status);
      expect(statuses).toEqual([301, 302, 200]);
      expect(verdict.summary).not.toMatch(/permanently/);
    },
  },
  {
    fixture: 'http-redirect-offsite-target-nxdomain',
    behaviour:
      'reports a redirect to another domain that does not resolve as the failing hop, not a move to follow',
    cause: 'dns_failure',
    code: 'dns.redirect_target',
    rule: 'http-failure',
    summary: [/www\.example-new\.net/],
    check: (obs) => {
      const last = obs.target.http?.hops.at(-1);
      expect(last?.registrableDomain).toBe('example-new.net');
      expect(last?.exchange).toMatchObject({ outcome: 'dns_failed' });
    },
  },
  // http-failure
  {
    fixture: 'filter-keyword-reset',
    behaviour: 'reports a reset only requests naming the site get (neutral answered) as a keyword filter',
    cause: 'filtered_path',
    code: 'filter.keyword_reset',
    confidence: 0.75,
    rule: 'http-failure',
    evidence: [
      'reset (ECONNRESET) after our request went out',
      'neutral Host 203.0.113.10 (no SNI) to the same address: HTTP 200',
    ],
  },
  {
    fixture: 'http-reset-neutral-too',
    behaviour:
      'reports a reset that neutral requests get too as the server failing, noting a stateful filter looks alike',
    cause: 'server_fault',
    code: 'http.reset',
    confidence: 0.75,
    rule: 'http-failure',
    evidence: ['the neutral request failed too; a stateful filter'],
  },
  {
    fixture: 'http-reset-intermittent',
    behaviour: 'reports a reset followed by a successful retry as an intermittent fault with low confidence',
    cause: 'server_fault',
    code: 'http.reset',
    confidence: 0.4,
    rule: 'http-failure',
    summary: [/reset once, then the same request succeeded/],
  },
  {
    fixture: 'http-empty-reply-neutral-ok',
    behaviour:
      'reports a close without reply for this site only as a configured drop (like nginx 444), less sure',
    cause: 'server_fault',
    code: 'http.empty_reply',
    confidence: 0.6,
    rule: 'http-failure',
    summary: [/return 444/],
  },
  {
    fixture: 'http-empty-reply-neutral-too',
    behaviour: 'reports a close without reply for every request as http.empty_reply',
    cause: 'server_fault',
    code: 'http.empty_reply',
    confidence: 0.8,
    rule: 'http-failure',
    evidence: ['empty reply (UND_ERR_SOCKET) after our request went out'],
    check: (_obs, verdict) => expect(verdict.summary).not.toMatch(/444/),
  },
  {
    fixture: 'http-empty-reply-intermittent',
    behaviour:
      'reports a close without reply that the retry no longer gets as intermittent, not a configured drop',
    cause: 'server_fault',
    code: 'http.empty_reply',
    rule: 'http-failure',
    check: (obs, verdict) => {
      expect(obs.target.differential?.retry).toMatchObject({ outcome: 'response', status: 200 });
      expect(verdict.confidence).toBeLessThan(verdictOf('http-empty-reply-neutral-ok').confidence);
      expect(verdict.summary).not.toMatch(/by configuration/);
    },
  },
  {
    fixture: 'filter-keyword-drop',
    behaviour:
      'reports requests naming the site left unanswered while a neutral one is answered as a keyword drop',
    cause: 'filtered_path',
    code: 'filter.keyword_drop',
    confidence: 0.5,
    rule: 'http-failure',
    evidence: ['headers timeout (UND_ERR_HEADERS_TIMEOUT) after our request went out'],
    summary: [/or the site's own backend hangs/, /whole time allowed/],
  },
  {
    fixture: 'http-timeout',
    behaviour: 'reports a server that accepts but never answers anyone as overload http.timeout',
    cause: 'overload',
    code: 'http.timeout',
    confidence: 0.55,
    rule: 'http-failure',
  },
  {
    fixture: 'http-body-timeout',
    behaviour: 'reports a body that stalls after the headers as overload http.body_timeout',
    cause: 'overload',
    code: 'http.body_timeout',
    confidence: 0.5,
    rule: 'http-failure',
    evidence: ['body timeout (BODY_TIMEOUT)'],
  },
  {
    fixture: 'http-protocol-error',
    behaviour: 'reports a reply that is not HTTP as http.protocol_error',
    cause: 'server_fault',
    code: 'http.protocol_error',
    confidence: 0.6,
    rule: 'http-failure',
    summary: [/not valid HTTP/],
  },
  {
    fixture: 'dns-truncated-tcp-blocked',
    behaviour:
      'reports an empty truncated UDP reply whose TCP retry fails as dns.truncated_tcp_failed, not as a name without addresses',
    cause: 'dns_failure',
    code: 'dns.truncated_tcp_failed',
    confidence: 0.8,
    rule: 'dns-failure',
    evidence: ['the reply over UDP was truncated (TC) and the query over TCP failed (timeout)'],
    summary: [/too large for UDP/, /TCP port 53/],
    check: (obs) =>
      expect(obs.target.dns?.resolvers[0]?.queries.map((query) => query.outcome)).toEqual([
        'truncated',
        'truncated',
      ]),
  },
  {
    fixture: 'dns-dangling-cname',
    behaviour:
      'reports an NXDOMAIN after a CNAME as a dangling alias naming its target, not as a name that does not exist',
    cause: 'dns_failure',
    code: 'dns.dangling_cname',
    confidence: 0.9,
    rule: 'dns-failure',
    summary: [/dangling\.site-a\.test exists, as an alias \(CNAME\) of gone-target\.site-b\.test/],
  },
  {
    fixture: 'http-timeout-one-name-acknowledged',
    behaviour:
      'reports a server that acknowledged the request for one name and never answered it as http.timeout, not a keyword drop, though a neutral request is answered',
    cause: 'overload',
    code: 'http.timeout',
    confidence: 0.65,
    rule: 'http-failure',
    evidence: ['tcp: the server acknowledged our request (0 of 150 bytes left unacknowledged)'],
    summary: [/its TCP acknowledged it/, /backend hangs/],
    check: (obs) => {
      const differential = obs.target.differential;
      expect(differential?.layer === 'http' && differential.neutral.outcome).toBe('response');
      expect(differential?.layer === 'http' && differential.isConcurrent).toBe(true);
    },
  },
  {
    fixture: 'filter-keyword-drop-unacknowledged',
    behaviour:
      'reports requests naming the site that the server never acknowledged, while a neutral one is answered, as a keyword drop',
    cause: 'filtered_path',
    code: 'filter.keyword_drop',
    confidence: 0.7,
    rule: 'http-failure',
    evidence: ['tcp: our request was never acknowledged (151 bytes outstanding of 150 sent)'],
    summary: [/never reached the server/],
  },
  {
    fixture: 'http-empty-reply-partial-headers',
    behaviour:
      'reports a FIN after the start of the headers as a reply cut before its headers ended, not as a close without any reply',
    cause: 'server_fault',
    code: 'http.empty_reply',
    confidence: 0.7,
    rule: 'http-failure',
    summary: [/sent 33 bytes that never completed a response's status line and headers/],
  },
  {
    fixture: 'http-body-cut-fin',
    behaviour:
      'reports a body that ends (FIN) before the Content-Length it announced as http.body_cut, not ok',
    cause: 'server_fault',
    code: 'http.body_cut',
    confidence: 0.75,
    rule: 'http-failure',
    evidence: ['body cut (UND_ERR_SOCKET) after our request went out'],
    summary: [/began its answer \(200\)/, /closed the connection before the end it announced/],
    check: (obs) => expect(obs.target.http?.hops[0]?.exchange.status).toBe(200),
  },
  {
    fixture: 'http-body-cut-reset',
    behaviour:
      'reports a reset after the status and part of the body as http.body_cut, not a keyword filter, though a neutral request is answered',
    cause: 'server_fault',
    code: 'http.body_cut',
    confidence: 0.75,
    rule: 'http-failure',
    evidence: [
      'reset (ECONNRESET) after our request went out',
      'neutral Host 203.0.113.100 (no SNI) to the same address: HTTP 200',
    ],
    summary: [/then the connection was reset/],
    check: (obs) => {
      expect(obs.target.differential?.layer === 'http' && obs.target.differential.retry.outcome).toBe(
        'reset',
      );
      expect(obs.target.http?.hops[0]?.exchange.bodyBytes).toBeGreaterThan(0);
    },
  },
  {
    fixture: 'http-protocol-error-chunked',
    behaviour: 'reports a malformed chunk after a 200 as http.protocol_error, not ok',
    cause: 'server_fault',
    code: 'http.protocol_error',
    confidence: 0.75,
    rule: 'http-failure',
    summary: [/after its status \(200\), in the body/, /Invalid character in chunk size/],
  },
  {
    fixture: 'http-protocol-error-ssh-banner',
    behaviour: 'reports an SSH server on port 80 as http.protocol_error, quoting the banner',
    cause: 'server_fault',
    code: 'http.protocol_error',
    confidence: 0.75,
    rule: 'http-failure',
    summary: [/SSH-2\.0-OpenSSH/, /something other than a web server answers on this port/],
  },
  {
    fixture: 'dns-redirect-target',
    behaviour: 'reports a same-site redirect to a name that does not resolve as dns.redirect_target',
    cause: 'dns_failure',
    code: 'dns.redirect_target',
    confidence: 0.8,
    rule: 'http-failure',
    summary: [/old\.example\.test/, /nxdomain/],
  },
  {
    fixture: 'tcp-redirect-target',
    behaviour: 'reports a same-site redirect to a port that refuses as tcp.redirect_target',
    cause: 'server_fault',
    code: 'tcp.redirect_target',
    confidence: 0.7,
    rule: 'http-failure',
    summary: [/ECONNREFUSED/],
  },
  // http-status
  {
    fixture: 'http-unavailable-retry-after',
    behaviour: 'reports 503 with Retry-After as overload and quotes the delay',
    cause: 'overload',
    code: 'http.unavailable',
    confidence: 0.85,
    rule: 'http-status',
    summary: [/retry after 120/],
  },
  {
    fixture: 'http-unavailable-no-retry-after',
    behaviour: 'reports 503 without Retry-After as overload with less confidence',
    cause: 'overload',
    code: 'http.unavailable',
    confidence: 0.75,
    rule: 'http-status',
  },
  {
    fixture: 'http-rate-limited',
    behaviour: 'reports 429 as rate limiting with its Retry-After',
    cause: 'overload',
    code: 'http.rate_limited',
    confidence: 0.85,
    rule: 'http-status',
    evidence: ['429 (Retry-After: 30)'],
  },
  {
    fixture: 'http-server-error-500',
    behaviour: 'reports 500 as the application failing',
    cause: 'server_fault',
    code: 'http.server_error',
    confidence: 0.85,
    rule: 'http-status',
    summary: [/internal error \(500\)/],
  },
  {
    fixture: 'http-server-error-502',
    behaviour: 'reports 502 as the proxy unable to reach its backend',
    cause: 'server_fault',
    code: 'http.server_error',
    confidence: 0.85,
    rule: 'http-status',
    summary: [/cannot reach its backend \(502\)/],
  },
  // slow-first-byte
  {
    fixture: 'http-slow-first-byte',
    behaviour: 'reports a first byte above the threshold and far above the round trip as overload',
    cause: 'overload',
    code: 'http.slow_first_byte',
    confidence: 0.7,
    rule: 'slow-first-byte',
    evidence: ['first byte after 2601.8 ms'],
  },
  // reachable
  {
    fixture: 'http-slow-first-byte-under-threshold',
    behaviour: 'treats a slow first byte under the absolute threshold as ok, not overload',
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.95,
    rule: 'reachable',
    check: (obs) => {
      const firstByteMs = obs.target.http?.hops[0]?.exchange.timings.firstByteMs ?? 0;
      expect(firstByteMs).toBeGreaterThan(500);
      expect(firstByteMs).toBeLessThan(obs.thresholds.slowFirstByteMs);
    },
  },
  {
    fixture: 'http-client-error',
    behaviour: 'reports a 404 as a reachable site with a page problem',
    cause: 'ok',
    code: 'http.client_error',
    confidence: 0.6,
    rule: 'reachable',
  },
  // dns-nxdomain-disagreement
  {
    fixture: 'dns-nxdomain-rewritten',
    behaviour:
      'names the resolver that answers a made-up name too as rewriting NXDOMAIN, and does not follow its address',
    cause: 'dns_failure',
    code: 'dns.nxdomain_rewritten',
    confidence: 0.85,
    rule: 'dns-nxdomain-disagreement',
    evidence: ['answered 203.0.113.10'],
    summary: [/does not exist/, /rewrites "no such name"/],
    check: (obs) => {
      expect(obs.target.dns?.addresses).toEqual([]);
      expect(obs.target.tcp).toEqual([]);
    },
  },
  {
    fixture: 'dns-nxdomain-disagreement',
    behaviour:
      'reports a resolver denying a name another resolves (which invents nothing) as a disagreement, never ok',
    cause: 'dns_failure',
    code: 'dns.nxdomain_disagreement',
    confidence: 0.6,
    rule: 'dns-nxdomain-disagreement',
    evidence: ['nxdomain'],
    summary: [/blocks it, holds a stale answer, or the name exists only inside one network/],
  },
  // local-captive-portal
  {
    fixture: 'local-captive-portal',
    behaviour: 'blames the network when the target and the control are redirected to the same login host',
    cause: 'local_network',
    code: 'local.captive_portal',
    confidence: 0.8,
    rule: 'local-captive-portal',
    evidence: ['is redirected to login.guest-wifi.test too'],
    summary: [/captive portal/],
  },
  // block-page
  {
    fixture: 'filter-block-page',
    behaviour: 'reports a 200 carrying a known block page as filtered_path, not ok',
    cause: 'filtered_path',
    code: 'filter.block_page',
    confidence: 0.9,
    rule: 'block-page',
    evidence: ['ooni/blocking-fingerprints ooni.ir_0'],
  },
  // forged-page
  {
    fixture: 'filter-injected-response',
    behaviour:
      'reports a page followed by a second answer on the same connection as an injected response, not ok',
    cause: 'filtered_path',
    code: 'filter.injected_response',
    confidence: 0.9,
    rule: 'forged-page',
    evidence: ['then 857 more bytes on the same connection', 'lacks Date and Server'],
    summary: [/injected on the path/, /not the site's/],
  },
  {
    fixture: 'filter-forged-page',
    behaviour:
      'reports a page lacking the Date and Server headers the same server sends otherwise as a forged page, with a hedge',
    cause: 'filtered_path',
    code: 'filter.forged_page',
    confidence: 0.6,
    rule: 'forged-page',
    evidence: ['nothing after it', 'lacks Date and Server, which the same server'],
    summary: [/most likely forged/, /a probe from another network tells them apart/],
  },
  {
    fixture: 'http-vhost-differs-from-neutral',
    behaviour:
      'keeps a vhost whose page differs from the default page for a neutral Host ok: a vhost is not evidence',
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.95,
    rule: 'reachable',
    check: (obs) => {
      expect(obs.target.pageCheck?.neutral).toMatchObject({ status: 404 });
      expect(obs.target.pageCheck?.replay).toMatchObject({ status: 200, bytesAfterResponse: 0 });
    },
  },
  {
    fixture: 'http-page-differs-server-header',
    behaviour: 'keeps a page lacking only the Server header ok: one odd sign is a warning, not a filter',
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.95,
    rule: 'reachable',
  },
  {
    fixture: 'http-page-differs-elsewhere',
    behaviour:
      "keeps a page that another resolver's address serves differently ok: CDNs, geo-DNS and stale caches do that too",
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.95,
    rule: 'reachable',
  },
  // legal-block
  {
    fixture: 'filter-http-451',
    behaviour: 'reports a 451 with a blocked-by link as a legal block naming the blocker',
    cause: 'filtered_path',
    code: 'filter.http_451',
    confidence: 0.85,
    rule: 'legal-block',
    evidence: ['rel="blocked-by" https://blocker.example.test/'],
  },
  // client-refused
  {
    fixture: 'http-challenge',
    behaviour: "reports a CDN's bot challenge as the site refusing scripts, neither ok nor a filter",
    cause: 'server_fault',
    code: 'http.challenge',
    confidence: 0.7,
    rule: 'client-refused',
    evidence: ['cf-mitigated: challenge'],
  },
  {
    fixture: 'http-forbidden',
    behaviour: 'reports a 403 on the requested page as the site refusing this client, not ok',
    cause: 'server_fault',
    code: 'http.forbidden',
    confidence: 0.6,
    rule: 'client-refused',
  },
  {
    fixture: 'http-auth-required',
    behaviour: 'reports a 401 as a page that needs credentials, not ok',
    cause: 'server_fault',
    code: 'http.auth_required',
    confidence: 0.6,
    rule: 'client-refused',
  },
  // http-failure: the differential beside a stalled original, and on redirect hops
  {
    fixture: 'path-mtu-blackhole',
    behaviour:
      'reports a page whose HEAD is answered and whose GET never arrives as a path MTU black hole, not a filter',
    cause: 'server_fault',
    code: 'path.mtu_blackhole',
    confidence: 0.6,
    rule: 'http-failure',
    evidence: ['HEAD /page with Host www.example.test (a small answer)'],
  },
  {
    fixture: 'filter-sni-reset-redirect-hop',
    behaviour: 'reports an SNI reset on the https hop of a redirect as a filter, from the hop differential',
    cause: 'filtered_path',
    code: 'filter.sni_reset',
    confidence: 0.8,
    rule: 'http-failure',
    summary: [/at the redirect to https:\/\/www\.example\.test/],
  },
  {
    fixture: 'tls-version-mismatch-redirect-hop',
    behaviour:
      'names a protocol_version alert on an https redirect hop tls.version_or_cipher_mismatch, not a bare handshake failure',
    cause: 'server_fault',
    code: 'tls.version_or_cipher_mismatch',
    confidence: 0.75,
    rule: 'http-failure',
    evidence: ['tls failed (ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION)'],
    summary: [/^The site redirects to https:\/\/old-tls\.site-a\.test/, /refuses every TLS version/],
  },
  {
    fixture: 'filter-sni-reset-redirect-hop-default-certificate-elsewhere',
    behaviour:
      "is less sure of an SNI filter on a redirect hop when the hop's certificate without SNI does not cover the name",
    cause: 'filtered_path',
    code: 'filter.sni_reset',
    confidence: 0.65,
    rule: 'http-failure',
    summary: [/\(CN=default\.hosting\.test\) does not cover www\.example\.test/, /another network/],
  },
  // content-expectation
  {
    fixture: 'content-status-unexpected',
    behaviour: 'names a 404 where the monitor accepts 200-299 content.status_unexpected, not a client error',
    cause: 'server_fault',
    code: 'content.status_unexpected',
    confidence: 0.9,
    rule: 'content-expectation',
    evidence: ['content: FAILED: expected status 200-299; status 404'],
  },
  {
    fixture: 'content-status-unexpected-503',
    behaviour: 'leaves an unaccepted 503 to the status rule, which names it more precisely',
    cause: 'overload',
    code: 'http.unavailable',
    rule: 'http-status',
  },
  {
    fixture: 'content-status-accepted-401',
    behaviour: 'reports a 401 the monitor accepts as ok: the client-refused rule stands aside',
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.9,
    rule: 'reachable',
    summary: [/a status its monitor accepts/],
  },
  {
    fixture: 'content-body-missing',
    behaviour: 'names a 200 without the expected text content.body_missing and quotes what came back',
    cause: 'server_fault',
    code: 'content.body_missing',
    confidence: 0.9,
    rule: 'content-expectation',
    evidence: [
      'content: met: expected status 200-299; status 200',
      'content: FAILED: expected body contains "Welcome"; not in the body (20 bytes), which begins "<h1>Maintenance</h1>"',
    ],
  },
  {
    fixture: 'content-body-forbidden',
    behaviour: 'names a 200 holding a forbidden text content.body_forbidden',
    cause: 'server_fault',
    code: 'content.body_forbidden',
    confidence: 0.9,
    rule: 'content-expectation',
    evidence: ['found at character 3: "<p>Fatal error: database gone</p>"'],
  },
  {
    fixture: 'content-json-mismatch',
    behaviour: 'names a JSON value other than expected content.json_mismatch with the value seen',
    cause: 'server_fault',
    code: 'content.json_mismatch',
    confidence: 0.9,
    rule: 'content-expectation',
    evidence: ['$.status is "degraded"'],
  },
  {
    fixture: 'content-too-slow',
    behaviour: 'names an answer later than maxResponseMs content.too_slow, an overload (degraded, not down)',
    cause: 'overload',
    code: 'content.too_slow',
    confidence: 0.9,
    rule: 'content-expectation',
    evidence: ['content: FAILED: expected response within 100 ms; response in 412 ms'],
  },
  {
    fixture: 'content-checks-met',
    behaviour: 'reports a 200 that meets every content check as ok',
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.95,
    rule: 'reachable',
  },
  {
    fixture: 'http-ok',
    behaviour: 'reports a 200 over http as ok',
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.95,
    rule: 'reachable',
  },
  {
    fixture: 'https-ok',
    behaviour: 'reports a 200 over https with a trusted certificate as ok',
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.95,
    rule: 'reachable',
    check: (obs) => expect(obs.target.tls).toMatchObject({ outcome: 'established', isTrusted: true }),
  },
  {
    fixture: 'http-same-site-redirect',
    behaviour: 'treats a 301 within the same registrable domain as ok, not a migration',
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.95,
    rule: 'reachable',
    check: (obs) =>
      expect(obs.target.http?.hops.map((hop) => hop.registrableDomain)).toEqual([
        'example.test',
        'example.test',
      ]),
  },
  // fallback
  {
    fixture: 'probe-incomplete-control-refused-by-policy',
    behaviour: 'says the probe is incomplete when no phase ran (a control refused by the address policy)',
    cause: 'server_fault',
    code: 'probe.incomplete',
    confidence: 0.2,
    rule: 'undetermined',
    evidence: ['refusing to probe 127.0.0.2'],
  },
  // ambiguous: evidence that is not a verdict
  {
    fixture: 'dns-bogon-consistent-one-resolver',
    behaviour:
      'treats a bogon given consistently by one resolver as evidence, not tampering: the later layers decide',
    cause: 'server_fault',
    code: 'tcp.refused',
    confidence: 0.9,
    rule: 'tcp-failure',
    check: (obs) => {
      const queryA = obs.target.dns?.resolvers[0]?.queries.find((q) => q.type === 'A');
      expect(queryA?.bogons).toEqual(['127.0.0.1']);
    },
  },
  {
    fixture: 'dns-cdn-resolvers-disagree-public',
    behaviour: 'treats resolvers that disagree on public addresses (a CDN) as normal, not tampering',
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.95,
    rule: 'reachable',
    check: (obs) => {
      const answers = obs.target.dns?.resolvers.map((r) => r.queries.flatMap((q) => q.addresses));
      expect(answers).toEqual([['203.0.113.10'], ['198.51.100.20']]);
    },
  },
  {
    fixture: 'dns-local-name-bogon-disagreement',
    behaviour:
      'treats a private answer for a local name (*.internal) that resolvers disagree on as normal, not tampering',
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.95,
    rule: 'reachable',
    check: (obs) => {
      expect(obs.target.dns?.isLocalName).toBe(true);
      const answers = obs.target.dns?.resolvers.map((r) => r.queries.flatMap((q) => q.addresses));
      expect(answers).toEqual([['10.20.30.40'], ['203.0.113.40']]);
    },
  },
  {
    fixture: 'dns-dual-stack-ipv6-no-route',
    behaviour: 'treats an IPv6 address without a route as evidence when the IPv4 address connects: ok',
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.95,
    rule: 'reachable',
    check: (obs) =>
      expect(obs.target.tcp.map((outcome) => outcome.kind)).toEqual(['connected', 'net_unreachable']),
  },
  {
    fixture: 'tcp-dual-stack-ipv6-blackholed',
    behaviour:
      'answers ok when the IPv6 address of a dual-stack name never answers and IPv4 carried the exchange (network lab)',
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.95,
    rule: 'reachable',
    check: (obs) =>
      expect(obs.target.tcp.map((outcome) => [outcome.kind, outcome.family])).toEqual([
        ['timeout', 6],
        ['connected', 4],
      ]),
  },
  {
    fixture: 'tcp-two-addresses-one-blackholed',
    behaviour:
      'answers ok when one of two A records never answers and the other carried the exchange (network lab)',
    cause: 'ok',
    code: 'http.ok',
    confidence: 0.95,
    rule: 'reachable',
    check: (obs) =>
      expect(obs.target.tcp.map((outcome) => [outcome.kind, outcome.address])).toEqual([
        ['timeout', '203.0.113.66'],
        ['connected', '203.0.113.10'],
      ]),
  },
  {
    fixture: 'dns-nxdomain-controls-failed',
    behaviour: 'keeps an NXDOMAIN both resolvers agree on as the verdict even when the controls fail',
    cause: 'dns_failure',
    code: 'dns.nxdomain',
    confidence: 0.95,
    rule: 'dns-failure',
    check: (obs) => expect(obs.controls[0]?.isReachable).toBe(false),
  },
];

describe('classify on recorded observations', () => {
  for (const expected of expectations) {
    it(expected.behaviour, () => {
      const obs = load(expected.fixture);
      const verdict = classify(obs);
      expect({ cause: verdict.cause, code: verdict.code, rule: verdict.rule }).toEqual({
        cause: expected.cause,
        code: expected.code,
        rule: expected.rule,
      });
      if (expected.confidence !== undefined) expect(verdict.confidence).toBe(expected.confidence);
      for (const text of expected.evidence ?? []) {
        expect(
          verdict.evidence.some((line) => line.includes(text)),
          `evidence has "${text}"`,
        ).toBe(true);
      }
      for (const pattern of expected.summary ?? []) expect(verdict.summary).toMatch(pattern);
      expected.check?.(obs, verdict);
    });
  }
});

describe('confidence follows the strength of the evidence', () => {
  const more = (stronger: string, weaker: string) =>
    expect(verdictOf(stronger).confidence).toBeGreaterThan(verdictOf(weaker).confidence);

  it('is surer of NXDOMAIN when two resolvers agree than when one says it', () => {
    more('dns-nxdomain-two-resolvers', 'dns-nxdomain-one-resolver');
  });
  it('is surer of a DNS timeout when a control answers', () => {
    more('dns-timeout-control-reachable', 'dns-timeout-no-control');
  });
  it('is surer of no route when a control failed too', () => {
    more('local-no-route-tcp-control-failed', 'local-no-route-dns');
  });
  it('is surer of tampering from an injected reply than from a bogon disagreement', () => {
    more('dns-tampered-injected-reply', 'dns-tampered-bogon-disagreement');
  });
  it('is surer of a blackhole with a reachable control than of a bare connect timeout', () => {
    more('filter-blackhole', 'tcp-timeout-no-control');
  });
  it('is surer of an SNI filter that resets than of one that drops', () => {
    more('filter-sni-reset', 'filter-sni-drop');
  });
  it('is surer of an SNI filter when the server without SNI presents a certificate for the name', () => {
    more('filter-sni-reset', 'filter-sni-reset-default-certificate-elsewhere');
  });
  it('ranks a TLS alert above a reset seen without SNI too, and both above an intermittent failure', () => {
    more('tls-handshake-failed-alert', 'tls-handshake-failed-neutral-too');
    more('tls-handshake-failed-neutral-too', 'tls-handshake-failed-intermittent');
  });
  it('is surer of a server reset when the neutral request is reset too than when a retry succeeds', () => {
    more('http-reset-neutral-too', 'http-reset-intermittent');
  });
  it('is surer of an empty reply every request gets than of one only this site gets', () => {
    more('http-empty-reply-neutral-too', 'http-empty-reply-neutral-ok');
  });
  it('is surer of a permanent migration than of a temporary redirect offsite', () => {
    more('http-redirect-offsite-permanent', 'http-redirect-offsite-temporary');
  });
  it('is surer of a forged page caught by the second answer after it than of one told by its headers', () => {
    more('filter-injected-response', 'filter-forged-page');
  });
  it('is surer of a 503 that asks to retry later than of a bare 503', () => {
    more('http-unavailable-retry-after', 'http-unavailable-no-retry-after');
  });
});

describe('fixture coverage', () => {
  it('exercises every rule of the classifier with at least one fixture', () => {
    const decided = new Set(fixtureNames.map((name) => verdictOf(name).rule));
    const unexercised = rules.map((rule) => rule.name).filter((name) => !decided.has(name));
    expect(unexercised).toEqual([]);
  });

  it('states the expected verdict of every fixture on disk', () => {
    expect(expectations.map((expected) => expected.fixture).sort()).toEqual(fixtureNames);
  });

  it('keeps fixtures to the Observations shape: target, controls and thresholds only', () => {
    for (const name of fixtureNames) {
      expect(Object.keys(load(name)).sort(), name).toEqual(['controls', 'target', 'thresholds']);
    }
  });
});
