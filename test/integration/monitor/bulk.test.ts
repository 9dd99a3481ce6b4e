// POST /monitors/bulk and nextRunAt against a real redis-server: over a thousand monitors in one request, good and
// bad items answered one by one, every created monitor in its shard and run by its shard's tick; the limits
// answered as problems (413 too many, 429 the write rate limit, 415, 400); GET /monitors(/:id) with the next tick.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../../src/monitor/runner.js';
import {
  nextTickAtOrAfter,
  type Shard,
  shardIdOf,
  shardOf,
  shardSliceMs,
  spreadMs,
} from '../../../src/monitor/schedule/shards.js';
import type { RunningService } from '../../../src/service.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import {
  type MonitorHarness,
  type SwitchableSite,
  sendJson,
  startMonitorHarness,
  startSwitchableSite,
  startTestService,
} from './support.js';

const maxItems = 1500;
let redis: TestRedis;
let harness: MonitorHarness;
let site: SwitchableSite;

beforeAll(async () => {
  redis = await startRedis();
  site = await startSwitchableSite();
  harness = await startMonitorHarness({
    redisUrl: redis.url,
    // First ticks a week away: every first run is a one-off, spread over 2 s here (60 s by default).
    env: { MONITOR_BULK_MAX_ITEMS: String(maxItems), MONITOR_BULK_FIRST_RUN_WITHIN_SECONDS: '2' },
  });
});

afterAll(async () => {
  await harness?.close();
  await site?.close();
  await redis?.dispose();
});

const good = (index: number) => ({
  name: `Site ${index}`,
  url: `${site.url}p/${index}`,
  intervalSeconds: 60,
});

/** Resolves once each of the ids has had a run with the trigger; the listener is set before anything is sent. */
function runsOf(ids: () => Iterable<string>, trigger: string): { all: Promise<void>; stop(): void } {
  const seen = new Set<string>();
  let done: () => void = () => undefined;
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  const listener = (event: RunEvent) => {
    if (event.result.entry.trigger !== trigger) return;
    seen.add(event.monitorId);
    const wanted = [...ids()];
    if (wanted.length > 0 && wanted.every((id) => seen.has(id))) done();
  };
  harness.workers.events.on('run', listener);
  return { all, stop: () => harness.workers.events.off('run', listener) };
}

describe('POST /monitors/bulk', () => {
  it('creates over a thousand monitors in one request, answers each bad item with its problem, and every created one runs at its shard tick', async () => {
    const bad: Record<number, { item: unknown; status: number; field: string; type: string }> = {
      3: {
        item: { ...good(3), intervalSeconds: 5 },
        status: 400,
        field: 'intervalSeconds',
        type: 'invalid-request',
      },
      250: { item: { ...good(250), colour: 'red' }, status: 400, field: 'colour', type: 'invalid-request' },
      500: {
        item: { ...good(500), url: 'http://169.254.169.254/' },
        status: 422,
        field: 'url',
        type: 'target-refused',
      },
      777: {
        item: { ...good(777), channels: ['6d1c8a52-8f5e-4a39-9d55-3f0c6f0e4a11'] },
        status: 422,
        field: 'channels.0',
        type: 'invalid-request',
      },
      1100: { item: 'not a monitor', status: 400, field: 'body', type: 'invalid-request' },
    };
    const items = Array.from({ length: 1200 }, (_, index) => bad[index]?.item ?? good(index));
    const createdIds: string[] = [];
    const first = runsOf(() => createdIds, 'manual');
    const response = await sendJson('POST', `${harness.url}/monitors/bulk`, items);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ created: 1195, failed: 5 });
    expect(response.body.items).toHaveLength(1200);
    const results = response.body.items as Array<{
      index: number;
      status: number;
      id: string;
      problem?: { field?: string };
    }>;
    for (const [index, result] of results.entries()) {
      expect(result.index).toBe(index);
      const expected = bad[index];
      if (!expected) {
        expect(result).toMatchObject({ status: 201, links: { self: `/monitors/${result.id}` } });
        createdIds.push(result.id);
        continue;
      }
      expect(result.status).toBe(expected.status);
      expect(result.problem).toMatchObject({
        status: expected.status,
        type: `urn:reach:problem:${expected.type}`,
      });
      expect(result.problem?.field).toBe(expected.field);
    }
    // The first run of each comes within the window (no tick comes within it: a run of its own for each).
    await first.all;
    first.stop();

    // Every created monitor is stored and in its shard, and every shard has its job scheduler.
    const records = await harness.workers.store.monitorsById(createdIds);
    expect(records).toHaveLength(createdIds.length);
    const shards = new Map<string, { shard: Shard; ids: string[] }>();
    for (const record of records) {
      const shard = shardOf(record);
      const entry = shards.get(shardIdOf(shard)) ?? { shard, ids: [] };
      entry.ids.push(record.id);
      shards.set(shardIdOf(shard), entry);
    }
    for (const { shard, ids } of shards.values()) {
      const members = new Set(await harness.api.scheduler.shards.members(shard));
      expect(ids.every((id) => members.has(id))).toBe(true);
      expect(await harness.api.scheduler.queue.getJobScheduler(shardIdOf(shard))).toBeDefined();
    }

    // Each shard's tick (delivered as its job scheduler delivers it) runs every created member once.
    const scheduled = runsOf(() => createdIds, 'schedule');
    for (const { shard } of shards.values())
      await harness.api.scheduler.runTick(shard, nextTickAtOrAfter(shard, Date.now()) - shard.everyMs);
    await scheduled.all;
    scheduled.stop();
    const metrics = await (await fetch(`${harness.url}/metrics`)).text();
    expect(metrics).toMatch(/reach_monitor_bulk_items_total\{outcome="created"\} 1195/);
    expect(metrics).toMatch(/reach_monitor_bulk_items_total\{outcome="refused"\} 2/);
    expect(metrics).toMatch(/reach_monitor_bulk_items_total\{outcome="invalid"\} 3/);
  }, 180_000);

  it('reads NDJSON, one monitor a line: a line that is not JSON is that item’s problem, blank lines are skipped', async () => {
    const body = `${JSON.stringify(good(1))}\n\n{"name": "broken\n${JSON.stringify(good(2))}\n`;
    const response = await fetch(`${harness.url}/monitors/bulk`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body,
    });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { created: number; failed: number; items: unknown[] };
    expect(answer).toMatchObject({ created: 2, failed: 1 });
    expect(answer.items[0]).toMatchObject({ index: 0, status: 201 });
    expect(answer.items[1]).toMatchObject({
      index: 1,
      line: 3,
      status: 400,
      problem: { type: 'urn:reach:problem:malformed-json', field: 'body' },
    });
    expect(answer.items[2]).toMatchObject({ index: 2, status: 201 });
  });

  it('answers problems for too many items (413), a body that is no array (400), no item (400) and another media type (415)', async () => {
    const tooMany = await sendJson(
      'POST',
      `${harness.url}/monitors/bulk`,
      Array.from({ length: maxItems + 1 }, (_, index) => good(index)),
    );
    expect(tooMany.status).toBe(413);
    expect(tooMany.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(tooMany.body).toMatchObject({ type: 'urn:reach:problem:body-too-large', field: 'body' });
    const before = await harness.workers.store.countMonitors();
    const notArray = await sendJson('POST', `${harness.url}/monitors/bulk`, good(1));
    expect(notArray.status).toBe(400);
    expect(notArray.body).toMatchObject({ type: 'urn:reach:problem:invalid-request', field: 'body' });
    const empty = await sendJson('POST', `${harness.url}/monitors/bulk`, []);
    expect(empty.status).toBe(400);
    const text = await fetch(`${harness.url}/monitors/bulk`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'http://127.0.0.1/',
    });
    expect(text.status).toBe(415);
    expect(text.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    // None of the refused requests created anything.
    expect(await harness.workers.store.countMonitors()).toBe(before);
  });
});

describe('POST /monitors/bulk in the service', () => {
  let service: RunningService | undefined;
  afterAll(async () => {
    await service?.close();
  });

  it('spends one point of the write rate limit per request, then answers 429, and 413 over MONITOR_BULK_MAX_BYTES', async () => {
    const apiKey = 'bulk-test-key-0123456789abcdef';
    service = await startTestService({
      redisUrl: redis.url,
      apiKey,
      monitorEnv: {
        MONITOR_FIRST_TICK_DELAY_SECONDS: String(7 * 86_400),
        MONITOR_BULK_MAX_BYTES: String(64 * 1024),
      },
      serviceEnv: { RATE_LIMIT_POINTS: '2', QUEUE_NAME: 'bulk-limits' },
    });
    const headers = { authorization: `Bearer ${apiKey}` };
    const url = `${service.apiUrl}/monitors/bulk`;
    // Over the 16 KiB of POST /monitors, within MONITOR_BULK_MAX_BYTES.
    const items = Array.from({ length: 300 }, (_, index) => good(index));
    expect(JSON.stringify(items).length).toBeGreaterThan(16 * 1024);
    const accepted = await sendJson('POST', url, items, headers);
    expect(accepted.status).toBe(200);
    expect(accepted.body.created).toBe(300);
    const tooMany = Array.from({ length: 1000 }, (_, index) => good(index));
    expect(JSON.stringify(tooMany).length).toBeGreaterThan(64 * 1024);
    const tooLarge = await sendJson('POST', url, tooMany, headers);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body).toMatchObject({ type: 'urn:reach:problem:body-too-large', field: 'body' });
    const limited = await sendJson('POST', url, [good(1)], headers);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(limited.body).toMatchObject({ type: 'urn:reach:problem:rate-limited' });
  });
});

describe('nextRunAt', () => {
  it('shows the monitor’s next run (its shard’s next tick, at its own time in the slice) in GET /monitors/:id and the list, and null once it has no schedule', async () => {
    const created = await sendJson('POST', `${harness.url}/monitors`, good(9000));
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const shard = shardOf({ id, intervalSeconds: 60 });
    const nextTickMs = (await harness.api.scheduler.nextTickMs({ id, intervalSeconds: 60 })) ?? 0;
    // The harness delays first ticks by a week; the next run is in the shard's slice, at the monitor's own spread.
    expect(nextTickMs % 60_000).toBe(spreadMs(id, 60_000));
    expect(nextTickMs % 60_000).toBeGreaterThanOrEqual(shard.offsetMs);
    expect(nextTickMs % 60_000).toBeLessThan(shard.offsetMs + shardSliceMs);
    expect(nextTickMs).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    const iso = new Date(nextTickMs).toISOString();
    expect(created.body.nextRunAt).toBe(iso);
    expect((await sendJson('GET', `${harness.url}/monitors/${id}`)).body.nextRunAt).toBe(iso);
    const list = await sendJson('GET', `${harness.url}/monitors`);
    const listed = (list.body.monitors as Array<{ id: string; nextRunAt: string | null }>).find(
      (monitor) => monitor.id === id,
    );
    expect(listed?.nextRunAt).toBe(iso);
    // The shard's job scheduler gone (as a failover can drop it, until the reconcile): no next run to show.
    await harness.api.scheduler.stopShard(shard);
    expect((await sendJson('GET', `${harness.url}/monitors/${id}`)).body.nextRunAt).toBeNull();
  });
});
