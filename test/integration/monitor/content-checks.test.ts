// Content checks on monitors against a real redis-server and loopback sites: the run's verdict and evidence,
// the status page and the alert that carry it, bad input as problem+json, and PROBE_CA_FILE for an https site.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { probe } from '../../../src/engine.js';
import { createPki, type TestPki } from '../../support/certificates.js';
import { type DnsTestServer, startDnsServer } from '../../support/dns-server.js';
import { startHttpServer, type TestServer } from '../../support/http-servers.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { startHttpsServer, type TlsTestServer } from '../../support/tls-servers.js';
import {
  type MonitorHarness,
  probeDefaults,
  RunRecorder,
  sendJson,
  startMonitorHarness,
  startWebhookReceiver,
  type WebhookReceiver,
} from './support.js';

let redis: TestRedis;
let harness: MonitorHarness;
let recorder: RunRecorder;
let site: TestServer;
let receiver: WebhookReceiver;
let pki: TestPki;
let dns: DnsTestServer;
let secure: TlsTestServer;
/** What /health answers: the test switches it. */
let health: { status: string } = { status: 'ok' };

beforeAll(async () => {
  pki = createPki();
  dns = await startDnsServer({ 'api.private-ca.test': { a: ['127.0.0.1'] } });
  secure = await startHttpsServer(pki.issue(['api.private-ca.test']));
  redis = await startRedis();
  site = await startHttpServer((request, response) => {
    const url = (request.url ?? '/').split('?')[0];
    if (url === '/health') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(health));
    } else if (url === '/slow') {
      setTimeout(() => response.writeHead(200).end('fine, eventually'), 300);
    } else {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Down for maintenance</h1>');
    }
  });
  receiver = await startWebhookReceiver();
  // The operator's CA reaches the monitors the way `reach serve` does: PROBE_CA_FILE through loadConfig.
  const caFile = path.join(pki.dir, 'operator-ca.pem');
  writeFileSync(caFile, pki.caPem);
  const config = loadConfig({ PROBE_CA_FILE: caFile });
  harness = await startMonitorHarness({
    redisUrl: redis.url,
    probeDefaults: { ...probeDefaults, ...(config.probeDefaults.ca ? { ca: config.probeDefaults.ca } : {}) },
  });
  recorder = new RunRecorder(harness.workers);
});

afterAll(async () => {
  recorder?.stop();
  await harness?.close();
  await receiver?.close();
  await site?.close();
  await secure?.close();
  await dns?.close();
  await redis?.dispose();
  pki?.remove();
});

async function createMonitor(body: Record<string, unknown>): Promise<string> {
  const response = await sendJson('POST', `${harness.url}/monitors`, {
    intervalSeconds: 60,
    confirmations: 1,
    ...body,
  });
  expect(response.status).toBe(201);
  return response.body.id as string;
}

describe('content checks on monitors', () => {
  it('takes a monitor down on a JSON value it does not expect, with the evidence in the run, the page and the alert', async () => {
    health = { status: 'degraded' };
    const id = await createMonitor({
      name: 'Health API',
      url: `http://127.0.0.1:${site.port}/health`,
      expect: { statuses: ['200-299'], json: [{ path: '$.status', equals: 'ok' }] },
      webhooks: [{ url: receiver.url, secret: 'a-monitor-secret-0123' }],
    });
    const [run] = await recorder.upTo(id, 1);
    expect(run?.result.entry).toMatchObject({
      health: 'down',
      cause: 'server_fault',
      code: 'content.json_mismatch',
      status: 200,
    });
    expect(run?.result.summary).toContain('expected JSON $.status equals "ok"; $.status is "degraded"');
    expect(run?.decision?.status.state).toBe('down');

    const monitor = await sendJson('GET', `${harness.url}/monitors/${id}`);
    expect(monitor.body.expect).toEqual({
      statuses: ['200-299'],
      json: [{ path: '$.status', equals: 'ok' }],
    });
    expect(monitor.body.lastRun).toMatchObject({ code: 'content.json_mismatch' });

    const alert = JSON.parse((await receiver.nth(1)).body);
    expect(alert).toMatchObject({ newState: 'down', code: 'content.json_mismatch' });
    expect(alert.summary).toContain('$.status is');

    const page = await fetch(`${harness.url}/status`).then((response) => response.text());
    expect(page).toContain('fails a content check: expected JSON $.status equals');

    // The site recovers: the same checks pass and the monitor is up again.
    health = { status: 'ok' };
    const runs = recorder.next(id, 1);
    await harness.workers.scheduler.runNow(id, 'manual');
    const [recovered] = await runs;
    expect(recovered?.result.entry).toMatchObject({ health: 'up', code: 'http.ok' });
  });

  it('takes a monitor down on a missing text and degrades it on a slow answer', async () => {
    const missing = await createMonitor({
      name: 'Landing page',
      url: `http://127.0.0.1:${site.port}/`,
      expect: { bodyContains: ['Welcome'], bodyNotContains: ['maintenance'] },
    });
    const [run] = await recorder.upTo(missing, 1);
    expect(run?.result.entry).toMatchObject({ health: 'down', code: 'content.body_missing' });
    expect(run?.result.summary).toContain('(and 1 more check failed)');

    const slow = await createMonitor({
      name: 'Slow page',
      url: `http://127.0.0.1:${site.port}/slow`,
      expect: { maxResponseMs: 100 },
    });
    const [slowRun] = await recorder.upTo(slow, 1);
    expect(slowRun?.result.entry).toMatchObject({
      health: 'degraded',
      cause: 'overload',
      code: 'content.too_slow',
    });
  });

  it('refuses bad content checks with 400 problem+json naming the field', async () => {
    const base = { name: 'Bad', url: `http://127.0.0.1:${site.port}/`, intervalSeconds: 60 };
    const cases: Array<[unknown, string]> = [
      [{ statuses: ['2xx'] }, 'expect.statuses.0'],
      [{ statuses: [700] }, 'expect.statuses.0'],
      [{ statuses: ['299-200'] }, 'expect.statuses.0'],
      [{ json: [{ path: '$..status', equals: 'ok' }] }, 'expect.json.0.path'],
      [{ json: [{ path: '$.a' }] }, 'expect.json.0.equals'],
      [{ bodyContains: [''] }, 'expect.bodyContains.0'],
      [{ maxResponseMs: 0 }, 'expect.maxResponseMs'],
      [{ other: true }, 'expect.other'],
    ];
    for (const [expectation, field] of cases) {
      const response = await sendJson('POST', `${harness.url}/monitors`, { ...base, expect: expectation });
      expect(response.status, JSON.stringify(expectation)).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const fields = (response.body.errors as Array<{ field: string }>).map((error) => error.field);
      expect(fields, JSON.stringify(expectation)).toContain(field);
    }
  });

  it('probes an https site whose certificate a private CA issued, trusting PROBE_CA_FILE', async () => {
    const id = await createMonitor({
      name: 'Private CA',
      url: secure.url('/', 'api.private-ca.test'),
      resolvers: [`127.0.0.1:${dns.port}`],
    });
    const [run] = await recorder.upTo(id, 1);
    expect(run?.result.entry).toMatchObject({ health: 'up', code: 'http.ok' });
    // Without the operator's CA the same site is untrusted: the setting is what made the difference.
    const untrusted = await probe({
      url: secure.url('/', 'api.private-ca.test'),
      resolvers: [{ host: '127.0.0.1', port: dns.port }],
      timeoutMs: 5000,
    });
    expect(untrusted.verdict.code).toBe('tls.untrusted');
  });
});
