import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../../src/engine.js';
import { createPki, type TestPki } from '../support/certificates.js';
import { type DnsTestServer, startDnsServer } from '../support/dns-server.js';
import { recordFixture } from '../support/fixtures.js';
import type { TestServer } from '../support/http-servers.js';
import { runCli } from '../support/process.js';
import {
  startClientCertificateServer,
  startHttpsServer,
  startLegacyTlsServer,
  startPlainHttpOnTlsPort,
  startSniResetServer,
  type TlsTestServer,
} from '../support/tls-servers.js';

let pki: TestPki;
let dns: DnsTestServer;
const servers: (TlsTestServer | TestServer)[] = [];
let trusted: TlsTestServer;
let expired: TlsTestServer;
let wrongName: TlsTestServer;
let selfSigned: TlsTestServer;
let sniFilter: TlsTestServer;
let legacy: TlsTestServer;
let plainHttp: TlsTestServer;
let clientCertificate: TlsTestServer;

const resolvers = () => [{ host: '127.0.0.1', port: dns.port }];
const probeTrustingCa = (url: string) =>
  probe({ url, resolvers: resolvers(), ca: [pki.caPem], timeoutMs: 5000 });

async function keep<T extends TlsTestServer | TestServer>(server: Promise<T>): Promise<T> {
  const started = await server;
  servers.push(started);
  return started;
}

beforeAll(async () => {
  pki = createPki();
  dns = await startDnsServer({
    'secure.site-a.test': { a: ['127.0.0.1'] },
    'blocked.site-a.test': { a: ['127.0.0.1'] },
  });
  const names = ['secure.site-a.test', 'blocked.site-a.test'];
  trusted = await keep(startHttpsServer(pki.issue(names)));
  expired = await keep(startHttpsServer(pki.issue(names, { isExpired: true })));
  wrongName = await keep(startHttpsServer(pki.issue(['elsewhere.site-c.test'])));
  selfSigned = await keep(startHttpsServer(pki.selfSigned('secure.site-a.test')));
  sniFilter = await keep(startSniResetServer(pki.issue(names), 'blocked.site-a.test'));
  legacy = await keep(startLegacyTlsServer(pki.issue(names)));
  plainHttp = await keep(startPlainHttpOnTlsPort());
  clientCertificate = await keep(startClientCertificateServer(pki.issue(names), pki.caPem));
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await dns?.close();
  pki?.remove();
});

describe('TLS on loopback', () => {
  it('trusts a private CA passed as ca and records the handshake', async () => {
    const report = await probe({
      url: trusted.url('/', 'secure.site-a.test'),
      resolvers: resolvers(),
      ca: [pki.caPem],
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    expect(report.target.tls).toMatchObject({
      outcome: 'established',
      servername: 'secure.site-a.test',
      isTrusted: true,
      protocol: 'TLSv1.3',
      alpn: 'http/1.1',
    });
    expect(report.target.tls?.certificate?.subjectAltNames).toContain('DNS:secure.site-a.test');
  });

  it('reports a certificate from an unknown CA as server_fault tls.untrusted', async () => {
    const report = await probe({
      url: trusted.url('/', 'secure.site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'tls.untrusted' });
    expect(report.target.tls?.verifyError).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('reports a self-signed certificate as tls.untrusted', async () => {
    const report = await probe({
      url: selfSigned.url('/', 'secure.site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'tls.untrusted' });
    expect(report.target.tls?.verifyError).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('reports a server that speaks only TLS 1.0 and 1.1 as tls.version_or_cipher_mismatch, naming the version', async () => {
    const report = await probeTrustingCa(legacy.url('/', 'secure.site-a.test'));
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'tls.version_or_cipher_mismatch' });
    expect(report.target.tls).toMatchObject({
      outcome: 'alert',
      followUp: { kind: 'legacy_handshake', outcome: 'established', protocol: 'TLSv1.1' },
    });
  });

  it('reports plain HTTP on the https port as tls.not_tls, with the status line a plain request gets', async () => {
    const report = await probeTrustingCa(plainHttp.url('/', 'secure.site-a.test'));
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'tls.not_tls' });
    expect(report.target.tls).toMatchObject({
      errno: 'ERR_SSL_WRONG_VERSION_NUMBER',
      followUp: { kind: 'plaintext_request', outcome: 'response', statusLine: 'HTTP/1.1 200 OK' },
    });
  });

  it('reports a server that requires a client certificate as tls.client_cert_required', async () => {
    const report = await probeTrustingCa(clientCertificate.url('/', 'secure.site-a.test'));
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'tls.client_cert_required' });
    expect(report.target.http?.hops[0]?.exchange.errno).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
  });

  it('reports an expired certificate as server_fault tls.cert_expired', async () => {
    const report = await probe({
      url: expired.url('/', 'secure.site-a.test'),
      resolvers: resolvers(),
      ca: [pki.caPem],
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'tls.cert_expired' });
    expect(report.target.tls?.certificate?.validTo).toBe('2020-02-01T00:00:00.000Z');
  });

  it('reports a certificate for another name as server_fault tls.cert_name_mismatch', async () => {
    const report = await probe({
      url: wrongName.url('/', 'secure.site-a.test'),
      resolvers: resolvers(),
      ca: [pki.caPem],
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'tls.cert_name_mismatch' });
    expect(report.target.tls?.verifyError).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('reports a reset of ClientHellos naming the site, while others pass, as filtered_path filter.sni_reset', async () => {
    const report = await probe({
      url: sniFilter.url('/', 'blocked.site-a.test'),
      resolvers: resolvers(),
      ca: [pki.caPem],
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'filtered_path', code: 'filter.sni_reset' });
    expect(report.target.tls).toMatchObject({ outcome: 'reset', servername: 'blocked.site-a.test' });
    expect(report.target.differential).toMatchObject({
      layer: 'tls',
      trigger: 'tls_reset',
      neutral: { outcome: 'established', servername: null },
      retry: { outcome: 'reset' },
    });
  });

  it('reports a server that received the ClientHello naming the site and never answered, while others pass, as tls.handshake_failed, not filter.sni_drop', async () => {
    // The front reads the ClientHello and keeps silent: on loopback its kernel acknowledges it, as a hung server's
    // does. A filter that drops it on the path leaves it unacknowledged (the netlab's sni-drop scenario).
    const silent = await keep(
      startSniResetServer(pki.issue(['blocked.site-a.test']), 'blocked.site-a.test', 'drop'),
    );
    const report = await probe({
      url: silent.url('/', 'blocked.site-a.test'),
      resolvers: resolvers(),
      ca: [pki.caPem],
      timeoutMs: 2000,
    });
    recordFixture(report, 'tls-hello-acknowledged-unanswered');
    expect(report.verdict).toMatchObject({
      cause: 'server_fault',
      code: 'tls.handshake_failed',
      confidence: 0.6,
    });
    expect(report.verdict.summary).toContain('received our TLS ClientHello naming blocked.site-a.test');
    expect(report.target.tls).toMatchObject({ outcome: 'timeout', servername: 'blocked.site-a.test' });
    const tls = report.target.tls;
    expect(tls?.unacknowledgedBytes).toBeLessThan(tls?.bytesSent ?? 0);
    expect(report.target.differential).toMatchObject({
      trigger: 'tls_timeout',
      neutral: { outcome: 'established' },
      retry: { outcome: 'timeout' },
    });
  });

  it("names an expired intermediate as what fails, not the site's own current certificate", async () => {
    const server = await keep(startHttpsServer(pki.issueUnderExpiredIntermediate(['secure.site-a.test'])));
    const report = await probe({
      url: server.url('/', 'secure.site-a.test'),
      resolvers: resolvers(),
      ca: [pki.caPem],
      timeoutMs: 5000,
    });
    recordFixture(report, 'tls-intermediate-expired');
    expect(report.verdict).toMatchObject({
      cause: 'server_fault',
      code: 'tls.cert_expired',
      confidence: 0.9,
    });
    expect(report.verdict.summary).toContain(
      'sends an intermediate certificate (CN=reach test intermediate) that expired on 2020-02-01',
    );
    expect(report.target.tls).toMatchObject({
      verifyError: 'CERT_HAS_EXPIRED',
      outOfDateCertificate: {
        depth: 1,
        subject: 'CN=reach test intermediate',
        validTo: '2020-02-01T00:00:00.000Z',
      },
    });
    expect(Date.parse(report.target.tls?.certificate?.validTo ?? '')).toBeGreaterThan(Date.now());
  });

  it("still says the site's own certificate expired when it is the one", async () => {
    const report = await probe({
      url: expired.url('/', 'secure.site-a.test'),
      resolvers: resolvers(),
      ca: [pki.caPem],
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ code: 'tls.cert_expired', confidence: 0.95 });
    expect(report.target.tls?.outOfDateCertificate).toMatchObject({ depth: 0 });
  });

  it('reports a server that resets every ClientHello as server_fault tls.handshake_failed', async () => {
    // Every ClientHello starts with the handshake record header 0x16 0x03: all of them are reset.
    const resetting = await keep(startSniResetServer(pki.issue(['secure.site-a.test']), '\u0016\u0003'));
    const report = await probe({
      url: resetting.url('/', 'secure.site-a.test'),
      resolvers: resolvers(),
      ca: [pki.caPem],
      timeoutMs: 5000,
    });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'tls.handshake_failed' });
    expect(report.target.differential?.neutral).toMatchObject({ outcome: 'reset' });
  });

  it('trusts a certificate whose subjectAltName is the IPv4 address in the URL, sending no SNI', async () => {
    const server = await keep(startHttpsServer(pki.issue(['127.0.0.1'])));
    const report = await probeTrustingCa(server.url('/'));
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    expect(report.target.tls).toMatchObject({ outcome: 'established', servername: null, isTrusted: true });
    expect(report.target.tls?.certificate?.subjectAltNames).toEqual(['IP Address:127.0.0.1']);
  });

  it('trusts a certificate whose subjectAltName is the IPv6 address in the URL', async () => {
    const server = await keep(startHttpsServer(pki.issue(['::1']), '::1'));
    const report = await probeTrustingCa(server.url('/'));
    expect(report.url).toMatch(/^https:\/\/\[::1\]:/);
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    expect(report.target.tls).toMatchObject({ address: '::1', servername: null, isTrusted: true });
  });

  it('reports a certificate that covers neither the address in the URL nor any name as tls.cert_name_mismatch', async () => {
    const otherAddress = await keep(startHttpsServer(pki.issue(['127.0.0.2'])));
    const nameOnly = await keep(startHttpsServer(pki.issue(['localhost'])));
    const otherSix = await keep(startHttpsServer(pki.issue(['::2', '127.0.0.1']), '::1'));
    for (const server of [otherAddress, nameOnly, otherSix]) {
      const report = await probeTrustingCa(server.url('/'));
      expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'tls.cert_name_mismatch' });
      expect(report.target.tls).toMatchObject({
        verifyError: 'ERR_TLS_CERT_ALTNAME_INVALID',
        isTrusted: false,
      });
    }
  });

  it('accepts --ca on the command line, for a name and for an address in the URL', async () => {
    const byAddress = await keep(startHttpsServer(pki.issue(['127.0.0.1'])));
    for (const [url, servername] of [
      [trusted.url('/', 'secure.site-a.test'), 'secure.site-a.test'],
      [byAddress.url('/'), null],
    ] as const) {
      const result = await runCli(['probe', url, '--resolver', dns.resolver, '--ca', pki.caPath, '--json']);
      expect(result.code, url).toBe(0);
      expect(JSON.parse(result.stdout).target.tls).toMatchObject({ servername, isTrusted: true });
    }
  });
});
