import type net from 'node:net';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectorForUrl, type RedisConnector } from '../../../src/redis/connection.js';
import type { AddressPolicy } from '../../../src/safety/address-policy.js';
import { type CompareWorker, startCompareWorker } from '../../../src/vantages/fan-out.js';
import {
  startVantageHeartbeat,
  type VantageHeartbeat,
  VantageRegistry,
  vantageQueueName,
} from '../../../src/vantages/registry.js';
import { createProbeMetrics } from '../../../src/worker/metrics.js';
import { createProbeRunner } from '../../../src/worker/processor.js';
import { type ProbeWorker, startProbeWorker } from '../../../src/worker/worker.js';
import { startNameResettingMiddlebox } from '../../support/middlebox.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { startDnsServer, type TestDnsServer } from '../service/support.js';
import {
  type MonitorHarness,
  RunRecorder,
  type SwitchableSite,
  sendJson,
  startMonitorHarness,
  startSwitchableSite,
  startWebhookReceiver,
  type WebhookReceiver,
} from './support.js';

const queueName = 'test';
/** The site on 127.0.0.1 and the middlebox on 127.0.0.2: nothing else. */
const policy: AddressPolicy = (address) =>
  address === '127.0.0.1' || address === '127.0.0.2' ? undefined : `${address} is not this test's`;

let redis: TestRedis;
let client: Redis;
let connector: RedisConnector;
let site: SwitchableSite;
let middlebox: net.Server;
let receiver: WebhookReceiver;
let harness: MonitorHarness;
let recorder: RunRecorder;
let compareWorker: CompareWorker;
const dns: Record<string, TestDnsServer> = {};
const workers: ProbeWorker[] = [];
const heartbeats: VantageHeartbeat[] = [];

/** On 127.0.0.2, the site's port: resets every request naming the site, as an on-path filter would. */

/** One vantage: a probe worker on the shared and its own queue, with its own resolver, and its heartbeat. */
async function startVantage(name: string, resolver: string): Promise<void> {
  const logger = pino({ level: 'silent' });
  workers.push(
    startProbeWorker({
      queueName,
      extraQueueNames: [vantageQueueName(queueName, name)],
      redis: connector,
      concurrency: 4,
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
      runner: createProbeRunner({
        defaults: {
          resolvers: [resolver],
          controls: [],
          timeoutMs: 3000,
          maxRedirects: 5,
          maxBodyBytes: 65_536,
        },
        isAddressAllowed: policy,
      }),
      metrics: createProbeMetrics(new Registry()),
      logger,
    }),
  );
  heartbeats.push(
    await startVantageHeartbeat({
      registry: new VantageRegistry(client, connector.keys, queueName, 5000),
      info: { name, labels: {}, version: 'test', concurrency: 4 },
      heartbeatMs: 5000,
      onError: () => undefined,
    }),
  );
}

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  connector = connectorForUrl(redis.url, queueName);
  site = await startSwitchableSite();
  const port = Number(new URL(site.url).port);
  middlebox = await startNameResettingMiddlebox(port, ['www.shop.internal']);
  receiver = await startWebhookReceiver();
  dns.a = await startDnsServer('127.0.0.1');
  dns.b = await startDnsServer('127.0.0.1');
  dns.c = await startDnsServer('127.0.0.2');
  for (const name of ['a', 'b', 'c']) await startVantage(name, (dns[name] as TestDnsServer).resolver);
  compareWorker = startCompareWorker({
    baseQueueName: queueName,
    bull: connector.bullBlocking(),
    redis: client,
    logger: pino({ level: 'silent' }),
  });
  harness = await startMonitorHarness({ redisUrl: redis.url, policy });
  recorder = new RunRecorder(harness.workers);
});

afterAll(async () => {
  recorder?.stop();
  await harness?.close();
  for (const heartbeat of heartbeats) await heartbeat.close();
  for (const worker of workers) await worker.close(2000);
  await compareWorker?.close();
  for (const server of Object.values(dns)) await server.close();
  middlebox?.close();
  await receiver?.close();
  await site?.close();
  client?.disconnect();
  await redis?.dispose();
});

describe('a monitor with vantages and a quorum', () => {
  it('stays up while one vantage of three sees it down, and goes down with one incident when two do', async () => {
    const siteUrl = new URL(site.url);
    const created = await sendJson('POST', `${harness.url}/monitors`, {
      name: 'Shop',
      url: `http://www.shop.internal:${siteUrl.port}/`,
      intervalSeconds: 60,
      confirmations: 1,
      vantages: ['a', 'b', 'c'],
      quorum: 2,
      webhooks: [{ url: receiver.url, secret: 'a-monitor-secret-0123' }],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ vantages: ['a', 'b', 'c'], quorum: 2 });
    const id = created.body.id as string;

    // The first run (queued on create): only c's path resets the site.
    const [first] = await recorder.upTo(id, 1);
    expect(first?.result.entry).toMatchObject({ health: 'up', cause: 'ok', code: 'vantage.below_quorum' });
    expect(first?.result.entry.vantages).toEqual([
      { name: 'a', status: 'completed', health: 'up', cause: 'ok', code: 'http.ok' },
      { name: 'b', status: 'completed', health: 'up', cause: 'ok', code: 'http.ok' },
      {
        name: 'c',
        status: 'completed',
        health: 'down',
        cause: 'filtered_path',
        code: 'filter.keyword_reset',
      },
    ]);
    expect(first?.result.summary).toMatch(/^Up by quorum: c sees filter\.keyword_reset; 2 of 3 vantages/);
    expect((await harness.workers.store.getStatus(id)).openIncidentId).toBeUndefined();

    // Now b's resolver sends the name to the middlebox too: two of three see it down.
    dns.b?.setAnswer('127.0.0.2');
    const deliveriesBefore = receiver.deliveries.length;
    const runs = recorder.next(id, 1);
    await harness.workers.scheduler.runNow(id, 'manual');
    const [second] = await runs;
    expect(second?.result.entry).toMatchObject({
      health: 'down',
      cause: 'filtered_path',
      code: 'filter.keyword_reset',
    });
    expect(second?.decision?.status.state).toBe('down');
    const status = await harness.workers.store.getStatus(id);
    expect(status.openIncidentId).toBeDefined();
    expect(status.lastRun?.vantages?.map((vantage) => [vantage.name, vantage.health])).toEqual([
      ['a', 'up'],
      ['b', 'down'],
      ['c', 'down'],
    ]);
    // The alert says which vantages saw what.
    const delivery = await receiver.nth(deliveriesBefore + 1);
    const payload = JSON.parse(delivery.body);
    expect(payload).toMatchObject({ newState: 'down', code: 'filter.keyword_reset' });
    expect(payload.vantages).toEqual([
      { name: 'a', status: 'completed', health: 'up', code: 'http.ok' },
      { name: 'b', status: 'completed', health: 'down', code: 'filter.keyword_reset' },
      { name: 'c', status: 'completed', health: 'down', code: 'filter.keyword_reset' },
    ]);
    // status.json shows it too.
    const summary = await sendJson('GET', `${harness.url}/status.json`);
    const component = summary.body.components.find((item: { name: string }) => item.name === 'Shop');
    expect(component.reach.lastVerdict.vantages).toHaveLength(3);
  });
});

describe('a monitor with vantages and content checks', () => {
  it('has every vantage judge the content checks and the slowness threshold', async () => {
    const created = await sendJson('POST', `${harness.url}/monitors`, {
      name: 'Checked shop',
      url: site.url,
      intervalSeconds: 60,
      confirmations: 1,
      vantages: ['a', 'b'],
      expect: { statuses: ['200-299'], bodyContains: ['Welcome'] },
    });
    expect(created.status).toBe(201);
    expect(created.body.expect).toEqual({ statuses: ['200-299'], bodyContains: ['Welcome'] });
    const id = created.body.id as string;
    const [first] = await recorder.upTo(id, 1);
    expect(first?.result.entry).toMatchObject({ health: 'down', code: 'content.body_missing' });
    expect(first?.result.entry.vantages?.map((vantage) => [vantage.name, vantage.code])).toEqual([
      ['a', 'content.body_missing'],
      ['b', 'content.body_missing'],
    ]);

    // The site's slow page carries the text; the monitor's 200 ms threshold applies at each vantage too.
    const patched = await sendJson('PATCH', `${harness.url}/monitors/${id}`, {
      expect: { bodyContains: ['late'] },
      slowFirstByteMs: 200,
    });
    expect(patched.status).toBe(200);
    site.mode = 'slow';
    try {
      const runs = recorder.next(id, 1);
      await harness.workers.scheduler.runNow(id, 'manual');
      const [second] = await runs;
      expect(second?.result.entry.vantages?.map((vantage) => [vantage.name, vantage.code])).toEqual([
        ['a', 'http.slow_first_byte'],
        ['b', 'http.slow_first_byte'],
      ]);
      expect(second?.result.entry).toMatchObject({ health: 'degraded', code: 'http.slow_first_byte' });
    } finally {
      site.mode = 'healthy';
    }
  });
});
