import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DnsTestServer, startDnsServer } from '../support/dns-server.js';
import { freeClosedPort, startHttpServer, type TestServer } from '../support/http-servers.js';
import { runCli } from '../support/process.js';

let site: TestServer;
let dns: DnsTestServer;

beforeAll(async () => {
  site = await startHttpServer((request, response) => {
    if (request.url === '/503') response.writeHead(503, { 'retry-after': '60' }).end();
    else response.end('ok');
  });
  dns = await startDnsServer({
    'www.site-a.test': { a: ['127.0.0.1'] },
    // Nothing listens on 127.0.0.2: its SYN gets an RST, and the site is reached over 127.0.0.1.
    'twoaddresses.site-a.test': { a: ['127.0.0.2', '127.0.0.1'] },
  });
});

afterAll(async () => {
  await site?.close();
  await dns?.close();
});

describe('reach probe as a process', () => {
  it('exits 0 and prints the verdict first for a healthy site', async () => {
    const result = await runCli(['probe', site.url('/', 'www.site-a.test'), '--resolver', dns.resolver]);
    expect(result.code).toBe(0);
    const [firstLine] = result.stdout.split('\n');
    expect(firstLine).toMatch(/^OK http\.ok \(confidence 0\.\d\d\): The site is reachable/);
    expect(result.stdout).toMatch(/^tcp\s+[\d.]+ ms\s+127\.0\.0\.1:\d+ connected/m);
    expect(result.stdout).toMatch(/^http\s+[\d.]+ ms\s+GET http:\/\/www\.site-a\.test/m);
  });

  it('exits 0 and prints a warning line for an address of the name that refused', async () => {
    const url = site.url('/', 'twoaddresses.site-a.test');
    const result = await runCli(['probe', url, '--resolver', dns.resolver]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^OK http\.ok /);
    expect(result.stdout).toMatch(
      /^warning: IPv4 address 127\.0\.0\.2 refused the connection on port \d+ \(ECONNREFUSED\); the site was reached over IPv4 127\.0\.0\.1\./m,
    );
    const json = await runCli(['probe', url, '--resolver', dns.resolver, '--json']);
    expect(JSON.parse(json.stdout).warnings).toMatchObject([{ code: 'path.address_unreachable' }]);
  });

  it('exits 1 and prints the report as JSON with --json for a diagnosed problem', async () => {
    const result = await runCli(['probe', site.url('/503'), '--json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.schemaVersion).toBe(1);
    expect(report.verdict).toMatchObject({ cause: 'overload', code: 'http.unavailable' });
    expect(report.verdict.confidence).toBeGreaterThan(0);
    expect(report.verdict.evidence.length).toBeGreaterThan(0);
    expect(report.target.http.hops[0].exchange.status).toBe(503);
  });

  it('exits 1 for a refused port and names the cause', async () => {
    const port = await freeClosedPort();
    const result = await runCli(['probe', `http://127.0.0.1:${port}/`, '--json', '--timeout', '3000']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).verdict.code).toBe('tcp.refused');
  });

  it.each([
    [['probe', 'not a url'], /url is not a valid URL/],
    [['probe', 'ftp://127.0.0.1/'], /must use http or https, not ftp/],
    [['probe', 'http://127.0.0.1/', '--timeout', '999999999'], /timeoutMs must be between 100 and 120000/],
    [['probe', 'http://127.0.0.1/', '--timeout', 'soon'], /--timeout must be a whole number/],
    [['probe', 'http://127.0.0.1/', '--resolver', 'dns.example'], /must be an IP address/],
    [['probe', 'http://127.0.0.1/', '--resolver', '127.0.0.1:99999'], /invalid port/],
    [['probe', 'http://127.0.0.1/', '--bogus'], /Unknown option '--bogus'/],
    [['probe'], /exactly one URL/],
    [['probe', 'http://127.0.0.1/', '--ca', '/nonexistent/ca.pem'], /cannot read --ca/],
    [['frobnicate'], /unknown command/],
    [['probe', 'http://127.0.0.1/', '--control', 'gopher://x'], /control must use http or https/],
    [['probe', 'http://127.0.0.1:0/'], /reach: url names port 0, which no server listens on/],
    [
      ['probe', `http://${'a'.repeat(64)}.example.test/`],
      /url has a host name with a label longer than the 63 characters DNS allows/,
    ],
    [
      ['probe', `http://${'abcdefghi.'.repeat(26)}test/`],
      /url has a host name longer than the 253 characters DNS allows/,
    ],
    [['probe', 'http://www..example.test/'], /url has a host name with an empty label/],
  ])('exits 2 with one line on stderr for bad input %j', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
  });
});
