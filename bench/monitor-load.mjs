// Benchmark: N monitors at one interval against a loopback nginx, run by monitor worker processes for a while.
// Measures runs missed (and doubled), schedule lag (p50/p99/max), memory of Redis and of the workers, CPU.
// Usage: npm run build && node bench/monitor-load.mjs --monitors 10000 --interval 60 --duration 600 [--workers 1]
//        [--concurrency 64] [--failing-share 0.01] [--create bulk|single] [--create-only] [--first-runs] [--build DIR]
//        [--json out.json]
// --create bulk (default) creates the monitors as POST /monitors/bulk does (createMonitors: grouped writes per chunk
// of 1,000); single as POST /monitors does, one at a time (500 in flight). --create-only times the creation alone,
// first runs queued as the bulk route queues them, and stops there (no workers, no window).
// --lag-breakdown has each worker log its shard ticks (when taken up, the probes already waiting for a slot), its
// reconciles and its event loop's delay, and splits the schedule lag into the wait for the shard job to be taken
// up and the members' wait for a slot inside it, by minute, by worker and around reconciles.
//        (loopback only; stops what it starts, by pid)
// --build DIR runs another build of reach (its dist/ and bench/monitor-worker.mjs) under the same harness, e.g. main
// exported with `git archive main | tar -x -C DIR` and built there: old and new measured in the same conditions.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import {
  monitorRecordOf,
  processStats,
  quantile,
  startChild,
  startNginx,
  stopOwnedChildren,
} from './support.mjs';

const { values } = parseArgs({
  options: {
    monitors: { type: 'string', default: '10000' },
    interval: { type: 'string', default: '60' },
    duration: { type: 'string', default: '600' },
    workers: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '64' },
    json: { type: 'string' },
    'no-status': { type: 'boolean', default: false },
    /** The share of monitors whose site answers 500: each goes down after its re-check, then stays down. */
    'failing-share': { type: 'string', default: '0' },
    build: { type: 'string' },
    create: { type: 'string', default: 'bulk' },
    'create-only': { type: 'boolean', default: false },
    'lag-breakdown': { type: 'boolean', default: false },
    /** Queue the first runs as POST /monitors/bulk does (MONITOR_BULK_FIRST_RUN_WITHIN_SECONDS at its default). */
    'first-runs': { type: 'boolean', default: false },
  },
});
if (!['bulk', 'single'].includes(values.create)) throw new Error('--create is bulk or single');
const root = resolve(values.build ?? resolve(import.meta.dirname, '..'));
const load = (path) => import(join(root, 'dist', path));
const { MonitorScheduler, monitorQueueName } = await load('monitor/scheduler.js');
const { StatusDataSource } = await load('monitor/status/data.js');
const { toStatusSummary } = await load('monitor/status/summary.js');
const { MonitorStore } = await load('monitor/store.js');
const { monitorKeyPrefix } = await load('monitor/workers.js');
const { keyspaceFor } = await load('redis/connection.js');
const { startEmbeddedRedis } = await load('redis/embedded.js');
// Shard scheduling (this branch on): the scheduler takes the shard store; before it, one scheduler per monitor.
const isSharded = existsSync(join(root, 'dist', 'monitor', 'schedule', 'shard-store.js'));
const { ShardStore } = isSharded ? await load('monitor/schedule/shard-store.js') : {};
const { shardOf, shardIdOf, memberDueAtMs } = isSharded ? await load('monitor/schedule/shards.js') : {};
/**
 * How long after its shard's tick a monitor is due: its own time in the shard's slice (builds that start each
 * member at its own time), or 0 (builds that start every member at the tick). Runs are counted by shard tick.
 */
const dueAfterTickMs = (id) =>
  memberDueAtMs ? memberDueAtMs(id, shardOf({ id, intervalSeconds: intervalMs / 1000 }), 0) : 0;
const isLagBreakdown = values['lag-breakdown'] && isSharded;
// Bulk creation (this branch on); an older build creates one at a time whatever --create says.
const hasBulk = existsSync(join(root, 'dist', 'monitor', 'bulk-create.js'));
const { createMonitors } = hasBulk ? await load('monitor/bulk-create.js') : {};
const createMode = hasBulk ? values.create : 'single';
const isCreateOnly = values['create-only'];
const failingCount = Math.round(Number(values['failing-share']) * Number(values.monitors));
const monitorCount = Number(values.monitors);
const intervalMs = Number(values.interval) * 1000;
const durationMs = Number(values.duration) * 1000;
const workerCount = Number(values.workers);
const work = await mkdtemp(join(tmpdir(), 'reach-bench-monitor-'));
const queueName = 'bench';
/** Redis's AOF rewrites from its log, as [startMs, endMs]: the child competes with the runs for the cores. */
const rewrites = [];
function noteRewrite(line) {
  if (/Background append only file rewriting started/.test(line)) rewrites.push([Date.now(), undefined]);
  else if (
    /Background AOF rewrite (finished successfully|terminated)/.test(line) &&
    rewrites.at(-1)?.[1] === undefined
  )
    rewrites.at(-1)[1] = Date.now();
}

let redisServer;
try {
  // Redis as the service runs it: append-only file on.
  redisServer = await startEmbeddedRedis({ dataDir: join(work, 'redis'), onLog: noteRewrite });
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });

  // nginx on loopback answering every path with a small 200, and /fail/… with a 500.
  const nginx = await startNginx(join(work, 'nginx'));
  const nginxPort = nginx.port;

  // Workers first, so no tick comes due before one is ready; the window opens once the monitors exist.
  const workerProcesses = [];
  for (let index = 0; index < (isCreateOnly ? 0 : workerCount); index += 1) {
    const worker = startChild(
      process.execPath,
      // BENCH_WORKER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/x", profiles the workers.
      [
        ...(process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean),
        join(root, 'bench', 'monitor-worker.mjs'),
      ],
      {
        env: {
          REDIS_URL: redisServer.url,
          BENCH_QUEUE: queueName,
          MONITOR_CONCURRENCY: values.concurrency,
          PROBE_TIMEOUT_MS: '10000',
          ...(isLagBreakdown ? { BENCH_WORKER_LOG: join(work, `worker-${index}.log`) } : {}),
        },
      },
    );
    workerProcesses.push(worker);
  }
  for (const worker of workerProcesses) {
    while (!worker.output().includes('ready')) {
      if (worker.child.exitCode !== null) throw new Error(`worker exited: ${worker.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  // Monitors, created the way POST /monitors does (record + job scheduler), without the HTTP hop.
  const store = new MonitorStore(redis, {
    keyPrefix: monitorKeyPrefix(keyspaceFor(undefined, queueName), queueName),
    historyMaxAgeSeconds: 7 * 86_400,
    historyMaxEntries: 1440,
  });
  const queue = new Queue(monitorQueueName(queueName), { connection: redis });
  const keyPrefix = monitorKeyPrefix(keyspaceFor(undefined, queueName), queueName);
  const scheduler = isSharded
    ? new MonitorScheduler(queue, new ShardStore(redis, keyPrefix), 0)
    : new MonitorScheduler(queue, 0);
  const createdAt = new Date().toISOString();
  const ids = [];
  const createdAtMs = new Map();
  const recordOf = (index) => {
    const record = monitorRecordOf(index, {
      url: `http://127.0.0.1:${nginxPort}/${index < failingCount ? 'fail' : 'm'}/${index}`,
      intervalSeconds: intervalMs / 1000,
      createdAt,
    });
    ids.push(record.id);
    return record;
  };
  const records = Array.from({ length: monitorCount }, (_, index) => recordOf(index));
  const createCpuStart = process.cpuUsage();
  const createRedisCpuStart = processStats(redisServer.pid).cpuSeconds;
  const createStartedMs = Date.now();
  if (createMode === 'bulk') {
    // As POST /monitors/bulk writes them: the route sends up to MONITOR_BULK_MAX_ITEMS (10,000) per request.
    for (let start = 0; start < monitorCount; start += 10_000) {
      const chunk = records.slice(start, start + 10_000);
      const isFirstRunQueued = isCreateOnly || values['first-runs'];
      // Both spellings: builds before the spread first runs take isFirstRunQueued (every first run at once).
      const creation = await createMonitors({ store, scheduler }, chunk, {
        isFirstRunQueued,
        ...(isFirstRunQueued ? { firstRunWithinMs: 60_000 } : {}),
      });
      if (creation.error) throw creation.error;
      const doneMs = Date.now();
      for (const record of chunk) createdAtMs.set(record.id, doneMs);
    }
  } else {
    // As POST /monitors does (record + schedule, without the HTTP hop), 500 in flight.
    for (let start = 0; start < monitorCount; start += 500) {
      await Promise.all(
        records.slice(start, start + 500).map(async (record) => {
          await store.putMonitor(record);
          await scheduler.upsert(record);
          if (isCreateOnly) await scheduler.runNow(record.id, 'manual');
          createdAtMs.set(record.id, Date.now());
        }),
      );
    }
  }
  const createMs = Date.now() - createStartedMs;
  const createCpu = process.cpuUsage(createCpuStart);
  const createRedisCpuSeconds = processStats(redisServer.pid).cpuSeconds - createRedisCpuStart;
  const schedulerCount = await queue.getJobSchedulersCount();
  console.log(
    `created ${monitorCount} monitors (${createMode}) in ${createMs} ms (${schedulerCount} job schedulers, ${isSharded ? 'shards' : 'one per monitor'})`,
  );
  if (isCreateOnly) {
    const result = {
      create: createMode,
      monitors: monitorCount,
      createMs,
      firstRunsQueued: await queue.getWaitingCount(),
      cpuMs: {
        creator: (createCpu.user + createCpu.system) / 1000,
        redis: createRedisCpuSeconds * 1000,
      },
      loadAverage: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
    };
    console.log(JSON.stringify(result, null, 2));
    if (values.json) await writeFile(values.json, `${JSON.stringify({ result }, null, 2)}\n`);
    await queue.close();
    redis.disconnect();
    // No window to measure: what `finally` would do, then out.
    await stopAll();
    await redisServer.stop();
    await rm(work, { recursive: true, force: true });
    process.exit(0);
  }

  const windowStartMs = Date.now();
  const cpuStart = {
    redis: processStats(redisServer.pid).cpuSeconds,
    nginx: processStats(nginx.child.pid).cpuSeconds,
    workers: workerProcesses.map((worker) => processStats(worker.child.pid).cpuSeconds),
  };
  const samples = [];
  const sampleEvery = 10_000;
  while (Date.now() - windowStartMs < durationMs) {
    await new Promise((r) => setTimeout(r, Math.min(sampleEvery, durationMs - (Date.now() - windowStartMs))));
    const info = await redis.info('memory');
    const usedMemory = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
    // Redis's forks (an AOF rewrite, an RDB save): a fork and its child's work compete with the runs.
    const stats = `${await redis.info('stats')}${await redis.info('persistence')}`;
    const forks = Number(/total_forks:(\d+)/.exec(stats)?.[1] ?? 0);
    const isRewriting = /aof_rewrite_in_progress:1/.test(stats);
    const [waiting, active, delayed] = await Promise.all([
      // The shard ticks wait in the prioritized set (one-off runs go ahead of them), the one-off runs in the list.
      queue.getJobCountByTypes('wait', 'prioritized'),
      queue.getActiveCount(),
      queue.getDelayedCount(),
    ]);
    const sample = {
      atSeconds: Math.round((Date.now() - windowStartMs) / 1000),
      redisUsedMib: usedMemory / 1048576,
      redisRssMib: processStats(redisServer.pid).rssMib,
      workerRssMib: workerProcesses.map((worker) => processStats(worker.child.pid).rssMib),
      waiting,
      active,
      delayed,
      forks,
      isRewriting,
      // The machine's 1-minute load average: other processes competing for the 2 cores show here.
      loadAverage: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
    };
    samples.push(sample);
    console.log(
      `t=${sample.atSeconds}s redis used ${sample.redisUsedMib.toFixed(1)} MiB rss ${sample.redisRssMib.toFixed(1)} MiB; ` +
        `worker rss ${sample.workerRssMib.map((v) => v.toFixed(1)).join('/')} MiB; waiting ${waiting} active ${active} delayed ${delayed}; ` +
        `redis forks ${forks}${isRewriting ? ' (AOF rewrite in progress)' : ''}; load ${sample.loadAverage}`,
    );
  }
  const windowEndMs = Date.now();
  const cpuEnd = {
    redis: processStats(redisServer.pid).cpuSeconds,
    nginx: processStats(nginx.child.pid).cpuSeconds,
    workers: workerProcesses.map((worker) => processStats(worker.child.pid).cpuSeconds),
  };
  const windowSeconds = (windowEndMs - windowStartMs) / 1000;

  // Every tick due before the cutoff (15 s before the end, for the last ones to finish) must have run exactly
  // once: a monitor's first tick falls within one interval of its creation, then one every interval. Missed
  // ticks show as a late first tick, a gap between ticks, or no tick in the last interval before the cutoff.
  const cutoffMs = windowEndMs - 15_000;
  let ran = 0;
  let missed = 0;
  let doubled = 0;
  let failedRuns = 0;
  let recheckRuns = 0;
  const lags = [];
  const lagsByDue = [];
  const lagsByMinute = new Map();
  const monitorsMissing = [];
  /** For --lag-breakdown: each scheduled run's monitor index, tick and start. */
  const runsSeen = [];
  for (let start = 0; start < ids.length; start += 500) {
    const batch = ids.slice(start, start + 500);
    const histories = await Promise.all(batch.map((id) => store.history(id, { limit: 100_000 })));
    batch.forEach((id, index) => {
      const counts = new Map();
      for (const entry of histories[index]) {
        if (entry.trigger === 'recheck') recheckRuns += 1;
        if (entry.trigger !== 'schedule' || !entry.scheduledAt) continue;
        const dueMs = Date.parse(entry.scheduledAt);
        const tickMs = dueMs - dueAfterTickMs(id);
        if (tickMs > cutoffMs) continue;
        counts.set(tickMs, (counts.get(tickMs) ?? 0) + 1);
        const lag = Date.parse(entry.at) - dueMs;
        lags.push(lag);
        lagsByDue.push({ dueMs, lag });
        if (isLagBreakdown)
          runsSeen.push({ index: start + index, tickMs, dueMs, atMs: Date.parse(entry.at) });
        const minute = Math.floor((tickMs - windowStartMs) / 60_000);
        if (!lagsByMinute.has(minute)) lagsByMinute.set(minute, []);
        lagsByMinute.get(minute).push(lag);
        if (entry.health !== 'up') failedRuns += 1;
      }
      const ticks = [...counts.keys()].sort((a, b) => a - b);
      ran += ticks.length;
      for (const count of counts.values()) if (count > 1) doubled += count - 1;
      let missedHere = 0;
      const created = createdAtMs.get(id) ?? windowStartMs;
      const first = ticks[0] ?? cutoffMs + intervalMs;
      missedHere += Math.max(0, Math.floor((Math.min(first, cutoffMs + 1) - created - 1) / intervalMs));
      for (let tick = 1; tick < ticks.length; tick += 1)
        missedHere += Math.max(0, Math.round((ticks[tick] - ticks[tick - 1]) / intervalMs) - 1);
      if (ticks.length > 0) missedHere += Math.max(0, Math.floor((cutoffMs - ticks.at(-1)) / intervalMs));
      missed += missedHere;
      if (missedHere > 0 && monitorsMissing.length < 5) monitorsMissing.push(id);
    });
  }
  lags.sort((a, b) => a - b);
  const lagsWhileRewriting = [];
  const lagsOtherwise = [];
  for (const { dueMs, lag } of lagsByDue) {
    const isDuring = rewrites.some(([from, to]) => dueMs >= from && dueMs <= (to ?? windowEndMs));
    (isDuring ? lagsWhileRewriting : lagsOtherwise).push(lag);
  }
  lagsWhileRewriting.sort((a, b) => a - b);
  lagsOtherwise.sort((a, b) => a - b);
  // Workers stop (and flush their logs) before the logs are read.
  const lagBreakdown = isLagBreakdown
    ? await (async () => {
        await stopOwnedWorkers(workerProcesses);
        return breakdownOf(workerProcesses.length, runsSeen, ids, windowStartMs);
      })()
    : undefined;

  // What the status page costs with this many monitors (one computation; it is cached STATUS_CACHE_SECONDS).
  let statusJson = 'skipped (--no-status)';
  if (!values['no-status']) {
    // Cold: the first gathering reads every completed hour and day; warm: the next one reads only current ones.
    const source = new StatusDataSource(
      store,
      monitorKeyPrefix(keyspaceFor(undefined, queueName), queueName),
    );
    const coldStartedMs = performance.now();
    await source.gather(Date.now());
    const coldMs = performance.now() - coldStartedMs;
    const warmStartedMs = performance.now();
    const summary = toStatusSummary(await source.gather(Date.now()), {
      id: 'bench',
      name: 'bench',
      url: '/status',
    });
    const warmMs = performance.now() - warmStartedMs;
    statusJson = {
      coldGatherMs: Math.round(coldMs),
      warmGatherAndMapMs: Math.round(warmMs),
      bytes: JSON.stringify(summary).length,
    };
  }

  const cpuSeconds = {
    redis: cpuEnd.redis - cpuStart.redis,
    workers: cpuEnd.workers.reduce((sum, end, index) => sum + end - cpuStart.workers[index], 0),
  };
  const result = {
    build: isSharded ? 'shards' : 'per-monitor schedulers',
    create: createMode,
    root,
    monitors: monitorCount,
    failingMonitors: failingCount,
    intervalSeconds: intervalMs / 1000,
    windowSeconds,
    workers: workerCount,
    concurrency: Number(values.concurrency),
    createMs,
    ticksRun: ran,
    runsMissed: missed,
    runsDoubled: doubled,
    runsNotUp: failedRuns,
    recheckRuns,
    lagMs: {
      p50: quantile(lags, 0.5),
      p99: quantile(lags, 0.99),
      max: lags.at(-1) ?? null,
      count: lags.length,
    },
    lagP99MsByMinute: [...lagsByMinute.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([minute, values]) => [
        minute,
        quantile(
          values.sort((a, b) => a - b),
          0.99,
        ),
      ]),
    runsPerSecond: ran / windowSeconds,
    memory: {
      redisUsedMibEnd: samples.at(-1)?.redisUsedMib,
      redisRssMibMax: Math.max(...samples.map((s) => s.redisRssMib)),
      workerRssMibMax: workerProcesses.map((_, index) =>
        Math.max(...samples.map((s) => s.workerRssMib[index])),
      ),
    },
    cpuPercent: {
      redis: (100 * (cpuEnd.redis - cpuStart.redis)) / windowSeconds,
      nginx: (100 * (cpuEnd.nginx - cpuStart.nginx)) / windowSeconds,
      workers: cpuEnd.workers.map((end, index) => (100 * (end - cpuStart.workers[index])) / windowSeconds),
    },
    // CPU per scheduled run over the window (re-checks and the status computation after it are not in it).
    cpuMsPerRun: {
      workers: ran > 0 ? (1000 * cpuSeconds.workers) / ran : null,
      redis: ran > 0 ? (1000 * cpuSeconds.redis) / ran : null,
    },
    backlogMax: Math.max(...samples.map((s) => s.waiting)),
    // When (seconds into the window) Redis forked: AOF rewrites or saves, whose child competes for the cores.
    redisForksAtSeconds: samples
      .filter((s, i) => s.forks > (samples[i - 1]?.forks ?? s.forks))
      .map((s) => s.atSeconds),
    // Each AOF rewrite (seconds into the window, from Redis's log) and the lag of runs due during one or not.
    aofRewrites: rewrites.map(([from, to]) => ({
      fromSeconds: Math.round((from - windowStartMs) / 100) / 10,
      toSeconds: to === undefined ? null : Math.round((to - windowStartMs) / 100) / 10,
    })),
    lagMsWhileRewriting: { p99: quantile(lagsWhileRewriting, 0.99), count: lagsWhileRewriting.length },
    lagMsOtherwise: { p99: quantile(lagsOtherwise, 0.99), count: lagsOtherwise.length },
    loadAverage: {
      mean: samples.reduce((sum, sample) => sum + sample.loadAverage, 0) / samples.length,
      max: Math.max(...samples.map((sample) => sample.loadAverage)),
    },
    statusJson,
    monitorsMissingExamples: monitorsMissing,
    ...(lagBreakdown ? { lagBreakdown } : {}),
  };
  console.log(JSON.stringify(result, null, 2));
  if (values.json) await writeFile(values.json, `${JSON.stringify({ result, samples }, null, 2)}\n`);
  await queue.close();
  redis.disconnect();
} finally {
  await stopOwnedChildren(8000);
  await redisServer?.stop();
  await rm(work, { recursive: true, force: true });
}

async function stopOwnedWorkers(workerProcesses) {
  const { stopChild } = await import('./support.mjs');
  await Promise.all(workerProcesses.map((worker) => stopChild(worker.child, 8000)));
}

/** Where the lag of the runs seen comes from, read from the workers' logs (--lag-breakdown). */
function breakdownOf(workerCount, runsSeen, ids, windowStartMs) {
  const ticks = new Map();
  const reconciles = [];
  const loopDelays = [];
  for (let worker = 0; worker < workerCount; worker += 1) {
    const path = join(work, `worker-${worker}.log`);
    if (!existsSync(path)) continue;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line) continue;
      const entry = JSON.parse(line);
      if (entry.msg === 'shard tick run') ticks.set(`${entry.shard}@${entry.tickMs}`, { ...entry, worker });
      else if (entry.msg?.startsWith('monitor schedule reconciled'))
        reconciles.push({
          worker,
          startedAtMs: entry.startedAtMs,
          durationMs: entry.durationMs,
          // Builds whose reconcile reads the records only when they changed apart from their memberships.
          ...(entry.isMembershipRebuilt === undefined
            ? {}
            : { isMembershipRebuilt: entry.isMembershipRebuilt }),
        });
      else if (entry.msg === 'event loop delay') loopDelays.push({ worker, ...entry });
    }
  }
  const sorted = (values) => values.sort((a, b) => a - b);
  const summary = (values) => {
    const s = sorted(values);
    return { p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s.at(-1) ?? null, count: s.length };
  };
  const pickup = [];
  const slotWait = [];
  const byMinute = new Map();
  const byWorker = new Map();
  const lateRuns = { count: 0, pickupMs: 0, slotWaitMs: 0 };
  let unmatched = 0;
  const duringReconcile = [];
  const outsideReconcile = [];
  for (const run of runsSeen) {
    const tick = ticks.get(
      `${shardIdOf(shardOf({ id: ids[run.index], intervalSeconds: intervalMs / 1000 }))}@${run.tickMs}`,
    );
    const lag = run.atMs - run.dueMs;
    if (reconciles.some((r) => run.atMs >= r.startedAtMs && run.tickMs <= r.startedAtMs + r.durationMs))
      duringReconcile.push(lag);
    else outsideReconcile.push(lag);
    if (!tick) {
      unmatched += 1;
      continue;
    }
    // How long past the member's time its shard's job was taken up, then its wait for a slot from then (or from
    // its time, when the job was taken up before it): the two add up to its lag.
    const pickupMs = Math.max(0, tick.startedAtMs - run.dueMs);
    const waitMs = run.atMs - Math.max(tick.startedAtMs, run.dueMs);
    pickup.push(pickupMs);
    slotWait.push(waitMs);
    const minute = Math.floor((run.tickMs - windowStartMs) / 60_000);
    if (!byMinute.has(minute)) byMinute.set(minute, { pickup: [], slotWait: [] });
    byMinute.get(minute).pickup.push(pickupMs);
    byMinute.get(minute).slotWait.push(waitMs);
    if (!byWorker.has(tick.worker)) byWorker.set(tick.worker, { runs: 0, lags: [] });
    byWorker.get(tick.worker).runs += 1;
    byWorker.get(tick.worker).lags.push(lag);
    if (lag > 2000) {
      lateRuns.count += 1;
      lateRuns.pickupMs += pickupMs;
      lateRuns.slotWaitMs += waitMs;
    }
  }
  const shardTicks = [...ticks.values()];
  return {
    pickupMs: summary(pickup),
    slotWaitMs: summary(slotWait),
    runsOver2s: {
      count: lateRuns.count,
      meanPickupMs: lateRuns.count ? lateRuns.pickupMs / lateRuns.count : null,
      meanSlotWaitMs: lateRuns.count ? lateRuns.slotWaitMs / lateRuns.count : null,
    },
    byMinute: [...byMinute.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([minute, v]) => ({
        minute,
        pickupP99: summary(v.pickup).p99,
        slotWaitP99: summary(v.slotWait).p99,
      })),
    byWorker: [...byWorker.entries()].map(([worker, v]) => ({
      worker,
      runs: v.runs,
      shardTicks: shardTicks.filter((t) => t.worker === worker).length,
      lag: summary(v.lags),
    })),
    shardTickMembers: summary(shardTicks.map((t) => t.members)),
    shardTickDurationMs: summary(shardTicks.map((t) => t.durationMs)),
    probesWaitingAtPickup: summary(shardTicks.map((t) => t.waitingBefore)),
    reconciles,
    lagDuringReconcileMs: summary(duringReconcile),
    lagOutsideReconcileMs: summary(outsideReconcile),
    eventLoopDelayP99Ms: summary(loopDelays.map((d) => d.p99Ms)),
    eventLoopDelayMaxMs: summary(loopDelays.map((d) => d.maxMs)),
    runsUnmatched: unmatched,
  };
}
