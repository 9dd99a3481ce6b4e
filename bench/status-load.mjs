// Benchmark: what GET /status.json and GET /status cost with N monitors that have months of counters,
// latency samples, statuses and incidents, written through the real MonitorStore. Times the gathering (cold:
// completed hours and days not yet kept; warm: kept), the rendering of each body, and HTTP requests to the
// real status router (the first one in a cache window, the ones after it, and If-None-Match revalidations).
// Since the page holds at scale (#15), `/status` is the summary and the first page of 50 monitors; the other
// views (a later page, a filter, paged JSON, the Statuspage paths, the feed, a badge) are requested too.
// Usage: npm run build && node bench/status-load.mjs [--monitors 1000,10000] [--repeats 5] [--json out.json]
//        [--profile DIR]   (a CPU profile of the gatherings and renderings of each size, not of the filling)
//        [--changed-share 0.1]   (share of monitors with a new run before each warm gathering: 10% is a 60 s
//        interval read every 6 s)
// Loopback only: starts its own redis-server on a free loopback port and stops it by pid at the end.
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import express from 'express';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadMonitorConfig } from '../dist/monitor/config.js';
import { createStatusRouter } from '../dist/monitor/http/routes.js';
import { StatusDataSource } from '../dist/monitor/status/data.js';
import { renderStatusPage } from '../dist/monitor/status/page.js';
import { toStatusSummary } from '../dist/monitor/status/summary.js';
import { MonitorStore } from '../dist/monitor/store.js';
import { monitorKeyPrefix } from '../dist/monitor/workers.js';
import { keyspaceFor } from '../dist/redis/connection.js';
import { startEmbeddedRedis } from '../dist/redis/embedded.js';
import { problemMiddleware } from '../dist/requests/problems.js';

const { values } = parseArgs({
  options: {
    monitors: { type: 'string', default: '1000,10000' },
    repeats: { type: 'string', default: '5' },
    json: { type: 'string' },
    profile: { type: 'string' },
    'changed-share': { type: 'string', default: '0.1' },
  },
});
const sizes = values.monitors.split(',').map(Number);
const repeats = Math.max(1, Math.min(50, Number(values.repeats)));
const changedShare = Math.max(0, Math.min(1, Number(values['changed-share'])));
if (sizes.some((size) => !Number.isInteger(size) || size < 1 || size > 100_000))
  throw new Error('--monitors takes whole numbers from 1 to 100000, comma separated');

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;
const fillConcurrency = 100;

/** Deterministic pseudo-random numbers, so every run of the bench writes the same data. */
function randomSource(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function runOf(atMs, health, durationMs) {
  const cause = health === 'up' ? 'ok' : health === 'degraded' ? 'overload' : 'server_fault';
  const code = health === 'up' ? 'http.ok' : health === 'degraded' ? 'http.slow' : 'http.server_error';
  const status = health === 'down' ? 500 : 200;
  return {
    startedAtMs: atMs,
    summary: health === 'up' ? 'The site answered 200.' : `The server answered ${status}.`,
    entry: {
      at: new Date(atMs).toISOString(),
      trigger: 'schedule',
      health,
      isMaintenance: false,
      cause,
      code,
      status,
      durationMs,
      phasesMs: { resolve: 1.2, connect: 0.4, processing: durationMs - 3, transfer: 1.1 },
    },
  };
}

/**
 * One monitor as a month of use leaves it: one run per day for the 90-day bar, one per hour for the
 * 24-hour uptime (the store counts both into hourly and daily buckets), a full latency list, its status,
 * and for some monitors an open incident (down now) or one resolved in the last 7 days.
 */
async function fillMonitor(store, index, nowMs, random) {
  const id = `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`;
  const createdAt = new Date(nowMs - 95 * dayMs).toISOString();
  const roll = random();
  const isDown = roll < 0.02;
  const isDegraded = !isDown && roll < 0.05;
  const hadIncident = !isDown && !isDegraded && roll < 0.1;
  await store.putMonitor({
    id,
    name: `Site ${index}`,
    url: `https://site-${index}.example.test/`,
    intervalSeconds: 60,
    timeoutMs: 10_000,
    confirmations: 2,
    tags: index % 3 === 0 ? ['shop', 'eu'] : [],
    group: `Group ${String(index % 40).padStart(2, '0')}`,
    maintenance:
      index % 200 === 0
        ? [
            {
              startsAt: new Date(nowMs + dayMs).toISOString(),
              endsAt: new Date(nowMs + dayMs + hourMs).toISOString(),
              reason: `Upgrade of site ${index}`,
            },
          ]
        : [],
    webhooks: [],
    createdAt,
    updatedAt: createdAt,
  });
  const runs = [];
  for (let daysAgo = 89; daysAgo >= 1; daysAgo -= 1) {
    const health = random() < 0.03 ? 'down' : 'up';
    runs.push(runOf(nowMs - daysAgo * dayMs, health, 20 + Math.round(random() * 200)));
  }
  for (let hoursAgo = 24; hoursAgo >= 0; hoursAgo -= 1) {
    const atMs = nowMs - hoursAgo * hourMs - 1000;
    const health = hoursAgo === 0 && isDown ? 'down' : hoursAgo === 0 && isDegraded ? 'degraded' : 'up';
    runs.push(runOf(atMs, health, 20 + Math.round(random() * 200)));
  }
  await Promise.all(runs.map((run) => store.recordRun(id, run)));
  const last = runs.at(-1);
  const state = isDown ? 'down' : isDegraded ? 'degraded' : 'up';
  let openIncidentId;
  if (isDown || hadIncident) {
    const incidentId = `incident-${index}`;
    const openedAtMs = nowMs - (isDown ? 2 * hourMs : 3 * dayMs);
    await store.openIncident({
      id: incidentId,
      monitorId: id,
      monitorName: `Site ${index}`,
      openedAtMs,
      cause: 'server_fault',
      code: 'http.server_error',
      summary: 'The server answered 500.',
    });
    await store.recordIncidentVerdict(incidentId, {
      atMs: openedAtMs + 60_000,
      cause: 'dns_failure',
      code: 'dns.nxdomain',
      summary: 'The name does not exist.',
    });
    if (isDown) openIncidentId = incidentId;
    else await store.resolveIncident(incidentId, openedAtMs + 40 * 60_000);
  }
  const outcome = await store.casStatus(id, 0, {
    version: 1,
    state,
    sinceMs: nowMs - (isDown ? 2 * hourMs : 30 * dayMs),
    consecutiveFailures: isDown ? 3 : 0,
    lastStartedAtMs: last.startedAtMs,
    lastRun: {
      at: last.entry.at,
      health: last.entry.health,
      isMaintenance: false,
      cause: last.entry.cause,
      code: last.entry.code,
      summary: last.summary,
      durationMs: last.entry.durationMs,
      status: last.entry.status,
      phasesMs: last.entry.phasesMs,
    },
    ...(openIncidentId ? { openIncidentId } : {}),
  });
  if (outcome !== 'written') throw new Error(`status of ${id} not written: ${outcome}`);
}

async function fill(store, count, nowMs) {
  const random = randomSource(count);
  let next = 0;
  const lanes = Array.from({ length: Math.min(fillConcurrency, count) }, async () => {
    while (next < count) {
      const index = next;
      next += 1;
      await fillMonitor(store, index, nowMs, random);
    }
  });
  await Promise.all(lanes);
}

/** Records a run now for the next `changedShare` of the monitors (round robin), as the workers would. */
let nextChanged = 0;
async function recordSomeRuns(store, count) {
  const runs = [];
  for (let done = 0; done < Math.round(changedShare * count); done += 1) {
    const index = nextChanged % count;
    nextChanged += 1;
    const id = `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`;
    runs.push(store.recordRun(id, runOf(Date.now(), 'up', 20 + (index % 200))));
  }
  await Promise.all(runs);
}

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (value) => Math.round(value * 10) / 10;
  return {
    medianMs: round(sorted[Math.floor((sorted.length - 1) / 2)]),
    minMs: round(sorted[0]),
    maxMs: round(sorted.at(-1)),
    runs: sorted.length,
  };
}

async function timed(action) {
  const startedMs = performance.now();
  const value = await action();
  return { ms: performance.now() - startedMs, value };
}

async function request(url, headers = {}) {
  const startedMs = performance.now();
  const response = await fetch(url, { headers });
  const body = Buffer.from(await response.arrayBuffer());
  return {
    ms: performance.now() - startedMs,
    status: response.status,
    etag: response.headers.get('etag'),
    bytes: body.length,
  };
}

/** Redis commands (calls, server µs) sent by `action`, from INFO commandstats (nothing else uses this Redis). */
async function commandsOf(redis, action) {
  await redis.config('RESETSTAT');
  await action();
  const text = await redis.info('commandstats');
  const commands = {};
  for (const match of text.matchAll(/cmdstat_(\w+):calls=(\d+),usec=(\d+)/g)) {
    if (match[1] === 'info' || match[1] === 'config') continue;
    commands[match[1]] = { calls: Number(match[2]), usec: Number(match[3]) };
  }
  return commands;
}

async function measure(redis, count, profiler) {
  await redis.flushall();
  const keyPrefix = monitorKeyPrefix(keyspaceFor(undefined, 'bench'), 'bench');
  const store = new MonitorStore(redis, {
    keyPrefix,
    historyMaxAgeSeconds: 7 * 86_400,
    historyMaxEntries: 1440,
  });
  const nowMs = Date.now();
  const filled = await timed(() => fill(store, count, nowMs));
  const page = { id: 'bench', name: 'Bench status', url: '/status' };
  await profiler?.post('Profiler.start');

  const cold = [];
  const warm = [];
  const renderJson = [];
  const renderHtml = [];
  let jsonBytes = 0;
  let htmlBytes = 0;
  for (let repeat = 0; repeat < repeats; repeat += 1) {
    const source = new StatusDataSource(store);
    cold.push((await timed(() => source.gather(Date.now()))).ms);
    await recordSomeRuns(store, count);
    const warmGathering = await timed(() => source.gather(Date.now()));
    warm.push(warmGathering.ms);
    const json = await timed(() => JSON.stringify(toStatusSummary(warmGathering.value, page)));
    renderJson.push(json.ms);
    jsonBytes = Buffer.byteLength(json.value);
    const html = await timed(() =>
      renderStatusPage(warmGathering.value, { title: page.name, refreshSeconds: 60 }),
    );
    renderHtml.push(html.ms);
    htmlBytes = Buffer.byteLength(html.value);
  }
  const counted = new StatusDataSource(store);
  const coldCommands = await commandsOf(redis, () => counted.gather(Date.now()));
  await recordSomeRuns(store, count);
  const warmCommands = await commandsOf(redis, () => counted.gather(Date.now()));

  // Through the real status router: a window long enough that every request after the first is in it.
  const app = express();
  app.set('etag', false); // as the service's app sets it
  app.use(
    createStatusRouter({
      store,
      config: loadMonitorConfig({ STATUS_CACHE_SECONDS: '3600', STATUS_PAGE_TITLE: page.name }),
    }),
  );
  app.use(problemMiddleware(pino({ level: 'silent' })));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${server.address().port}`;
  const http = {};
  try {
    const firstId = '00000000-0000-4000-8000-000000000000';
    for (const path of [
      '/status.json',
      '/status',
      '/status?page=100',
      '/status?group=Group%2007&state=up',
      '/status.json?page=2&per_page=100',
      '/api/v2/summary.json',
      '/api/v2/components.json',
      '/api/v2/components.json?per_page=100',
      '/api/v2/incidents.json',
      '/api/v2/incidents/unresolved.json',
      '/api/v2/incidents/unresolved.json?per_page=50',
      '/history.atom',
      `/badge/${firstId}/uptime.svg`,
    ]) {
      const first = await request(`${base}${path}`);
      const cached = [];
      const revalidated = [];
      let revalidatedStatus;
      for (let repeat = 0; repeat < repeats; repeat += 1) {
        cached.push((await request(`${base}${path}`)).ms);
        if (first.etag) {
          const answer = await request(`${base}${path}`, { 'if-none-match': first.etag });
          revalidated.push(answer.ms);
          revalidatedStatus = answer.status;
        }
      }
      http[path] = {
        firstRequestMs: Math.round(first.ms),
        status: first.status,
        bytes: first.bytes,
        etag: first.etag !== null,
        cachedRequest: stats(cached),
        ...(revalidated.length > 0
          ? { ifNoneMatchRequest: { ...stats(revalidated), status: revalidatedStatus } }
          : {}),
      };
    }
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    await mkdir(values.profile, { recursive: true });
    await writeFile(join(values.profile, `status-${count}.cpuprofile`), JSON.stringify(profile));
  }
  return {
    monitors: count,
    changedShare,
    fillSeconds: Math.round(filled.ms / 100) / 10,
    redisMemoryMib: Math.round(
      Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0) / 1_048_576,
    ),
    gatherCold: stats(cold),
    gatherWarm: stats(warm),
    redisCommands: { cold: coldCommands, warm: warmCommands },
    renderJson: { ...stats(renderJson), bytes: jsonBytes },
    renderHtml: { ...stats(renderHtml), bytes: htmlBytes },
    http,
  };
}

const work = await mkdtemp(join(tmpdir(), 'reach-bench-status-'));
let redisServer;
let redis;
const results = [];
try {
  // Redis as the service runs it (append-only file on), on a free loopback port.
  redisServer = await startEmbeddedRedis({ dataDir: join(work, 'redis') });
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  let profiler;
  if (values.profile) {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
  }
  for (const count of sizes) {
    const result = await measure(redis, count, profiler);
    results.push(result);
    console.log(JSON.stringify(result, null, 2));
  }
} finally {
  redis?.disconnect();
  await redisServer?.stop();
  await rm(work, { recursive: true, force: true });
}
if (values.json)
  await writeFile(values.json, `${JSON.stringify({ node: process.version, repeats, results }, null, 2)}\n`);
