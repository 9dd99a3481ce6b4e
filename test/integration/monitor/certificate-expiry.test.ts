// Certificate expiry warnings end to end: loopback HTTPS sites with short-lived certificates from a test CA, a
// loopback DNS server naming them, a real redis-server, and a channel receiving the warnings.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daysLeftOf } from '../../../src/monitor/certificate-expiry.js';
import { createPki, type TestPki } from '../../support/certificates.js';
import { type DnsTestServer, startDnsServer } from '../../support/dns-server.js';
import { type ProviderReceiver, startProviderReceiver } from '../../support/provider-receiver.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { startHttpsServer, type TlsTestServer } from '../../support/tls-servers.js';
import { type MonitorHarness, probeDefaults, RunRecorder, sendJson, startMonitorHarness } from './support.js';

let pki: TestPki;
let dns: DnsTestServer;
let redis: TestRedis;
let harness: MonitorHarness;
let recorder: RunRecorder;
let receiver: ProviderReceiver;
let tenDays: TlsTestServer;
let twoDays: TlsTestServer;
let channelId: string;

beforeAll(async () => {
  pki = createPki();
  dns = await startDnsServer({ 'shop.expiring.test': { a: ['127.0.0.1'] } });
  tenDays = await startHttpsServer(pki.issue(['shop.expiring.test'], { days: 10 }));
  twoDays = await startHttpsServer(pki.issue(['shop.expiring.test'], { days: 2 }));
  redis = await startRedis();
  receiver = await startProviderReceiver({ status: 200, body: 'ok' });
  harness = await startMonitorHarness({
    redisUrl: redis.url,
    probeDefaults: { ...probeDefaults, ca: [pki.caPem] },
  });
  recorder = new RunRecorder(harness.workers);
  const channel = await sendJson('POST', `${harness.url}/channels`, {
    name: 'ops',
    type: 'mattermost',
    settings: { webhookUrl: `${receiver.origin}/hooks/certs` },
  });
  channelId = channel.body.id;
});

afterAll(async () => {
  recorder?.stop();
  await harness?.close();
  await receiver?.close();
  await tenDays?.close();
  await twoDays?.close();
  await dns?.close();
  await redis?.dispose();
  pki?.remove();
});

async function createMonitor(name: string, server: TlsTestServer): Promise<string> {
  const response = await sendJson('POST', `${harness.url}/monitors`, {
    name,
    url: server.url('/', 'shop.expiring.test'),
    intervalSeconds: 60,
    resolvers: [`127.0.0.1:${dns.port}`],
    channels: [channelId],
  });
  expect(response.status).toBe(201);
  await recorder.upTo(response.body.id, 1);
  return response.body.id;
}

/** The Mattermost messages received so far that name the monitor. */
function messagesAbout(name: string): string[] {
  return receiver.requests
    .map((request) => (request.json as { text: string }).text)
    .filter((text) => text.includes(`**${name}:`) || text.includes(`**${name} `));
}

describe('certificate expiry warnings', () => {
  it('warns once, 14 days out, while the monitor stays up, and shows the days left everywhere', async () => {
    const id = await createMonitor('Ten days', tenDays);
    await receiver.nth(1);
    const monitor = await sendJson('GET', `${harness.url}/monitors/${id}`);
    expect(monitor.body.state).toBe('up');
    const { notAfter, daysLeft } = monitor.body.certificate;
    expect(daysLeft).toBe(daysLeftOf(notAfter, Date.now()));
    expect(daysLeft).toBeLessThanOrEqual(10);
    const [warning] = messagesAbout('Ten days');
    expect(warning).toContain(`certificate expires in ${daysLeft} days`);
    expect(warning).toContain('tls.certificate_expiring');
    expect(warning).toContain(notAfter);

    // The next run sees the same certificate: no second warning for the same threshold.
    const next = recorder.next(id, 1);
    await harness.workers.scheduler.runNow(id, 'manual');
    await next;
    // A run's alerts are queued before its run event: one certificate job for this monitor, from the first run.
    const jobs = await harness.alertQueue.getJobs(['waiting', 'active', 'completed', 'delayed', 'failed']);
    expect(jobs.filter((job) => job.id?.startsWith(id) && job.id.includes('-certificate-'))).toHaveLength(1);
    expect(messagesAbout('Ten days')).toHaveLength(1);

    const summary = await sendJson('GET', `${harness.url}/status.json`);
    const component = summary.body.components.find((entry: { id: string }) => entry.id === id);
    expect(component.reach.certificate).toEqual({ notAfter, daysLeft });
    const page = await (await fetch(`${harness.url}/status`)).text();
    expect(page).toContain(`${daysLeft} days left`);
    const metrics = await (await fetch(`${harness.url}/metrics`)).text();
    expect(metrics).toContain(
      `reach_monitor_certificate_days_left{monitor="Ten days",monitor_id="${id}"} ${daysLeft}`,
    );
    expect(metrics).toContain(
      `probe_ssl_earliest_cert_expiry{monitor="Ten days",monitor_id="${id}"} ${Date.parse(notAfter) / 1000}`,
    );
  });

  it('sends one warning, for the 3-day threshold, for a certificate first seen two days from expiry', async () => {
    const before = receiver.requests.length;
    const id = await createMonitor('Two days', twoDays);
    await receiver.nth(before + 1);
    const monitor = await sendJson('GET', `${harness.url}/monitors/${id}`);
    expect(monitor.body.state).toBe('up');
    const messages = messagesAbout('Two days');
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain(`certificate expires in ${monitor.body.certificate.daysLeft} days`);
  });
});
