// The monitor API, history, status.json, metrics and restarts, against a real redis-server.
import { readFile } from 'node:fs/promises';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardIdOf, shardOf } from '../../../src/monitor/schedule/shards.js';
import { statusSummaryJsonSchema } from '../../../src/monitor/status/schema.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import {
  type JsonBody,
  type MonitorHarness,
  RunRecorder,
  type SwitchableSite,
  sendJson,
  startMonitorHarness,
  startSwitchableSite,
} from './support.js';

let redis: TestRedis;
let harness: MonitorHarness;
let recorder: RunRecorder;
let site: SwitchableSite;

beforeAll(async () => {
  redis = await startRedis();
  site = await startSwitchableSite();
  harness = await startMonitorHarness({ redisUrl: redis.url, env: { MONITOR_HISTORY_MAX_ENTRIES: '10' } });
  recorder = new RunRecorder(harness.workers);
});

afterAll(async () => {
  recorder?.stop();
  await harness?.close();
  await site?.close();
  await redis?.dispose();
});

async function createMonitor(body: Record<string, unknown> = {}): Promise<{ id: string; body: JsonBody }> {
  const response = await sendJson('POST', `${harness.url}/monitors`, {
    name: 'Site',
    url: site.url,
    intervalSeconds: 60,
    ...body,
  });
  expect(response.status).toBe(201);
  await recorder.upTo(response.body.id, 1);
  return { id: response.body.id, body: response.body };
}

describe('POST /monitors', () => {
  it('creates a monitor with defaults, a Location and no secret in the answer', async () => {
    const response = await sendJson('POST', `${harness.url}/monitors`, {
      name: 'Docs',
      url: site.url,
      intervalSeconds: 30,
      tags: ['docs', 'eu-west'],
      webhooks: [{ url: 'http://127.0.0.1:9/hook', secret: 'a-secret-of-16-chars-or-more' }],
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe(`/monitors/${response.body.id}`);
    expect(response.body).toMatchObject({
      name: 'Docs',
      intervalSeconds: 30,
      confirmations: 2,
      tags: ['docs', 'eu-west'],
      state: 'pending',
    });
    expect(response.body.webhooks).toEqual([{ url: 'http://127.0.0.1:9/hook' }]);
    expect(JSON.stringify(response.body)).not.toContain('a-secret-of-16-chars-or-more');
    await recorder.upTo(response.body.id, 1);
  });

  it.each([
    ['an interval under 10 s', { intervalSeconds: 9 }, 'intervalSeconds'],
    ['a fractional interval', { intervalSeconds: 10.5 }, 'intervalSeconds'],
    ['a URL that is not http(s)', { url: 'ftp://example.test/' }, 'url'],
    ['an unknown field', { colour: 'red' }, 'colour'],
    ['zero confirmations', { confirmations: 0 }, 'confirmations'],
    ['a bad resolver', { resolvers: ['dns.example'] }, 'resolvers.0'],
    [
      'a short webhook secret',
      { webhooks: [{ url: 'http://127.0.0.1:9/', secret: 'short' }] },
      'webhooks.0.secret',
    ],
    [
      'a window that ends before it starts',
      { maintenance: [{ startsAt: '2026-01-02T00:00:00Z', endsAt: '2026-01-01T00:00:00Z' }] },
      'maintenance.0.endsAt',
    ],
  ])('answers 400 naming the field for %s', async (_name, change, field) => {
    const response = await sendJson('POST', `${harness.url}/monitors`, {
      name: 'Bad',
      url: site.url,
      intervalSeconds: 60,
      ...change,
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({ type: 'urn:reach:problem:invalid-request', status: 400, field });
  });

  it('refuses private targets and webhooks with 422, naming the field', async () => {
    // The harness allows 127.0.0.1 only; everything else gets the public prober's refusals.
    const response = await sendJson('POST', `${harness.url}/monitors`, {
      name: 'Metadata',
      url: 'http://169.254.169.254/',
      intervalSeconds: 60,
    });
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({ type: 'urn:reach:problem:target-refused', field: 'url' });
    const webhook = await sendJson('POST', `${harness.url}/monitors`, {
      name: 'Hook',
      url: site.url,
      intervalSeconds: 60,
      webhooks: [{ url: 'http://10.0.0.1/hook', secret: 'a-secret-of-16-chars-or-more' }],
    });
    expect(webhook.status).toBe(422);
    expect(webhook.body.field).toBe('webhooks.0.url');
    const list = await sendJson('GET', `${harness.url}/monitors`);
    expect(
      list.body.monitors.some(
        (monitor: { name: string }) => monitor.name === 'Hook' || monitor.name === 'Metadata',
      ),
    ).toBe(false);
  });
});

describe('GET, PATCH and DELETE /monitors/:id', () => {
  it('lists, reads, updates the schedule on PATCH and removes it on DELETE', async () => {
    const { id } = await createMonitor({ name: 'Lifecycle' });
    const list = await sendJson('GET', `${harness.url}/monitors`);
    expect(list.body.monitors.map((monitor: { id: string }) => monitor.id)).toContain(id);

    const patched = await sendJson('PATCH', `${harness.url}/monitors/${id}`, {
      intervalSeconds: 120,
      name: 'Lifecycle 2',
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id, name: 'Lifecycle 2', intervalSeconds: 120, state: 'up' });
    // The monitor left its 60 s shard for its 120 s one, which has a job scheduler ticking every 120 s.
    const shard = shardOf({ id, intervalSeconds: 120 });
    expect(await harness.api.scheduler.shards.members(shard)).toContain(id);
    expect(await harness.api.scheduler.shards.members(shardOf({ id, intervalSeconds: 60 }))).not.toContain(
      id,
    );
    const scheduler = await harness.api.scheduler.queue.getJobScheduler(shardIdOf(shard));
    expect(scheduler?.every).toBe(120_000);

    const badPatch = await sendJson('PATCH', `${harness.url}/monitors/${id}`, { intervalSeconds: 5 });
    expect(badPatch.status).toBe(400);
    expect(badPatch.body.field).toBe('intervalSeconds');

    const deleted = await sendJson('DELETE', `${harness.url}/monitors/${id}`);
    expect(deleted.status).toBe(204);
    expect(await harness.api.scheduler.shards.members(shard)).not.toContain(id);
    const gone = await sendJson('GET', `${harness.url}/monitors/${id}`);
    expect(gone.status).toBe(404);
    expect(gone.body.type).toBe('urn:reach:problem:not-found');
  });

  it('answers 404 for an id that is not a monitor id', async () => {
    const response = await sendJson('GET', `${harness.url}/monitors/not-a-uuid`);
    expect(response.status).toBe(404);
  });
});

describe('GET /monitors/:id/history', () => {
  it('returns compact runs newest first, honours since and limit, and keeps at most the configured count', async () => {
    const { id } = await createMonitor({ name: 'History' });
    for (let index = 0; index < 11; index += 1) {
      const run = recorder.next(id, 1);
      await harness.workers.scheduler.runNow(id, 'manual');
      await run;
    }
    const all = await sendJson('GET', `${harness.url}/monitors/${id}/history?limit=100`);
    expect(all.status).toBe(200);
    expect(all.body.entries).toHaveLength(10);
    const times = all.body.entries.map((entry: { at: string }) => Date.parse(entry.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(all.body.entries[0]).toMatchObject({
      health: 'up',
      cause: 'ok',
      code: 'http.ok',
      status: 200,
      trigger: 'manual',
    });
    expect(all.body.entries[0].phasesMs.connect).toBeGreaterThanOrEqual(0);

    const limited = await sendJson('GET', `${harness.url}/monitors/${id}/history?limit=3`);
    expect(limited.body.entries).toEqual(all.body.entries.slice(0, 3));
    const since = all.body.entries[4].at;
    const recent = await sendJson(
      'GET',
      `${harness.url}/monitors/${id}/history?since=${encodeURIComponent(since)}`,
    );
    expect(recent.body.entries).toEqual(all.body.entries.slice(0, 5));

    const bad = await sendJson('GET', `${harness.url}/monitors/${id}/history?limit=0`);
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('query.limit');
  });
});

describe('GET /status.json', () => {
  it('validates against the JSON Schema published in docs/status.schema.json', async () => {
    await createMonitor({ name: 'Schema check' });
    const published = JSON.parse(
      await readFile(new URL('../../../docs/status.schema.json', import.meta.url), 'utf8'),
    );
    expect(published).toEqual(statusSummaryJsonSchema());
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(published);
    const response = await sendJson('GET', `${harness.url}/status.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    const isValid = validate(response.body);
    expect(validate.errors ?? []).toEqual([]);
    expect(isValid).toBe(true);
    const component = response.body.components.find((item: { name: string }) => item.name === 'Schema check');
    expect(component.status).toBe('operational');
    expect(component.reach.uptime['24h']).toBe(1);
    expect(component.reach.latencyMs.p50).toBeGreaterThan(0);
    expect(component.reach.lastVerdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
  });

  it('says major outage when one of several monitors is down', async () => {
    const down = await startSwitchableSite();
    try {
      down.mode = 'failing';
      const { id } = await createMonitor({ name: 'Broken', url: down.url, confirmations: 1 });
      const summary = await sendJson('GET', `${harness.url}/status.json`);
      expect(summary.body.status).toEqual({ indicator: 'major', description: 'Partial System Outage' });
      const incident = summary.body.incidents.find(
        (item: { components: Array<{ id: string }> }) => item.components[0]?.id === id,
      );
      expect(incident).toMatchObject({
        status: 'identified',
        impact: 'major',
        resolved_at: null,
        reach: { cause: 'server_fault' },
      });
      await sendJson('DELETE', `${harness.url}/monitors/${id}`);
    } finally {
      await down.close();
    }
  });
});

describe('GET /metrics', () => {
  it('exposes blackbox_exporter-named gauges per monitor with the cause as a label', async () => {
    const { id } = await createMonitor({ name: 'Metrics' });
    const text = await (await fetch(`${harness.url}/metrics`)).text();
    expect(text).toContain(`probe_success{monitor="Metrics",monitor_id="${id}",cause="ok"} 1`);
    expect(text).toMatch(
      new RegExp(`probe_duration_seconds\\{monitor="Metrics",monitor_id="${id}",cause="ok"\\} [0-9.e-]+`),
    );
    expect(text).toMatch(
      new RegExp(
        `probe_http_duration_seconds\\{monitor="Metrics",monitor_id="${id}",cause="ok",phase="connect"\\}`,
      ),
    );
    expect(text).toContain(`probe_http_status_code{monitor="Metrics",monitor_id="${id}",cause="ok"} 200`);
    expect(text).toContain(`reach_monitor_state{monitor="Metrics",monitor_id="${id}",state="up"} 1`);
  });
});

describe('restarts', () => {
  it('keeps running monitors when Redis restarts under a running worker', async () => {
    const { id } = await createMonitor({ name: 'Blip-proof' });
    await redis.restart();
    const run = recorder.next(id, 1);
    // The worker's connection comes back by itself; the run queued after the restart is processed.
    await harness.workers.scheduler.runNow(id, 'manual');
    expect((await run)[0]?.decision?.status.state).toBe('up');
    const monitor = await sendJson('GET', `${harness.url}/monitors/${id}`);
    expect(monitor.status).toBe(200);
  });

  it('keeps monitors, state and schedules across a restart of the service and of Redis', async () => {
    const { id } = await createMonitor({ name: 'Durable' });
    const nextTickBefore = await harness.api.scheduler.nextTickMs({ id, intervalSeconds: 60 });
    expect(nextTickBefore).toBeGreaterThan(Date.now());
    recorder.stop();
    await harness.close();
    await redis.restart();
    harness = await startMonitorHarness({ redisUrl: redis.url, env: { MONITOR_HISTORY_MAX_ENTRIES: '10' } });
    recorder = new RunRecorder(harness.workers);
    const monitor = await sendJson('GET', `${harness.url}/monitors/${id}`);
    expect(monitor.body).toMatchObject({ id, name: 'Durable', state: 'up' });
    expect(await harness.api.scheduler.nextTickMs({ id, intervalSeconds: 60 })).toBe(nextTickBefore);
    // The restarted workers pick up runs of the old monitor.
    const run = recorder.next(id, 1);
    await harness.workers.scheduler.runNow(id, 'manual');
    expect((await run)[0]?.decision?.status.state).toBe('up');
  });
});
