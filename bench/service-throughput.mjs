// Benchmark: probes of a healthy loopback target through POST /probe?wait (API → BullMQ → worker → engine),
// against prometheus-blackbox-exporter's /probe on the same target at the same concurrency.
// Usage: npm run bench:service [-- --probes 2000 --concurrency 16,64]   (loopback only; stops what it starts)
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { probe } from '../dist/engine.js';
import { startEmbeddedRedis } from '../dist/redis/embedded.js';
import {
  freePort,
  startBlackboxExporter,
  startChild,
  startNginx,
  stopChild,
  stopOwnedChildren,
  waitForHttp,
} from './support.mjs';

const { values } = parseArgs({
  options: {
    probes: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '1,16,64' },
    warmup: { type: 'string', default: '200' },
    'no-blackbox': { type: 'boolean', default: false },
    topologies: { type: 'string', default: 'serve,split' },
    // Writes a V8 CPU profile of each reach process (node --cpu-prof) into this directory.
    profile: { type: 'string' },
    // Prints Redis's INFO commandstats per probe for each reach row (calls and microseconds by command).
    commandstats: { type: 'boolean', default: false },
    // Worker slots per worker process; default: the client concurrency of the row.
    'worker-concurrency': { type: 'string' },
  },
});
const probeCount = Number(values.probes);
const warmupCount = Number(values.warmup);
const concurrencies = values.concurrency.split(',').map(Number);
const topologies = values.topologies.split(',');
const root = resolve(import.meta.dirname, '..');
const work = await mkdtemp(join(tmpdir(), 'reach-bench-'));
async function startBlackbox(concurrency) {
  const blackbox = await startBlackboxExporter({
    directory: work,
    timeoutSeconds: 5,
    httpSettings: ['preferred_ip_protocol: ip4', 'valid_status_codes: [200]'],
    start: startChild,
  });
  return { ...blackbox, concurrency };
}

/** `serve`: API and worker in one process. `split`: `reach api` and `reach worker` as two processes. */
async function startReach(redisUrl, concurrency, topology) {
  const port = await freePort();
  const env = {
    REDIS_URL: redisUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    QUEUE_NAME: `bench-${concurrency}`,
    PROBE_ALLOW_PRIVATE: 'true',
    WORKER_CONCURRENCY: values['worker-concurrency'] ?? String(concurrency),
    // One worker process (serve's default is one per core): the topologies compared are one process and two.
    WORKER_PROCESSES: '1',
    RATE_LIMIT_POINTS: '10000000',
    QUEUE_MAX_WAITING: '1000000',
    RESULT_TTL_SECONDS: '600',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
  };
  const cli = join(root, 'dist/cli.js');
  // One file per role and concurrency (Node 20 does not expand ${pid} in --cpu-prof-name).
  const node = (role) =>
    values.profile
      ? [
          '--cpu-prof',
          '--cpu-prof-dir',
          resolve(values.profile),
          '--cpu-prof-name',
          `${role}-${concurrency}.cpuprofile`,
          cli,
          role,
        ]
      : [cli, role];
  const started = [startChild(process.execPath, node(topology === 'split' ? 'api' : 'serve'), { env })];
  if (topology === 'split') started.push(startChild(process.execPath, node('worker'), { env }));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/readyz`, `reach ${topology}`);
  } catch (error) {
    throw new Error(`${error.message}\n${started.map((each) => each.output()).join('\n')}`);
  }
  return { url, children: started.map((each) => each.child) };
}

/** Reach's processes and the exporter get 10 s to exit on SIGTERM before a SIGKILL. */
const stop = (child) => stopChild(child, 10_000);

function percentile(sorted, fraction) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)];
}

/** Runs `total` calls of `one` with `concurrency` in flight; returns probes/s and latency percentiles (ms). */
async function drive(total, concurrency, one) {
  const latencies = [];
  let failures = 0;
  let next = 0;
  const startedMs = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next += 1;
        const t0 = performance.now();
        const isOk = await one();
        latencies.push(performance.now() - t0);
        if (!isOk) failures += 1;
      }
    }),
  );
  const seconds = (performance.now() - startedMs) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    probes: total,
    failures,
    perSecond: total / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat (clock ticks of 10 ms). */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Runs `action` and returns how many CPU milliseconds per probe each named process spent in it. */
async function withCpu(processes, probes, action) {
  const before = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const ownBefore = process.cpuUsage();
  const result = await action();
  const own = process.cpuUsage(ownBefore);
  const cpuMsPerProbe = Object.fromEntries(
    Object.entries(processes).map(([name, pid]) => [
      name,
      ((cpuSeconds(pid) - before[name]) * 1000) / probes,
    ]),
  );
  cpuMsPerProbe['bench client'] = (own.user + own.system) / 1000 / probes;
  return { ...result, cpuMsPerProbe };
}

/** Redis's INFO commandstats: total calls, and calls and microseconds by command. */
async function redisCommandStats(redisUrl) {
  const client = new Redis(redisUrl);
  const info = await client.info('commandstats');
  await client.quit();
  const byCommand = {};
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    byCommand[match[1]] = { calls: Number(match[2]), usec: Number(match[3]) };
    calls += Number(match[2]);
  }
  return { calls, byCommand };
}

function commandStatsPerProbe(before, after, probes) {
  return Object.entries(after.byCommand)
    .map(([name, stats]) => ({
      name,
      calls: (stats.calls - (before.byCommand[name]?.calls ?? 0)) / probes,
      usec: (stats.usec - (before.byCommand[name]?.usec ?? 0)) / probes,
    }))
    .filter((row) => row.calls > 0.01)
    .sort((a, b) => b.usec - a.usec);
}

const results = [];
let redis;
try {
  // One nginx process (no master), which serves: its CPU is the target's.
  const nginx = await startNginx(join(work, 'nginx'));
  const targetUrl = `http://127.0.0.1:${nginx.port}/`;
  const nginxPid = nginx.child.pid;
  redis = await startEmbeddedRedis({ dataDir: join(work, 'redis') });
  console.log(
    `target ${targetUrl} (nginx); redis ${redis.port}; ${probeCount} probes per run, ${warmupCount} warm-up`,
  );

  for (const concurrency of concurrencies) {
    // 1. The engine alone, in this process: what one probe costs without HTTP, queue or Redis.
    await drive(
      Math.min(warmupCount, 100),
      concurrency,
      async () => (await probe({ url: targetUrl, timeoutMs: 5000 })).verdict.cause === 'ok',
    );
    const engine = await withCpu({ nginx: nginxPid }, probeCount, () =>
      drive(probeCount, concurrency, async () => {
        const report = await probe({ url: targetUrl, timeoutMs: 5000 });
        return report.verdict.cause === 'ok';
      }),
    );
    results.push({ system: 'reach engine only (in-process probe())', concurrency, ...engine });

    // 2. The full pipeline: POST /probe?wait=60 → BullMQ → worker → engine → result back to the client.
    for (const topology of topologies) {
      const reach = await startReach(redis.url, concurrency, topology);
      const pool = new Pool(reach.url, { connections: concurrency, pipelining: 1 });
      const body = JSON.stringify({ url: targetUrl, timeoutMs: 5000 });
      const submit = async () => {
        const response = await pool.request({
          path: '/probe?wait=60',
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        const payload = await response.body.json();
        return response.statusCode === 200 && payload.report?.verdict?.cause === 'ok';
      };
      await drive(warmupCount, concurrency, submit);
      const statsBefore = await redisCommandStats(redis.url);
      const processes = { nginx: nginxPid, redis: redis.pid };
      reach.children.forEach((child, index) => {
        processes[index === 0 ? (topology === 'split' ? 'reach api' : 'reach serve') : 'reach worker'] =
          child.pid;
      });
      const pipeline = await withCpu(processes, probeCount, () => drive(probeCount, concurrency, submit));
      const statsAfter = await redisCommandStats(redis.url);
      results.push({
        system:
          topology === 'split'
            ? 'reach POST /probe?wait (reach api + reach worker)'
            : 'reach POST /probe?wait (reach serve, 1 process)',
        concurrency,
        ...pipeline,
        redisCommandsPerProbe: (statsAfter.calls - statsBefore.calls - 2) / probeCount,
        commandStats: commandStatsPerProbe(statsBefore, statsAfter, probeCount),
      });
      await pool.close();
      for (const child of reach.children) await stop(child);
    }

    // 3. prometheus-blackbox-exporter probing the same target at the same concurrency.
    if (!values['no-blackbox']) {
      const blackbox = await startBlackbox(concurrency);
      const bbPool = new Pool(blackbox.url, { connections: concurrency, pipelining: 1 });
      const path = `/probe?module=http_2xx&target=${encodeURIComponent(targetUrl)}`;
      const scrape = async () => {
        const response = await bbPool.request({ path, method: 'GET' });
        const text = await response.body.text();
        return response.statusCode === 200 && /^probe_success 1$/m.test(text);
      };
      await drive(warmupCount, concurrency, scrape);
      const exporter = await withCpu(
        { nginx: nginxPid, blackbox_exporter: blackbox.child.pid },
        probeCount,
        () => drive(probeCount, concurrency, scrape),
      );
      results.push({ system: 'prometheus-blackbox-exporter /probe', concurrency, ...exporter });
      await bbPool.close();
      await stop(blackbox.child);
    }
  }
} finally {
  await stopOwnedChildren(10_000);
  await redis?.stop();
  await rm(work, { recursive: true, force: true });
}

const format = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
console.log('\n| system | concurrency | probes | failures | probes/s | p50 ms | p99 ms | Redis cmds/probe |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const row of results) {
  console.log(
    `| ${row.system} | ${row.concurrency} | ${row.probes} | ${row.failures} | ${format(row.perSecond, 0)} | ${format(row.p50Ms)} | ${format(row.p99Ms)} | ${row.redisCommandsPerProbe === undefined ? '' : format(row.redisCommandsPerProbe)} |`,
  );
}
console.log(
  '\nCPU milliseconds per probe, by process (bench client = this process: load generator, and the engine itself in the "engine only" rows):',
);
for (const row of results) {
  const parts = Object.entries(row.cpuMsPerProbe ?? {}).map(([name, ms]) => `${name} ${format(ms, 2)}`);
  const total = Object.values(row.cpuMsPerProbe ?? {}).reduce((sum, ms) => sum + ms, 0);
  console.log(
    `- ${row.system}, concurrency ${row.concurrency}: ${parts.join(', ')}; total ${format(total, 2)}`,
  );
}
if (values.commandstats) {
  console.log('\nRedis commands per probe (calls, microseconds inside Redis), by command:');
  for (const row of results.filter((each) => each.commandStats)) {
    const parts = row.commandStats.map(
      (each) => `${each.name} ${format(each.calls, 2)}×/${format(each.usec, 1)}µs`,
    );
    console.log(`- ${row.system}, concurrency ${row.concurrency}: ${parts.join(', ')}`);
  }
}
console.log('');
for (const concurrency of concurrencies) {
  const exporter = results.find(
    (row) => row.concurrency === concurrency && row.system.startsWith('prometheus'),
  );
  for (const reach of results.filter(
    (row) => row.concurrency === concurrency && row.system.startsWith('reach POST'),
  )) {
    if (!exporter) continue;
    const ratio = format(reach.perSecond / exporter.perSecond, 2);
    console.log(
      `concurrency ${concurrency}: ${reach.system} / blackbox_exporter probes per second = ${ratio}`,
    );
  }
}
