// One incident for one cause, against a real redis-server and loopback receivers standing in for Slack and
// PagerDuty: a burst of 200 monitors failing because this service's own network is down (every target and the
// control unreachable) gives one shared incident and one message per channel, a site failing for its own reason in
// the same window alerts on its own, and the shared cause clearing sends one resolve per channel.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MonitorRecord } from '../../../src/monitor/records.js';
import { type ProviderReceiver, startProviderReceiver } from '../../support/provider-receiver.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { drainAlerts, incidentsOf, runAll } from './shared-support.js';
import {
  type MonitorHarness,
  monitorRecord,
  RunRecorder,
  type SwitchableSite,
  sendJson,
  startMonitorHarness,
  startSwitchableSite,
} from './support.js';

/** An HTTP server on a fixed loopback port that can go away and come back (a network that drops and returns). */
class ToggledServer {
  port = 0;
  private server: Server = createServer((request, response) => {
    request.resume();
    response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>');
  });

  async start(): Promise<void> {
    this.server.listen(this.port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Listening again on the same port, as the network coming back. */
  async restart(): Promise<void> {
    await this.start();
  }
}

const burstSize = 200;
/** 200 probes at once on a loaded machine answer slowly: not what these tests are about. */
const patient = { timeoutMs: 30_000, slowFirstByteMs: 60_000 };
let redis: TestRedis;
let harness: MonitorHarness;
let recorder: RunRecorder;
let slack: ProviderReceiver;
let pagerduty: ProviderReceiver;
let sites: ToggledServer;
let control: ToggledServer;
let ownSite: SwitchableSite;
const burst: MonitorRecord[] = [];
let own: MonitorRecord;

beforeAll(async () => {
  redis = await startRedis();
  harness = await startMonitorHarness({
    redisUrl: redis.url,
    env: { MONITOR_SHARED_HOLD_SECONDS: '8', MONITOR_CONCURRENCY: '32' },
  });
  recorder = new RunRecorder(harness.workers);
  slack = await startProviderReceiver({ status: 200, body: 'ok' });
  pagerduty = await startProviderReceiver({ status: 202, body: { status: 'success' } });
  sites = new ToggledServer();
  control = new ToggledServer();
  await sites.start();
  await control.start();
  ownSite = await startSwitchableSite();
  const slackChannel = await sendJson('POST', `${harness.url}/channels`, {
    name: 'ops',
    type: 'slack',
    settings: { webhookUrl: `${slack.origin}/services/T1/B1/token` },
  });
  const pagerChannel = await sendJson('POST', `${harness.url}/channels`, {
    name: 'pager',
    type: 'pagerduty',
    settings: { routingKey: 'R0UT1NGKEY0123456789abcdef012345', baseUrl: pagerduty.origin },
  });
  expect([slackChannel.status, pagerChannel.status]).toEqual([201, 201]);
  const channels = [slackChannel.body.id as string, pagerChannel.body.id as string];
  const controls = [`http://127.0.0.1:${control.port}/`];
  for (let index = 0; index < burstSize; index += 1) {
    burst.push(
      monitorRecord(crypto.randomUUID(), {
        name: `Site ${index}`,
        url: `http://127.0.0.1:${sites.port}/site-${index}`,
        controls,
        confirmations: 1,
        channels,
        ...patient,
      }),
    );
  }
  own = monitorRecord(crypto.randomUUID(), {
    name: 'Own trouble',
    url: ownSite.url,
    controls,
    confirmations: 1,
    channels,
    ...patient,
  });
  for (const monitor of [...burst, own]) await harness.api.store.putMonitor(monitor);
  await runAll(harness, recorder, [...burst, own]);
}, 180_000);

afterAll(async () => {
  recorder?.stop();
  await harness?.close();
  await Promise.allSettled([slack?.close(), pagerduty?.close(), control?.stop(), ownSite?.close()]);
  await redis?.dispose();
});

describe('a burst of failures with one local cause', () => {
  it('opens one shared incident with one message per channel, and the site failing for its own reason alerts alone', async () => {
    expect(slack.requests).toHaveLength(0);
    await sites.stop();
    await control.stop();
    ownSite.mode = 'failing';
    const runs = await runAll(harness, recorder, [...burst, own]);
    const burstRuns = runs.filter((run) => run.monitorId !== own.id);
    expect(new Set(burstRuns.map((run) => run.result.entry.cause))).toEqual(new Set(['local_network']));
    await drainAlerts(harness);

    const incidents = await incidentsOf(harness);
    const shared = incidents.filter((incident) => incident.shared);
    expect(shared).toHaveLength(1);
    const incident = shared[0];
    if (!incident) throw new Error('no shared incident');
    expect(incident).toMatchObject({
      cause: 'local_network',
      shared: { kind: 'local', vantage: '@service' },
    });
    expect(incident.resolvedAtMs).toBeUndefined();
    expect(incident.shared?.monitorIds).toHaveLength(burstSize);
    expect(incident.shared?.monitorIds).not.toContain(own.id);
    // Monitors that failed before the threshold opened incidents of their own: folded into the shared one.
    const ownIncidents = incidents.filter((entry) => !entry.shared && entry.monitorId !== own.id);
    for (const entry of ownIncidents) expect(entry.mergedInto).toBe(incident.id);

    const slackTexts = slack.requests.map((request) => request.text);
    expect(slackTexts).toHaveLength(2);
    expect(slackTexts.filter((text) => text.includes('Own trouble'))).toHaveLength(1);
    const sharedText = slackTexts.find((text) => !text.includes('Own trouble')) ?? '';
    expect(sharedText).toContain('local_network');
    expect(sharedText).toContain('Monitors affected');
    const pages = pagerduty.requests.map(
      (request) => request.json as { event_action: string; dedup_key: string },
    );
    expect(pages.map((page) => page.event_action)).toEqual(['trigger', 'trigger']);
    expect(pages.map((page) => page.dedup_key).sort()).toEqual(
      [`reach-monitor-${own.id}`, `reach-shared-${incident.id}`].sort(),
    );

    const statuses = await harness.api.store.statusesOf(burst.map((monitor) => monitor.id));
    expect(statuses.every((status) => status?.state === 'down')).toBe(true);
    expect(incident.shared?.currentMonitorIds).toHaveLength(burstSize);
  }, 180_000);

  it('shows the shared incident on GET /incidents and the status page', async () => {
    const listed = await sendJson('GET', `${harness.url}/incidents?state=open`);
    expect(listed.status).toBe(200);
    const shared = listed.body.incidents.filter((incident: { kind: string }) => incident.kind === 'shared');
    expect(shared).toHaveLength(1);
    expect(shared[0]).toMatchObject({ cause: 'local_network', monitorCount: burstSize });
    const bad = await sendJson('GET', `${harness.url}/incidents?state=sideways`);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect((await sendJson('GET', `${harness.url}/incidents/not-an-id`)).status).toBe(404);
    const one = await sendJson('GET', `${harness.url}/incidents/${shared[0].id}`);
    expect(one.body).toMatchObject({ kind: 'shared', sharedKind: 'local', vantage: '@service' });
    const page = await fetch(`${harness.url}/status`);
    const html = await page.text();
    expect(html).toContain('monitors affected');
  }, 180_000);

  it('resolves the shared incident once with one resolve per channel when the network returns', async () => {
    const before = { slack: slack.requests.length, pagerduty: pagerduty.requests.length };
    await sites.start();
    await control.start();
    await runAll(harness, recorder, burst);
    await drainAlerts(harness);
    const shared = (await incidentsOf(harness)).filter((incident) => incident.shared);
    expect(shared).toHaveLength(1);
    expect(shared[0]?.resolvedAtMs).toBeDefined();
    const slackTexts = slack.requests.slice(before.slack).map((request) => request.text);
    expect(slackTexts).toHaveLength(1);
    expect(slackTexts[0]).toContain('Resolved');
    const pages = pagerduty.requests
      .slice(before.pagerduty)
      .map((request) => request.json as { event_action: string; dedup_key: string });
    expect(pages).toEqual([
      expect.objectContaining({ event_action: 'resolve', dedup_key: `reach-shared-${shared[0]?.id}` }),
    ]);
    const statuses = await harness.api.store.statusesOf(burst.map((monitor) => monitor.id));
    expect(statuses.every((status) => status?.state === 'up')).toBe(true);
    // The site with its own trouble is still down, alone.
    expect((await harness.api.store.getStatus(own.id)).state).toBe('down');
  }, 180_000);
});
