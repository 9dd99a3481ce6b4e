// The status page's batched counter reads against a real redis-server: they must agree with the store's own
// reads (bucketCounts, recentDurations) of what recordRun wrote, cold, warm and across an hour and a day.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../../../../src/monitor/run-result.js';
import { percentile, StatusDataSource, uptimeOf } from '../../../../src/monitor/status/data.js';
import { type CountKind, dayMs, hourMs, MonitorStore } from '../../../../src/monitor/store.js';
import { startRedis, type TestRedis } from '../../../support/redis.js';
import { monitorRecord } from '../support.js';

const keyPrefix = 'status-counters-test:monitor';
// Mid-day, so "an hour later" stays in the same UTC day.
const nowMs = Date.parse('2026-03-10T12:30:00Z');
let redis: TestRedis;
let client: Redis;
let store: MonitorStore;
const ids = ['00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-0000000000a2'];

function runAt(atMs: number, health: 'up' | 'degraded' | 'down', isMaintenance = false): RunResult {
  const durationMs = 10 + (atMs % 997);
  return {
    startedAtMs: atMs,
    summary: health,
    entry: {
      at: new Date(atMs).toISOString(),
      trigger: 'schedule',
      health,
      isMaintenance,
      cause: health === 'up' ? 'ok' : 'server_fault',
      code: health === 'up' ? 'http.ok' : 'http.server_error',
      durationMs,
      phasesMs: {},
    },
  };
}

function sum(buckets: Array<Record<CountKind, number>>): Record<CountKind, number> {
  const total = { up: 0, degraded: 0, down: 0, maintenance: 0 };
  for (const bucket of buckets)
    for (const kind of Object.keys(total) as CountKind[]) total[kind] += bucket[kind];
  return total;
}

/** What the status data of a monitor should be, from the store's own per-monitor reads. */
async function expectedOf(id: string, atMs: number) {
  const today = Math.floor(atMs / dayMs);
  const hour = Math.floor(atMs / hourMs);
  const days = await store.bucketCounts(id, 'daily', today - 89, today);
  const hours = await store.bucketCounts(id, 'hourly', hour - 24, hour);
  const durations = await store.recentDurations(id);
  return {
    uptime: {
      '24h': uptimeOf(sum(hours)),
      '7d': uptimeOf(sum(days.slice(-7))),
      '30d': uptimeOf(sum(days.slice(-30))),
    },
    latencyMs: { p50: percentile(durations, 0.5), p95: percentile(durations, 0.95) },
    days: days.map((counts, index) => ({
      day: new Date((today - 89 + index) * dayMs).toISOString().slice(0, 10),
      ...counts,
    })),
  };
}

async function expectAgreement(source: StatusDataSource, atMs: number): Promise<void> {
  const data = await source.gather(atMs);
  expect(data.components.map((component) => component.monitor.id)).toEqual(ids);
  for (const component of data.components) {
    const { uptime, latencyMs, days } = component;
    expect({ uptime, latencyMs, days }).toEqual(await expectedOf(component.monitor.id, atMs));
  }
}

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  store = new MonitorStore(client, {
    keyPrefix,
    historyMaxAgeSeconds: 400 * 86_400,
    historyMaxEntries: 10_000,
  });
  for (const [index, id] of ids.entries()) {
    await store.putMonitor(
      monitorRecord(id, {
        name: `Monitor ${index}`,
        createdAt: `2026-01-0${index + 1}T00:00:00.000Z`,
        updatedAt: `2026-01-0${index + 1}T00:00:00.000Z`,
      }),
    );
    const runs: RunResult[] = [];
    // Days across the 90-day bar and beyond it, hours across the 24-hour window and beyond it, every kind.
    for (let daysAgo = 95; daysAgo >= 1; daysAgo -= 1) {
      const health = daysAgo % 11 === index ? 'down' : daysAgo % 7 === 0 ? 'degraded' : 'up';
      runs.push(runAt(nowMs - daysAgo * dayMs, health, daysAgo % 13 === 0));
    }
    for (let hoursAgo = 30; hoursAgo >= 0; hoursAgo -= 1) {
      runs.push(runAt(nowMs - hoursAgo * hourMs - 60_000, hoursAgo % 5 === index ? 'down' : 'up'));
    }
    // Runs in the next hour, for the gathering an hour later.
    runs.push(runAt(nowMs + hourMs - 60_000, 'degraded'), runAt(nowMs + hourMs - 30_000, 'up'));
    for (const run of runs) await store.recordRun(id, run);
  }
});

afterAll(async () => {
  client?.disconnect();
  await redis?.dispose();
});

describe('StatusDataSource.gather', () => {
  it('agrees with the store’s own reads on a first (cold) and a second (warm) gathering', async () => {
    const source = new StatusDataSource(store);
    await expectAgreement(source, nowMs - hourMs); // the runs of the next hour are in the future here
    await expectAgreement(source, nowMs - hourMs + 1000);
  });

  it('reads the completed hours and days again once the hour and the day have moved on', async () => {
    const source = new StatusDataSource(store);
    await expectAgreement(source, nowMs - hourMs);
    await expectAgreement(source, nowMs + hourMs - 10_000);
    await expectAgreement(source, nowMs + dayMs);
  });

  it('counts a run recorded between two warm gatherings', async () => {
    const source = new StatusDataSource(store);
    await expectAgreement(source, nowMs + hourMs - 10_000);
    await store.recordRun(ids[0] ?? '', runAt(nowMs + hourMs - 5000, 'down'));
    await expectAgreement(source, nowMs + hourMs - 4000);
    await store.recordRun(ids[1] ?? '', runAt(nowMs + hourMs - 3000, 'up'));
    await expectAgreement(source, nowMs + hourMs - 1000);
  });

  it('reads the latency samples again only of monitors with a run since the last gathering', async () => {
    const source = new StatusDataSource(store);
    const atMs = nowMs + 2 * hourMs;
    const latencyReads = async () => {
      await client.config('RESETSTAT');
      await source.gather(atMs);
      const calls = Number(/cmdstat_lrange:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
      await expectAgreement(source, atMs);
      return calls;
    };
    expect(await latencyReads()).toBe(ids.length);
    expect(await latencyReads()).toBe(0);
    await store.recordRun(ids[1] ?? '', runAt(atMs - 1000, 'up'));
    expect(await latencyReads()).toBe(1);
  });
});
