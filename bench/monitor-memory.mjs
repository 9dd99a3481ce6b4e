// Benchmark: Redis memory per monitor with the default retention (MONITOR_HISTORY_MAX_ENTRIES 1440, 7 days),
// everything included: record, state, schedule, history ring and kept entries, counters, latency samples,
// incidents. Redis is filled through the store's own functions the way runs write it, then INFO memory is read.
// Usage: npm run build && node bench/monitor-memory.mjs --monitors 10000,100000 [--recorded-runs 100]
//        [--full-check 1000] [--failing-share 0.01] [--json out.json]   (loopback only; stops what it starts)
//
// Per monitor: its record (putMonitor) and schedule (the scheduler's upsert, whatever src/monitor provides),
// 1440 runs a minute apart over the last 24 hours of which the last --recorded-runs go through recordRun (the
// run path's write: ring, kept entries, counters, latency samples) and the older ones through importRuns (the
// same records, written in one script per monitor: a 100,000-monitor fill in minutes, not hours), and its
// state through casStatus. --failing-share of the monitors have a failure episode (an incident opened and
// resolved, runs down with their own cause), and one in ten of those is still down. --full-check N first fills
// N monitors with all 1440 runs through recordRun and reports both fills' bytes per monitor, to show the
// shortcut costs the same. --clone-from K fills the first K monitors so, and every later one from monitor
// (index mod K): its own record, schedule, state and incidents through the store as above, and its history keys
// (ring, kept entries, counters, latency samples) as byte-identical copies of that monitor's by DUMP and RESTORE,
// so a 100,000-monitor fill takes minutes on a busy machine; the keys' encodings are the ones the fill made.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ShardStore } from '../dist/monitor/schedule/shard-store.js';
import * as scheduling from '../dist/monitor/scheduler.js';
import { decide, initialStatus } from '../dist/monitor/state-machine.js';
import { MonitorStore } from '../dist/monitor/store.js';
import { monitorKeyPrefix } from '../dist/monitor/workers.js';
import { keyspaceFor } from '../dist/redis/connection.js';
import { startEmbeddedRedis } from '../dist/redis/embedded.js';
import { monitorRecordOf } from './support.mjs';

const { values } = parseArgs({
  options: {
    monitors: { type: 'string', default: '10000,100000' },
    'recorded-runs': { type: 'string', default: '100' },
    'full-check': { type: 'string', default: '0' },
    'failing-share': { type: 'string', default: '0.01' },
    'max-entries': { type: 'string', default: '1440' },
    'clone-from': { type: 'string', default: '0' },
    json: { type: 'string' },
  },
});
const sizes = values.monitors.split(',').map(Number);
const recordedRuns = Number(values['recorded-runs']);
const failingShare = Number(values['failing-share']);
const maxEntries = Number(values['max-entries']);
const intervalMs = 60_000;
const queueName = 'bench';
const concurrency = 64;
const cloneFrom = Number(values['clone-from']);
/** The keys of one monitor's history, `${prefix}:${name}:${id}`, copied whole by --clone-from. */
const historyKeyNames = ['runs', 'run-details', 'counts', 'latency'];

/** A seeded random, so two runs fill the same data. */
function seeded(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function usedMemory(info) {
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

function loadAverage() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** A run as runResultOf makes it for a loopback site: verdict, status, timings, phases. */
function runOf(atMs, health, random) {
  const isUp = health === 'up';
  const connect = Math.round(random() * 30) / 10;
  const processing = Math.round(random() * 400) / 10;
  const durationMs = Math.round(connect + processing + random() * 20 + 1);
  return {
    startedAtMs: atMs,
    scheduledAtMs: atMs - Math.floor(random() * 80),
    summary: isUp ? 'The site answers.' : 'The server fails with a 5xx (HTTP 503).',
    entry: {
      at: new Date(atMs).toISOString(),
      scheduledAt: new Date(atMs - Math.floor(random() * 80)).toISOString(),
      trigger: 'schedule',
      health,
      isMaintenance: false,
      cause: isUp ? 'ok' : 'server_fault',
      code: isUp ? 'http.ok' : 'http.unavailable',
      status: isUp ? 200 : 503,
      durationMs,
      phasesMs: { connect, processing, transfer: Math.round(random() * 10) / 10 },
    },
  };
}

/** The monitor's record as POST /monitors writes it for a loopback target. */
function recordOf(index, createdAt) {
  return monitorRecordOf(index, {
    url: `http://127.0.0.1:8080/m/${index}`,
    intervalSeconds: intervalMs / 1000,
    createdAt,
  });
}

/** Runs `task` for every index with `concurrency` in flight. */
async function eachIndex(count, task) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const index = next;
        next += 1;
        await task(index);
      }
    }),
  );
}

/** Fills one monitor: record, schedule, history, counters, state and incidents. */
async function fillMonitor(context, index, isFull) {
  const { store, scheduler, nowMs, createdAt } = context;
  const random = seeded(index + 1);
  const record = recordOf(index, createdAt);
  await store.putMonitor(record);
  if (scheduler) await scheduler.upsert(record);
  const total = maxEntries;
  const isFailing = random() < failingShare;
  const isStillDown = isFailing && random() < 0.1;
  const episodeStart = isStillDown ? total - 5 : Math.floor(random() * (total - 30));
  const episodeLength = isStillDown ? 5 : 3 + Math.floor(random() * 20);
  const runs = [];
  for (let run = 0; run < total; run += 1) {
    const isDown = isFailing && run >= episodeStart && run < episodeStart + episodeLength;
    runs.push(
      runOf(nowMs - (total - run) * intervalMs + Math.floor(random() * 1000), isDown ? 'down' : 'up', random),
    );
  }
  const imported = isFull ? 0 : Math.max(0, total - recordedRuns);
  if (imported > 0)
    await store.importRuns(
      record.id,
      runs.slice(0, imported).map((run) => run.entry),
    );
  let status = initialStatus(nowMs - total * intervalMs);
  const incidents = [];
  for (const run of runs.slice(imported)) await store.recordRun(record.id, run);
  // The state as the runner leaves it after the last run; an incident for a failure episode.
  for (const run of isFailing ? runs.slice(episodeStart, episodeStart + episodeLength + 1) : []) {
    const decision = decideOn(status, run, record);
    status = decision.status;
    if (decision.incident?.kind === 'open') {
      const opened = {
        openedAtMs: run.startedAtMs,
        cause: run.entry.cause,
        code: run.entry.code,
        summary: run.summary,
      };
      incidents.push({ opened, id: decision.incident.incidentId });
    }
    if (decision.incident?.kind === 'resolve') {
      const incident = incidents.find((each) => each.id === decision.incident.incidentId);
      if (incident) incident.resolvedAtMs = run.startedAtMs;
    }
  }
  const last = runs.at(-1);
  status = decideOn(status, last, record).status;
  const kept = { status, incidents };
  await keepStateAndIncidents(store, record, kept);
  return kept;
}

/** The monitor's state and its incidents (opened, and resolved if the episode ended), under new incident ids. */
async function keepStateAndIncidents(store, record, { status, incidents }) {
  const newIds = new Map();
  for (const incident of incidents) {
    const id = randomUUID();
    newIds.set(incident.id, id);
    await store.openIncident({ id, monitorId: record.id, monitorName: record.name, ...incident.opened });
    if (incident.resolvedAtMs !== undefined) await store.resolveIncident(id, incident.resolvedAtMs);
  }
  const open =
    status.openIncidentId === undefined ? {} : { openIncidentId: newIds.get(status.openIncidentId) };
  await store.casStatus(record.id, 0, { ...status, ...open, version: 1 });
}

/** A monitor filled as a copy of an already filled one: its history keys by DUMP/RESTORE, the rest its own. */
async function cloneMonitor(context, index) {
  const { store, scheduler, createdAt, redis, prefix, sources } = context;
  const source = sources[index % cloneFrom];
  const record = recordOf(index, createdAt);
  await store.putMonitor(record);
  if (scheduler) await scheduler.upsert(record);
  source.dumps ??= await Promise.all(
    historyKeyNames.map((name) => redis.dumpBuffer(`${prefix}:${name}:${source.id}`)),
  );
  await Promise.all(
    historyKeyNames.map((name, at) =>
      source.dumps[at] === null
        ? undefined
        : redis.restore(`${prefix}:${name}:${record.id}`, 0, source.dumps[at]),
    ),
  );
  await keepStateAndIncidents(store, record, source.kept);
}

function decideOn(status, run, record) {
  const { entry } = run;
  return decide(
    status,
    {
      startedAtMs: run.startedAtMs,
      health: entry.health,
      isMaintenance: false,
      cause: entry.cause,
      code: entry.code,
      summary: run.summary,
      lastRun: {
        at: entry.at,
        health: entry.health,
        isMaintenance: false,
        cause: entry.cause,
        code: entry.code,
        summary: run.summary,
        durationMs: entry.durationMs,
        status: entry.status,
        phasesMs: entry.phasesMs,
      },
    },
    { confirmations: record.confirmations, newIncidentId: randomUUID() },
  );
}

/** Fills `count` monitors into a fresh Redis and measures; answers the measurement. */
async function measure(count, isFull) {
  const work = await mkdtemp(join(tmpdir(), 'reach-bench-memory-'));
  const redisServer = await startEmbeddedRedis({ dataDir: join(work, 'redis') });
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  try {
    const keyPrefix = monitorKeyPrefix(keyspaceFor(undefined, queueName), queueName);
    const store = new MonitorStore(redis, {
      keyPrefix,
      historyMaxAgeSeconds: 7 * 86_400,
      historyMaxEntries: maxEntries,
    });
    // The schedule as src/monitor makes it: the monitor's place in its shard, and the shard's job scheduler.
    const queue = new Queue(scheduling.monitorQueueName(queueName), { connection: redis });
    const scheduler = new scheduling.MonitorScheduler(queue, new ShardStore(redis, keyPrefix), 0);
    const baseline = usedMemory(await redis.info('memory'));
    await redis.config('RESETSTAT');
    const cpuBefore = await redisCpuSeconds(redis);
    const startedMs = Date.now();
    const context = {
      store,
      scheduler,
      redis,
      prefix: keyPrefix,
      sources: [],
      nowMs: Date.now(),
      createdAt: new Date().toISOString(),
    };
    const filled = cloneFrom > 0 && !isFull ? Math.min(cloneFrom, count) : count;
    let done = 0;
    await eachIndex(filled, async (index) => {
      context.sources[index] = {
        id: recordOf(index, '').id,
        kept: await fillMonitor(context, index, isFull),
      };
      done += 1;
      if (done % 10_000 === 0)
        console.log(
          `  ${done} of ${count} monitors filled (${Math.round((Date.now() - startedMs) / 1000)} s)`,
        );
    });
    await eachIndex(count - filled, async (offset) => {
      await cloneMonitor(context, filled + offset);
      done += 1;
      if (done % 10_000 === 0)
        console.log(
          `  ${done} of ${count} monitors filled (${Math.round((Date.now() - startedMs) / 1000)} s)`,
        );
    });
    const fillSeconds = (Date.now() - startedMs) / 1000;
    const cpuAfter = await redisCpuSeconds(redis);
    const info = await redis.info('memory');
    const used = usedMemory(info);
    const rss = Number(/used_memory_rss:(\d+)/.exec(info)?.[1] ?? 0);
    const stats = await redis.info('commandstats');
    const evalsha = /cmdstat_evalsha:calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)/.exec(stats);
    // What one monitor's keys cost, from a steady monitor and a failing one.
    const sampleId = recordOf(1, '').id;
    const prefix = monitorKeyPrefix(keyspaceFor(undefined, queueName), queueName);
    const keys = {};
    for (const name of ['runs', 'run-details', 'counts', 'latency']) {
      keys[name] = Number((await redis.memory('USAGE', `${prefix}:${name}:${sampleId}`)) ?? 0);
    }
    const result = {
      monitors: count,
      fill: isFull
        ? 'every run through recordRun'
        : `importRuns + ${recordedRuns} through recordRun${cloneFrom > 0 && count > cloneFrom ? `, histories of the rest copied from ${cloneFrom}` : ''}`,
      historyMaxEntries: maxEntries,
      fillSeconds,
      redisUsedMib: (used - baseline) / 1048576,
      redisUsedBytesPerMonitor: Math.round((used - baseline) / count),
      redisRssMib: rss / 1048576,
      redisKeys: await redis.dbsize(),
      projectedGibAt100k: (((used - baseline) / count) * 100_000) / 1024 ** 3,
      sampleKeyBytes: keys,
      recordRunRedisUsecPerCall: evalsha ? Number(evalsha[3]) : null,
      redisCpuSecondsDuringFill: cpuAfter - cpuBefore,
      hasScheduler: scheduler !== undefined,
      loadAverage: loadAverage(),
    };
    await queue.close();
    return result;
  } finally {
    redis.disconnect();
    await redisServer.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function redisCpuSeconds(redis) {
  const info = await redis.info('cpu');
  return (
    Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1] ?? 0) +
    Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1] ?? 0)
  );
}

const results = [];
const fullCheck = Number(values['full-check']);
if (fullCheck > 0) {
  for (const isFull of [true, false]) {
    console.log(`${fullCheck} monitors, ${isFull ? 'every run through recordRun' : 'the bulk fill'} ...`);
    const result = await measure(fullCheck, isFull);
    console.log(JSON.stringify(result));
    results.push(result);
  }
}
for (const count of sizes) {
  console.log(`${count} monitors ...`);
  const result = await measure(count, false);
  console.log(JSON.stringify(result));
  results.push(result);
}
console.table(
  results.map((result) => ({
    monitors: result.monitors,
    fill: result.fill,
    'bytes/monitor': result.redisUsedBytesPerMonitor,
    'used MiB': Math.round(result.redisUsedMib),
    'GiB at 100k': result.projectedGibAt100k.toFixed(2),
    'µs/recordRun': result.recordRunRedisUsecPerCall,
  })),
);
if (values.json) await writeFile(values.json, `${JSON.stringify(results, null, 2)}\n`);
