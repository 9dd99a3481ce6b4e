// The monitor store's history ring and counters against a real redis-server: every run kept reads back with
// its pass/fail, latency and cause exact, the ring wraps and grows within its limits, full entries are kept for
// the latest run and the changes of state, and a deployment's old-format history and counters still read and
// are migrated.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEntry } from '../../../src/monitor/records.js';
import type { RunResult } from '../../../src/monitor/run-result.js';
import { changesKeptWhole, dayMs, hourMs, MonitorStore } from '../../../src/monitor/store.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { monitorRecord } from './support.js';

let redis: TestRedis;
let client: Redis;
const nowMs = Date.now();
let nextId = 0;

function newId(): string {
  nextId += 1;
  return `00000000-0000-4000-8000-${String(nextId).padStart(12, '0')}`;
}

function storeWith(prefix: string, maxEntries: number, maxAgeSeconds = 7 * 86_400): MonitorStore {
  return new MonitorStore(client, {
    keyPrefix: prefix,
    historyMaxAgeSeconds: maxAgeSeconds,
    historyMaxEntries: maxEntries,
  });
}

/** Run `index` of a monitor: every 7th down, varying durations, statuses and lags, phases always present. */
function runOf(index: number, overrides: Partial<HistoryEntry> = {}): RunResult {
  const atMs = nowMs - 3 * hourMs + index * 60_000 + (index % 13);
  const isDown = index % 7 === 3;
  const entry: HistoryEntry = {
    at: new Date(atMs).toISOString(),
    scheduledAt: new Date(atMs - (index % 500)).toISOString(),
    trigger: index % 11 === 0 ? 'recheck' : 'schedule',
    health: isDown ? 'down' : 'up',
    isMaintenance: false,
    cause: isDown ? 'server_fault' : 'ok',
    code: isDown ? 'http.server_error' : 'http.ok',
    status: isDown ? 500 + (index % 4) : 200,
    durationMs: 5 + ((index * 37) % 4000),
    phasesMs: { connect: 0.3, processing: (index % 90) / 10 },
    ...overrides,
  };
  return { entry, startedAtMs: atMs, summary: entry.cause };
}

/** Applies a run as the runner does: it becomes the monitor's last run, kept whole in its state. */
async function applyAsLatest(store: MonitorStore, id: string, run: RunResult): Promise<void> {
  const current = await store.getStatus(id);
  const { entry } = run;
  await store.casStatus(id, current.version, {
    ...current,
    version: current.version + 1,
    lastStartedAtMs: run.startedAtMs,
    lastRun: {
      at: entry.at,
      health: entry.health,
      isMaintenance: entry.isMaintenance,
      cause: entry.cause,
      code: entry.code,
      summary: run.summary,
      durationMs: entry.durationMs,
      ...(entry.status !== undefined ? { status: entry.status } : {}),
      phasesMs: entry.phasesMs,
      ...(entry.warnings ? { warnings: entry.warnings } : {}),
    },
  });
}

/** What every kept run must read back as, whether or not its full entry is kept. */
function exactPart(entry: HistoryEntry) {
  const {
    phasesMs: _phases,
    warnings: _warnings,
    vantages: _vantages,
    certificateNotAfter: _cert,
    ...rest
  } = entry;
  return rest;
}

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  client?.disconnect();
  await redis?.dispose();
});

describe('MonitorStore history ring', () => {
  it('keeps the newest runs up to the maximum, each with pass/fail, latency, cause and code exact', async () => {
    const store = storeWith('ring-wrap:monitor', 50);
    const id = newId();
    await store.putMonitor(monitorRecord(id));
    const runs = Array.from({ length: 130 }, (_, index) => runOf(index));
    for (const run of runs) await store.recordRun(id, run);
    await applyAsLatest(store, id, runs.at(-1) ?? runOf(0));
    const history = await store.history(id, { limit: 1000 });
    const expected = runs.slice(-50).reverse();
    expect(history.map(exactPart)).toEqual(expected.map((run) => exactPart(run.entry)));
    // The latest run is whole, from the monitor's state.
    expect(history[0]).toEqual(expected[0]?.entry);
    // A run that changed state (up → down, down → up) is kept whole, the newest 16 of them.
    const changed = history.filter((entry, index) => {
      const before = history[index + 1];
      return before !== undefined && (before.health !== entry.health || before.code !== entry.code);
    });
    expect(changed.length).toBeGreaterThan(0);
    for (const entry of changed.slice(0, changesKeptWhole))
      expect(entry.phasesMs).toEqual(runs.find((run) => run.entry.at === entry.at)?.entry.phasesMs);
    // A run like the one before it is kept as its record: no phases.
    const plain = history.find((entry, index) => index > 0 && !changed.includes(entry));
    expect(plain?.phasesMs).toEqual({});
    // The ring is as long as 50 records, no more.
    expect(await client.strlen(`ring-wrap:monitor:runs:${id}`)).toBe(16 + 50 * 19);
  });

  it('grows the ring while its oldest run is younger than the maximum age, and not past it', async () => {
    const store = storeWith('ring-grow:monitor', 1440, 2 * 3600);
    const id = newId();
    await store.putMonitor(monitorRecord(id));
    // 200 runs a minute apart over the last 3.3 hours: those older than 2 hours are not kept.
    for (let index = 0; index < 200; index += 1) await store.recordRun(id, runOf(index));
    const history = await store.history(id, { limit: 10_000 });
    const cutoff = Date.now() - 2 * 3600 * 1000;
    const young = Array.from({ length: 200 }, (_, index) => runOf(index).entry).filter(
      (entry) => Date.parse(entry.at) >= cutoff,
    );
    expect(history.map(exactPart)).toEqual(young.reverse().map(exactPart));
    // About 140 runs are younger than 2 hours: doubled from 64 while the oldest was young, to 256, not to 1440.
    expect(young.length).toBeGreaterThan(128);
    expect(await client.strlen(`ring-grow:monitor:runs:${id}`)).toBe(16 + 256 * 19);
  });

  it('keeps a run the record cannot hold whole, however many changes follow', async () => {
    const store = storeWith('ring-odd:monitor', 100);
    const id = newId();
    await store.putMonitor(monitorRecord(id));
    const odd = runOf(0, { code: 'future.code', cause: 'future_cause', durationMs: 12.75 });
    await store.recordRun(id, odd);
    for (let index = 1; index < 60; index += 1)
      await store.recordRun(id, runOf(index, index % 2 === 0 ? {} : { health: 'down', code: 'tcp.refused' }));
    const history = await store.history(id, { limit: 1000 });
    expect(history.at(-1)).toEqual(odd.entry);
  });

  it('honours since and limit, newest first', async () => {
    const store = storeWith('ring-query:monitor', 1440);
    const id = newId();
    await store.putMonitor(monitorRecord(id));
    const runs = Array.from({ length: 20 }, (_, index) => runOf(index));
    for (const run of runs) await store.recordRun(id, run);
    const since = runs[12]?.startedAtMs ?? 0;
    const recent = await store.history(id, { sinceMs: since, limit: 1000 });
    expect(recent.map((entry) => entry.at)).toEqual(
      runs
        .slice(12)
        .reverse()
        .map((run) => run.entry.at),
    );
    expect((await store.history(id, { limit: 3 })).map((entry) => entry.at)).toEqual(
      runs
        .slice(-3)
        .reverse()
        .map((run) => run.entry.at),
    );
  });

  it('counts every run in the hourly and daily buckets and keeps the latency samples of answered runs', async () => {
    const store = storeWith('ring-counts:monitor', 1440);
    const id = newId();
    await store.putMonitor(monitorRecord(id));
    const runs = Array.from({ length: 30 }, (_, index) => runOf(index));
    for (const run of runs) await store.recordRun(id, run);
    const hour = Math.floor(nowMs / hourMs);
    const hours = await store.bucketCounts(id, 'hourly', hour - 4, hour);
    const total = { up: 0, degraded: 0, down: 0, maintenance: 0 };
    for (const bucket of hours)
      for (const kind of Object.keys(total) as Array<keyof typeof total>) total[kind] += bucket[kind];
    const downs = runs.filter((run) => run.entry.health === 'down').length;
    expect(total).toEqual({ up: runs.length - downs, degraded: 0, down: downs, maintenance: 0 });
    expect(await store.recentDurations(id)).toEqual(
      runs
        .filter((run) => run.entry.health === 'up')
        .map((run) => run.entry.durationMs)
        .reverse(),
    );
  });

  it('forgets everything of a deleted monitor', async () => {
    const store = storeWith('ring-delete:monitor', 1440);
    const id = newId();
    await store.putMonitor(monitorRecord(id));
    await store.recordRun(id, runOf(1));
    expect(await store.deleteMonitor(id)).toBe(true);
    expect(await client.keys(`ring-delete:monitor:*${id}`)).toEqual([]);
  });
});

describe('MonitorStore with a history in the old format', () => {
  /** Writes runs the way the store did before the ring: JSON entries in a sorted set, bucket hashes. */
  async function writeOldFormat(prefix: string, id: string, runs: RunResult[]): Promise<void> {
    for (const run of runs) {
      const kind = run.entry.isMaintenance ? 'maintenance' : run.entry.health;
      const hour = Math.floor(run.startedAtMs / hourMs);
      const day = Math.floor(run.startedAtMs / dayMs);
      await client
        .multi()
        .zadd(`${prefix}:history:${id}`, run.startedAtMs, JSON.stringify(run.entry))
        .hincrby(`${prefix}:hourly:${id}`, `${hour}:${kind}`, 1)
        .hincrby(`${prefix}:hourly:${id}`, `${hour}:ms`, Math.round(run.entry.durationMs))
        .hincrby(`${prefix}:daily:${id}`, `${day}:${kind}`, 1)
        .exec();
    }
  }

  it('reads the old history as it is, and migrates it whole with its counters at the next run', async () => {
    const prefix = 'old-run:monitor';
    const store = storeWith(prefix, 1440);
    const id = newId();
    await store.putMonitor(monitorRecord(id));
    const oldRuns = Array.from({ length: 40 }, (_, index) =>
      runOf(index, index === 5 ? { warnings: ['path.address_unreachable'] } : {}),
    );
    await writeOldFormat(prefix, id, oldRuns);
    const before = await store.history(id, { limit: 1000 });
    expect(before).toEqual(oldRuns.map((run) => run.entry).reverse());

    const newRun = runOf(41);
    await store.recordRun(id, newRun);
    await applyAsLatest(store, id, newRun);
    expect(
      await client.exists(`${prefix}:history:${id}`, `${prefix}:hourly:${id}`, `${prefix}:daily:${id}`),
    ).toBe(0);
    const after = await store.history(id, { limit: 1000 });
    const all = [...oldRuns, newRun].map((run) => run.entry).reverse();
    expect(after.map(exactPart)).toEqual(all.map(exactPart));
    expect(after[0]).toEqual(newRun.entry);
    // The run whose warnings changed is kept whole.
    expect(after.find((entry) => entry.at === oldRuns[5]?.entry.at)).toEqual(oldRuns[5]?.entry);

    const day = Math.floor(nowMs / dayMs);
    const days = await store.bucketCounts(id, 'daily', day - 1, day);
    const counted = days.reduce((sum, bucket) => sum + bucket.up + bucket.down, 0);
    expect(counted).toBe(oldRuns.length + 1);
  });

  it('migrates the monitors that do not run, at start', async () => {
    const prefix = 'old-start:monitor';
    const store = storeWith(prefix, 1440);
    const ids = [newId(), newId()];
    const runsById = new Map<string, RunResult[]>();
    for (const id of ids) {
      await store.putMonitor(monitorRecord(id));
      const runs = Array.from({ length: 25 }, (_, index) => runOf(index + ids.indexOf(id)));
      runsById.set(id, runs);
      await writeOldFormat(prefix, id, runs);
    }
    expect(await store.migrateOldFormat()).toBe(2);
    expect(await store.migrateOldFormat()).toBe(0);
    for (const id of ids) {
      const history = await store.history(id, { limit: 1000 });
      expect(history.map(exactPart)).toEqual(
        (runsById.get(id) ?? []).map((run) => exactPart(run.entry)).reverse(),
      );
      const hour = Math.floor(nowMs / hourMs);
      const hours = await store.bucketCounts(id, 'hourly', hour - 4, hour);
      expect(hours.reduce((sum, bucket) => sum + bucket.up + bucket.down, 0)).toBe(25);
    }
  });
});
