// A captive portal on loopback: every site, the controls included, is redirected to one login host.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../../src/engine.js';
import { type DnsTestServer, startDnsServer } from '../support/dns-server.js';
import { startHttpServer, type TestServer } from '../support/http-servers.js';

let portal: TestServer;
let intercepting: TestServer;
let dns: DnsTestServer;

beforeAll(async () => {
  portal = await startHttpServer((_request, response) => {
    response
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<form>Accept the terms to go online</form>');
  });
  // What the network answers for every site: a redirect to its login page.
  intercepting = await startHttpServer((request, response) => {
    const original = encodeURIComponent(`http://${request.headers.host}${request.url}`);
    response
      .writeHead(302, { location: `http://login.guest-wifi.test:${portal.port}/?continue=${original}` })
      .end();
  });
  dns = await startDnsServer({
    'www.news-site.test': { a: ['127.0.0.1'] },
    'control.other-site.test': { a: ['127.0.0.1'] },
    'login.guest-wifi.test': { a: ['127.0.0.1'] },
  });
});

afterAll(async () => {
  await portal?.close();
  await intercepting?.close();
  await dns?.close();
});

describe('a captive portal', () => {
  it('blames the network when the target and the controls are sent to the same login host', async () => {
    const report = await probe({
      url: `http://www.news-site.test:${intercepting.port}/`,
      controls: [`http://control.other-site.test:${intercepting.port}/`],
      resolvers: [{ host: '127.0.0.1', port: dns.port }],
      timeoutMs: 3000,
    });
    expect(report.verdict).toMatchObject({ cause: 'local_network', code: 'local.captive_portal' });
    expect(report.verdict.summary).toContain('login.guest-wifi.test');
    expect(report.verdict.summary).not.toMatch(/update links and bookmarks/);
  });

  it('still reports a site that moves alone, controls staying put, as a domain migration', async () => {
    const report = await probe({
      url: `http://www.news-site.test:${intercepting.port}/`,
      controls: [`http://login.guest-wifi.test:${portal.port}/`],
      resolvers: [{ host: '127.0.0.1', port: dns.port }],
      timeoutMs: 3000,
    });
    expect(report.verdict).toMatchObject({ cause: 'domain_migration', code: 'http.redirect_offsite' });
  });
});
