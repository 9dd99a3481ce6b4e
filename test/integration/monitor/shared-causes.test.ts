// The other shared causes, against a real redis-server: one resolver answering SERVFAIL for every name, one
// address range whose targets all refuse, and a burst run by two worker processes that still opens one incident.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { MonitorRecord } from '../../../src/monitor/records.js';
import { createAddressPolicy } from '../../../src/safety/address-policy.js';
import { type DnsTestServer, startDnsServer } from '../../support/dns-server.js';
import { freeClosedPort } from '../../support/http-servers.js';
import { type ProviderReceiver, startProviderReceiver } from '../../support/provider-receiver.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { drainAlerts, incidentsOf, runAll } from './shared-support.js';
import { type MonitorHarness, monitorRecord, RunRecorder, sendJson, startMonitorHarness } from './support.js';

const cli = resolve(import.meta.dirname, '../../../dist/cli.js');
/** Targets anywhere in 127.0.0.0/8 (the range test needs several /24s); nothing else. */
const loopbackRangePolicy = (address: string) =>
  address.startsWith('127.') ? undefined : createAddressPolicy({ isPrivateAllowed: false })(address);

interface Suite {
  redis: TestRedis;
  harness: MonitorHarness;
  recorder: RunRecorder;
  slack: ProviderReceiver;
  channelId: string;
}

const suites: Suite[] = [];
const children = new Set<ChildProcess>();

async function startSuite(): Promise<Suite> {
  const redis = await startRedis();
  const harness = await startMonitorHarness({
    redisUrl: redis.url,
    policy: loopbackRangePolicy,
    env: { MONITOR_SHARED_HOLD_SECONDS: '8', MONITOR_CONCURRENCY: '16' },
  });
  const recorder = new RunRecorder(harness.workers);
  const slack = await startProviderReceiver({ status: 200, body: 'ok' });
  const channel = await sendJson('POST', `${harness.url}/channels`, {
    name: 'ops',
    type: 'slack',
    settings: { webhookUrl: `${slack.origin}/services/T1/B1/token` },
  });
  expect(channel.status).toBe(201);
  const suite = { redis, harness, recorder, slack, channelId: channel.body.id as string };
  suites.push(suite);
  return suite;
}

async function put(suite: Suite, monitors: MonitorRecord[]): Promise<void> {
  for (const monitor of monitors) await suite.harness.api.store.putMonitor(monitor);
}

afterEach(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  children.clear();
  for (const suite of suites.splice(0)) {
    suite.recorder.stop();
    await suite.harness.close();
    await suite.slack.close();
    await suite.redis.dispose();
  }
});

let dns: DnsTestServer | undefined;
afterAll(async () => {
  await dns?.close();
});

describe('one resolver failing for every name', () => {
  it('opens one shared incident naming the resolver, with one message', async () => {
    const suite = await startSuite();
    dns = await startDnsServer({ '*': { rcode: 'SERVFAIL' } });
    const resolver = dns.resolver;
    const monitors = Array.from({ length: 8 }, (_, index) =>
      monitorRecord(crypto.randomUUID(), {
        name: `Named ${index}`,
        url: `http://site-${index}.example.test:8080/`,
        resolvers: [resolver],
        confirmations: 1,
        channels: [suite.channelId],
        timeoutMs: 20_000,
      }),
    );
    await put(suite, monitors);
    const runs = await runAll(suite.harness, suite.recorder, monitors);
    expect(new Set(runs.map((run) => run.result.entry.code))).toEqual(new Set(['dns.servfail']));
    await drainAlerts(suite.harness);
    const shared = (await incidentsOf(suite.harness)).filter((incident) => incident.shared);
    expect(shared).toHaveLength(1);
    expect(shared[0]?.shared).toMatchObject({ kind: 'resolver', monitorIds: expect.any(Array) });
    expect(shared[0]?.shared?.resolvers?.join(',')).toContain(resolver.split(':')[0]);
    expect(shared[0]?.shared?.monitorIds).toHaveLength(monitors.length);
    expect(suite.slack.requests).toHaveLength(1);
    expect(suite.slack.requests[0]?.text).toContain('Resolver');
  }, 180_000);
});

describe('one address range refusing every connect', () => {
  it('opens one shared incident for the /24, and a target in another range alerts on its own', async () => {
    const suite = await startSuite();
    const port = await freeClosedPort();
    const inRange = Array.from({ length: 8 }, (_, index) =>
      monitorRecord(crypto.randomUUID(), {
        name: `Ranged ${index}`,
        url: `http://127.0.7.${index + 1}:${port}/`,
        confirmations: 1,
        channels: [suite.channelId],
        timeoutMs: 20_000,
      }),
    );
    const elsewhere = monitorRecord(crypto.randomUUID(), {
      name: 'Elsewhere',
      url: `http://127.0.8.1:${port}/`,
      confirmations: 1,
      channels: [suite.channelId],
      timeoutMs: 20_000,
    });
    await put(suite, [...inRange, elsewhere]);
    // The range fails first, then the lone target: it shares the code but not the range.
    await runAll(suite.harness, suite.recorder, inRange);
    await runAll(suite.harness, suite.recorder, [elsewhere]);
    await drainAlerts(suite.harness);
    const shared = (await incidentsOf(suite.harness)).filter((incident) => incident.shared);
    expect(shared).toHaveLength(1);
    expect(shared[0]?.shared).toMatchObject({ kind: 'range', range: '127.0.7.0/24' });
    expect(shared[0]?.code).toBe('tcp.refused');
    expect(shared[0]?.shared?.monitorIds).toHaveLength(inRange.length);
    const texts = suite.slack.requests.map((request) => request.text);
    expect(texts).toHaveLength(2);
    expect(texts.filter((text) => text.includes('127.0.7.0/24'))).toHaveLength(1);
    expect(texts.filter((text) => text.includes('Elsewhere is DOWN'))).toHaveLength(1);
  }, 180_000);
});

describe('a burst run by two worker processes', () => {
  it('still opens one shared incident with one message', async () => {
    const suite = await startSuite();
    // Only the two processes run monitors: this process's workers stop, its API's scheduler queues the runs.
    await suite.harness.workers.close(5000);
    const port = await freeClosedPort();
    const controlPort = await freeClosedPort();
    const monitors = Array.from({ length: 40 }, (_, index) =>
      monitorRecord(crypto.randomUUID(), {
        name: `Burst ${index}`,
        url: `http://127.0.0.1:${port}/site-${index}`,
        controls: [`http://127.0.0.1:${controlPort}/`],
        confirmations: 1,
        channels: [suite.channelId],
        timeoutMs: 20_000,
      }),
    );
    await put(suite, monitors);
    const env = {
      PATH: process.env.PATH ?? '',
      REDIS_URL: suite.redis.url,
      QUEUE_NAME: 'test',
      PROBE_ALLOW_PRIVATE: 'true',
      ALERT_ALLOW_PRIVATE_DESTINATIONS: 'true',
      MONITOR_SHARED_HOLD_SECONDS: '8',
      MONITOR_FIRST_TICK_DELAY_SECONDS: String(7 * 86_400),
      LOG_LEVEL: 'warn',
    };
    for (let index = 0; index < 2; index += 1) {
      const child = spawn(process.execPath, [cli, 'worker'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
      children.add(child);
    }
    const startedAtMs = Date.now();
    await Promise.all(monitors.map((monitor) => suite.harness.api.scheduler.runNow(monitor.id, 'manual')));
    // The runs happen in the other processes: wait (bounded) until Redis holds a run of each.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const statuses = await suite.harness.api.store.statusesOf(monitors.map((monitor) => monitor.id));
      if (statuses.every((status) => status && status.lastStartedAtMs >= startedAtMs)) break;
      if (Date.now() > deadline) throw new Error('the worker processes did not run every monitor in 120 s');
      await new Promise((done) => setTimeout(done, 200));
    }
    await drainAlerts(suite.harness);
    const shared = (await incidentsOf(suite.harness)).filter((incident) => incident.shared);
    expect(shared).toHaveLength(1);
    expect(shared[0]?.shared?.monitorIds).toHaveLength(monitors.length);
    expect(suite.slack.requests).toHaveLength(1);
    expect(suite.slack.requests[0]?.text).toContain('local_network');
  }, 180_000);
});
