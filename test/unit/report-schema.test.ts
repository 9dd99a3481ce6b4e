// docs/report.schema.json holds for real reports: the engine run against loopback servers, and every recorded fixture.
import { readdirSync, readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify } from '../../src/diagnosis/classify.js';
import { compareVantages } from '../../src/diagnosis/compare.js';
import { warningCodes } from '../../src/diagnosis/warnings.js';
import { probe } from '../../src/engine.js';
import type {
  Cause,
  ConnectFailureKind,
  DifferentialObservation,
  DnsQueryOutcome,
  HttpOutcomeKind,
  MultiVantageReport,
  Observations,
  Report,
  TlsOutcomeKind,
  VantageResult,
} from '../../src/types.js';
import { createPki, type TestPki } from '../support/certificates.js';
import { type DnsTestServer, startDnsServer } from '../support/dns-server.js';
import {
  freeClosedPort,
  startHttpServer,
  startKeywordResetServer,
  type TestServer,
} from '../support/http-servers.js';
import { startHttpsServer, startSniResetServer, type TlsTestServer } from '../support/tls-servers.js';

type JsonSchema = { $id: string; $defs: Record<string, { enum?: unknown[] }> };

const schema = JSON.parse(
  readFileSync(new URL('../../docs/report.schema.json', import.meta.url), 'utf8'),
) as JsonSchema;
const ajv = new Ajv2020({ allErrors: true, strict: true });
ajv.addSchema(schema);
const validateReport = ajv.getSchema(schema.$id) as ValidateFunction;
const validateDef = (name: string) => ajv.getSchema(`${schema.$id}#/$defs/${name}`) as ValidateFunction;

function errorsOf(validate: ValidateFunction): string[] {
  return (validate.errors ?? []).map(
    (error: ErrorObject) => `${error.instancePath || '/'} ${error.message} ${JSON.stringify(error.params)}`,
  );
}

/** What `reach probe --json` prints: the report through JSON (undefined fields dropped). */
function asJson(report: Report): unknown {
  return JSON.parse(JSON.stringify(report));
}

const servers: { close(): Promise<void> }[] = [];
let dns: DnsTestServer;
let pki: TestPki;
let site: TestServer;
let keywordReset: TestServer;
let https: TlsTestServer;
let sniReset: TlsTestServer;
let closedPort: number;

async function keep<T extends { close(): Promise<void> }>(start: Promise<T>): Promise<T> {
  const server = await start;
  servers.push(server);
  return server;
}

const resolvers = () => [{ host: '127.0.0.1', port: dns.port }];

beforeAll(async () => {
  pki = createPki();
  const leaf = pki.issue(['www.site-a.test']);
  site = await keep(
    startHttpServer((request, response) => {
      const port = site.port;
      if (request.url === '/503') response.writeHead(503, { 'retry-after': '120' }).end('busy');
      else if (request.url === '/moved')
        response.writeHead(301, { location: `http://www.other-b.test:${port}/` }).end();
      else if (request.url === '/to-nowhere')
        response.writeHead(302, { location: `http://gone.site-a.test:${port}/` }).end();
      else response.writeHead(200, { server: 'test', 'content-type': 'text/plain' }).end('hello');
    }),
  );
  keywordReset = await keep(startKeywordResetServer('www.site-a.test'));
  https = await keep(startHttpsServer(leaf));
  sniReset = await keep(startSniResetServer(leaf, 'www.site-a.test'));
  closedPort = await freeClosedPort();
  dns = await keep(
    startDnsServer({
      'www.site-a.test': { a: ['127.0.0.1'] },
      'www.other-b.test': { a: ['127.0.0.1'] },
      'alias.site-a.test': { cname: 'www.site-a.test' },
      'injected.site-a.test': { a: ['127.0.0.1'], injectFirst: { a: ['127.0.0.66'], delayMs: 20 } },
      'big.site-a.test': { a: ['127.0.0.1'], isTruncatedOverUdp: true },
      // Nothing listens on 127.0.0.2: a refused address next to one that answers gives a warning.
      'twoaddresses.site-a.test': { a: ['127.0.0.2', '127.0.0.1'] },
    }),
  );
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  pki?.remove();
});

describe('docs/report.schema.json on reports from the engine', () => {
  const expectValid = (report: Report) => {
    const isValid = validateReport(asJson(report));
    expect(errorsOf(validateReport)).toEqual([]);
    expect(isValid).toBe(true);
  };

  it('accepts a healthy report reached by name through a CNAME, with every phase filled in', async () => {
    const report = await probe({
      url: site.url('/', 'alias.site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict.code).toBe('http.ok');
    expect(report.target.dns?.resolvers[0]?.queries[0]?.cnameChain).toEqual(['www.site-a.test']);
    expectValid(report);
  });

  it('accepts an https report with its certificate summary', async () => {
    const report = await probe({
      url: https.url('/', 'www.site-a.test'),
      resolvers: resolvers(),
      ca: [pki.caPem],
      timeoutMs: 5000,
    });
    expect(report.target.tls).toMatchObject({ outcome: 'established', isTrusted: true });
    expect(report.target.tls?.certificate?.subjectAltNames).toEqual(['DNS:www.site-a.test']);
    expectValid(report);
  });

  it('accepts a report whose HTTP differential compared a neutral request (keyword reset)', async () => {
    const report = await probe({
      url: keywordReset.url('/news', 'www.site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict.code).toBe('filter.keyword_reset');
    expect(report.target.differential?.layer).toBe('http');
    expectValid(report);
  });

  it('accepts a report whose TLS differential compared a handshake without SNI (SNI reset)', async () => {
    const report = await probe({
      url: sniReset.url('/', 'www.site-a.test'),
      resolvers: resolvers(),
      ca: [pki.caPem],
      timeoutMs: 5000,
    });
    expect(report.verdict.code).toBe('filter.sni_reset');
    expect(report.target.differential?.layer).toBe('tls');
    expectValid(report);
  });

  it('accepts a report with controls and redirect hops, one of them failing in DNS', async () => {
    const report = await probe({
      url: site.url('/to-nowhere', 'www.site-a.test'),
      controls: [site.url('/moved', 'www.site-a.test'), `http://127.0.0.1:${closedPort}/`],
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict.code).toBe('dns.redirect_target');
    expect(report.target.http?.hops.at(-1)?.exchange.outcome).toBe('dns_failed');
    expect(report.controls.map((control) => control.verdict.code)).toEqual([
      'http.redirect_offsite',
      'tcp.refused',
    ]);
    expectValid(report);
  });

  it('accepts a report with a warning for an address that refused while another answered', async () => {
    const report = await probe({
      url: site.url('/', 'twoaddresses.site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.verdict.code).toBe('http.ok');
    expect(report.warnings.map((warning) => warning.code)).toEqual(['path.address_unreachable']);
    expectValid(report);
    expect(validateReport({ ...(asJson(report) as Report), warnings: [{ code: 'made.up' }] })).toBe(false);
  });

  it('accepts a report that stopped at DNS (NXDOMAIN: no TCP, TLS or HTTP)', async () => {
    const report = await probe({
      url: site.url('/', 'missing.site-a.test'),
      resolvers: resolvers(),
      timeoutMs: 5000,
    });
    expect(report.target).toMatchObject({ tcp: [], tls: null, http: null, differential: null });
    expectValid(report);
  });

  it('accepts a report with an injected DNS reply and one retried over TCP', async () => {
    const [injected, truncated] = await Promise.all([
      probe({
        url: site.url('/', 'injected.site-a.test'),
        resolvers: resolvers(),
        timeoutMs: 5000,
        dnsInjectionWindowMs: 300,
      }),
      probe({ url: site.url('/', 'big.site-a.test'), resolvers: resolvers(), timeoutMs: 5000 }),
    ]);
    expect(injected.target.dns?.resolvers[0]?.queries.find((q) => q.type === 'A')?.extraReplies).toHaveLength(
      1,
    );
    expect(
      truncated.target.dns?.resolvers[0]?.queries.find((q) => q.type === 'A')?.isTruncatedRetriedOverTcp,
    ).toBe(true);
    expectValid(injected);
    expectValid(truncated);
  });

  it('rejects a report whose cause or outcome kind is outside the contract', async () => {
    const report = asJson(await probe({ url: site.url('/503'), timeoutMs: 5000 })) as Report;
    expect(validateReport(report)).toBe(true);
    expect(validateReport({ ...report, verdict: { ...report.verdict, cause: 'unknown' } })).toBe(false);
    const hop = report.target.http?.hops[0];
    expect(hop?.exchange.headers.retryAfter).toBe('120');
    const badHop = { ...hop, exchange: { ...hop?.exchange, outcome: 'exploded' } };
    const badTarget = { ...report.target, http: { ...report.target.http, hops: [badHop] } };
    expect(validateReport({ ...report, target: badTarget })).toBe(false);
    expect(validateReport({ ...report, schemaVersion: 2 })).toBe(false);
  });
});

describe('docs/report.schema.json on the recorded fixtures', () => {
  const dir = new URL('../fixtures/observations/', import.meta.url);
  const names = readdirSync(dir).filter((file) => file.endsWith('.json'));

  it('accepts the target and controls of every fixture in test/fixtures/observations', () => {
    expect(names.length).toBeGreaterThan(0);
    const validateTarget = validateDef('TargetObservation');
    const validateControl = validateDef('ControlResult');
    for (const name of names) {
      const obs = JSON.parse(readFileSync(new URL(name, dir), 'utf8')) as Observations;
      expect(validateTarget(obs.target), `${name}: ${errorsOf(validateTarget).join('; ')}`).toBe(true);
      for (const control of obs.controls) {
        expect(validateControl(control), `${name}: ${errorsOf(validateControl).join('; ')}`).toBe(true);
      }
    }
  });
});

describe('docs/report.schema.json for a probe from several vantages', () => {
  it('accepts a multi-vantage report: each vantage with its report or its reason, and the compared verdict', () => {
    const dir = new URL('../fixtures/observations/', import.meta.url);
    const reportOf = (name: string): Report => {
      const obs = JSON.parse(readFileSync(new URL(`${name}.json`, dir), 'utf8')) as Observations;
      return {
        schemaVersion: 1,
        url: 'http://www.example.test/news',
        startedAt: '2026-11-30T00:00:00.000Z',
        durationMs: 12,
        timeoutMs: 5000,
        resolvers: ['203.0.113.53:53'],
        target: obs.target,
        controls: obs.controls,
        verdict: classify(obs),
        warnings: [],
      };
    };
    const vantages: VantageResult[] = [
      {
        name: 'isp-a',
        labels: { network: 'isp-a' },
        status: 'completed',
        report: reportOf('filter-keyword-reset'),
      },
      { name: 'isp-b', labels: {}, status: 'completed', report: reportOf('http-ok') },
      { name: 'campus', labels: {}, status: 'lost', reason: "no result by the probe's deadline" },
    ];
    const report: MultiVantageReport = {
      schemaVersion: 1,
      url: 'http://www.example.test/news',
      startedAt: '2026-11-30T00:00:00.000Z',
      durationMs: 4100,
      vantages,
      verdict: compareVantages({ url: 'http://www.example.test/news', vantages }),
    };
    const validate = validateDef('MultiVantageReport');
    expect(validate(report), errorsOf(validate).join('; ')).toBe(true);
    expect(validate({ ...report, vantages: [{ name: 'x', labels: {}, status: 'gone' }] })).toBe(false);
  });
});

describe('docs/report.schema.json against src/types.ts', () => {
  // Records keyed by the TypeScript unions: `npm run typecheck` fails if a member is added or removed,
  // and these tests fail if the schema's enums differ from them.
  const causes: Record<Cause, true> = {
    ok: true,
    dns_failure: true,
    server_fault: true,
    local_network: true,
    overload: true,
    domain_migration: true,
    filtered_path: true,
  };
  const httpOutcomes: Record<HttpOutcomeKind, true> = {
    response: true,
    empty_reply: true,
    reset: true,
    headers_timeout: true,
    body_timeout: true,
    body_cut: true,
    protocol_error: true,
    connect_failed: true,
    tls_failed: true,
    dns_failed: true,
    refused_by_policy: true,
    error: true,
  };
  const tlsOutcomes: Record<TlsOutcomeKind, true> = {
    established: true,
    reset: true,
    closed: true,
    alert: true,
    timeout: true,
    error: true,
  };
  const connectFailures: Record<ConnectFailureKind, true> = {
    refused: true,
    reset: true,
    timeout: true,
    host_unreachable: true,
    net_unreachable: true,
    refused_by_policy: true,
    not_attempted: true,
    error: true,
  };
  const dnsOutcomes: Record<DnsQueryOutcome, true> = {
    answer: true,
    nodata: true,
    nxdomain: true,
    servfail: true,
    refused: true,
    other_rcode: true,
    truncated: true,
    timeout: true,
    error: true,
  };
  const triggers: Record<DifferentialObservation['trigger'], true> = {
    reset: true,
    empty_reply: true,
    timeout: true,
    tls_reset: true,
    tls_timeout: true,
    tls_closed: true,
  };
  const enumOf = (name: string) => [...(schema.$defs[name]?.enum ?? [])].sort();
  const keysOf = (record: Record<string, true>) => Object.keys(record).sort();

  it('lists exactly the causes of the Cause type', () => {
    expect(enumOf('Cause')).toEqual(keysOf(causes));
  });

  it('lists exactly the outcome kinds of HTTP, TLS, TCP and DNS', () => {
    expect(enumOf('HttpOutcomeKind')).toEqual(keysOf(httpOutcomes));
    expect(enumOf('TlsOutcomeKind')).toEqual(keysOf(tlsOutcomes));
    expect(enumOf('ConnectFailureKind')).toEqual(keysOf(connectFailures));
    expect(enumOf('DnsQueryOutcome')).toEqual(keysOf(dnsOutcomes));
  });

  it('lists exactly the warning codes of src/diagnosis/warnings.ts', () => {
    const warning = schema.$defs.Warning as { properties: { code: { enum: string[] } } };
    expect([...warning.properties.code.enum].sort()).toEqual([...warningCodes].sort());
  });

  it('lists exactly the differential triggers, each under its layer', () => {
    const triggersOf = (name: string) =>
      (schema.$defs[name] as unknown as { properties: { trigger: { enum: string[] } } }).properties.trigger
        .enum;
    const listed = [
      ...triggersOf('HttpDifferentialObservation'),
      ...triggersOf('TlsDifferentialObservation'),
    ];
    expect(listed.sort()).toEqual(keysOf(triggers));
    expect(triggersOf('TlsDifferentialObservation').every((trigger) => trigger.startsWith('tls_'))).toBe(
      true,
    );
  });
});
