// Benchmark: the same service against one redis-server and against a three-master Redis Cluster, in one run:
// single probes through POST /probe?wait (API → BullMQ → worker → engine → result) and monitor runs (the
// monitor worker's run, store writes and history), side by side as a ratio. Loopback only; stops what it starts.
// Usage: npm run build && node bench/redis-modes.mjs [--probes 400 --concurrency 16 --monitors 50 --rounds 4]
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Pool } from 'undici';
import { loadConfig } from '../dist/config.js';
import { loadMonitorConfig } from '../dist/monitor/config.js';
import { ShardStore } from '../dist/monitor/schedule/shard-store.js';
import { MonitorScheduler, monitorQueueName } from '../dist/monitor/scheduler.js';
import { monitorKeyPrefix } from '../dist/monitor/workers.js';
import { closeRedisClient, createRedisConnector } from '../dist/redis/connection.js';
import { startEmbeddedRedis } from '../dist/redis/embedded.js';
import { startService } from '../dist/service.js';
import { freePort } from './support.mjs';

const { values } = parseArgs({
  options: {
    probes: { type: 'string', default: '400' },
    concurrency: { type: 'string', default: '16' },
    monitors: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '4' },
  },
});
const probeCount = Number(values.probes);
const concurrency = Number(values.concurrency);
const monitorCount = Number(values.monitors);
const rounds = Number(values.rounds);
const run = promisify(execFile);
const work = await mkdtemp(join(tmpdir(), 'reach-bench-modes-'));
const children = [];

/** A three-master Cluster (no replicas: the bench measures the data path, not failover). */
async function startCluster() {
  const ports = [];
  for (let index = 0; index < 3; index += 1) {
    const port = await freePort();
    const busPort = await freePort();
    const config = join(work, `node-${port}.conf`);
    await writeFile(
      config,
      [
        'bind 127.0.0.1',
        `port ${port}`,
        `cluster-port ${busPort}`,
        'cluster-enabled yes',
        `cluster-config-file ${join(work, `nodes-${port}.conf`)}`,
        'save ""',
        'appendonly no',
        'daemonize no',
        'logfile ""',
        `dir ${work}`,
      ].join('\n'),
    );
    const child = spawn('redis-server', [config], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise((resolve) => {
      child.stdout.on('data', (chunk) => {
        if (/ready to accept connections/i.test(chunk.toString())) resolve();
      });
    });
    ports.push(port);
  }
  await run('redis-cli', [
    '--cluster',
    'create',
    ...ports.map((port) => `127.0.0.1:${port}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ]);
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const infos = await Promise.all(
      ports.map((port) => run('redis-cli', ['-p', String(port), 'CLUSTER', 'INFO'])),
    );
    if (infos.every(({ stdout }) => stdout.includes('cluster_state:ok'))) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { env: { REDIS_CLUSTER_NODES: ports.map((port) => `127.0.0.1:${port}`).join(',') }, ports };
}

function percentile(sorted, share) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))];
}

/** POST /probe?wait for `count` probes at `concurrency`: probes per second and latency percentiles. */
async function probePipeline(apiUrl, targetUrl, count) {
  const pool = new Pool(apiUrl, { connections: concurrency, pipelining: 1 });
  const latencies = [];
  let next = 0;
  const startedMs = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next += 1;
        const sentMs = performance.now();
        const response = await pool.request({
          path: '/probe?wait=30',
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ url: targetUrl, timeoutMs: 5000 }),
        });
        const body = await response.body.json();
        if (response.statusCode !== 200 || body.status !== 'completed')
          throw new Error(`probe answered ${response.statusCode} ${JSON.stringify(body).slice(0, 200)}`);
        latencies.push(performance.now() - sentMs);
      }
    }),
  );
  const elapsedMs = performance.now() - startedMs;
  await pool.close();
  latencies.sort((a, b) => a - b);
  return {
    perSecond: (count / elapsedMs) * 1000,
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
  };
}

/** `monitorCount` monitors, each run `rounds` times on demand: monitor runs per second, store writes included. */
async function monitorRuns(apiUrl, targetUrl, connector, queueName) {
  const ids = [];
  for (let index = 0; index < monitorCount; index += 1) {
    const response = await fetch(`${apiUrl}/monitors`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: `bench ${index}`, url: targetUrl, intervalSeconds: 3600 }),
    });
    if (response.status !== 201) throw new Error(`monitor create answered ${response.status}`);
    ids.push((await response.json()).id);
  }
  const client = connector.client('blocking');
  const queue = new Queue(monitorQueueName(queueName), connector.bullOn(client));
  // The service's own schedule keys (its shard store); runNow touches the queue alone.
  const shards = new ShardStore(client, monitorKeyPrefix(connector.keys, queueName));
  const scheduler = new MonitorScheduler(queue, shards, 3600_000);
  const historyLength = async (id) =>
    (await (await fetch(`${apiUrl}/monitors/${id}/history?limit=100`)).json()).entries.length;
  const waitForRuns = async (expected) => {
    for (let attempt = 0; attempt < 6000; attempt += 1) {
      const lengths = await Promise.all(ids.map(historyLength));
      if (lengths.every((length) => length >= expected)) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('monitor runs did not finish');
  };
  await waitForRuns(1); // the first run each create starts
  const startedMs = performance.now();
  for (let round = 1; round <= rounds; round += 1) {
    await Promise.all(ids.map((id) => scheduler.runNow(id, 'manual')));
    await waitForRuns(1 + round);
  }
  const elapsedMs = performance.now() - startedMs;
  await queue.close();
  await closeRedisClient(client);
  return { perSecond: ((monitorCount * rounds) / elapsedMs) * 1000 };
}

/** CPU seconds Redis has used so far, summed over the nodes (INFO cpu). */
async function redisCpuSeconds(nodes) {
  let total = 0;
  for (const node of nodes) {
    const info = await node.info('cpu');
    for (const name of ['used_cpu_sys', 'used_cpu_user'])
      total += Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  }
  return total;
}

/** The work's own figures plus this process's CPU (API and worker run in it) and Redis's, per unit of work. */
async function withCpu(redisNodes, units, work) {
  const processBefore = process.cpuUsage();
  const redisBefore = await redisCpuSeconds(redisNodes);
  const result = await work();
  const processUsed = process.cpuUsage(processBefore);
  const redisUsed = (await redisCpuSeconds(redisNodes)) - redisBefore;
  return {
    ...result,
    serviceCpuMs: (processUsed.user + processUsed.system) / 1000 / units,
    redisCpuMs: (redisUsed * 1000) / units,
  };
}

async function measure(mode, env, targetUrl, redisNodes) {
  const queueName = `bench-${mode}-${Date.now()}`;
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    QUEUE_NAME: queueName,
    PROBE_ALLOW_PRIVATE: 'true',
    RATE_LIMIT_POINTS: '10000000',
    RATE_LIMIT_READ_POINTS: '10000000',
    WORKER_CONCURRENCY: String(concurrency),
    LOG_LEVEL: 'silent',
    ...env,
  });
  const service = await startService({
    config,
    roles: { api: true, worker: true },
    logger: pino({ level: 'silent' }),
    monitorConfig: loadMonitorConfig({ MONITOR_FIRST_TICK_DELAY_SECONDS: '3600', MONITOR_CONCURRENCY: '16' }),
  });
  const connector = createRedisConnector(config.redis, queueName);
  try {
    await probePipeline(service.apiUrl, targetUrl, Math.min(100, probeCount)); // warm-up
    const probes = await withCpu(redisNodes, probeCount, () =>
      probePipeline(service.apiUrl, targetUrl, probeCount),
    );
    const monitors = await withCpu(redisNodes, monitorCount * rounds, () =>
      monitorRuns(service.apiUrl, targetUrl, connector, queueName),
    );
    return { probes, monitors };
  } finally {
    await service.close();
    await connector.close();
  }
}

const measures = [
  ['single probes per second (POST /probe?wait)', (run) => run.probes.perSecond, 1],
  ['probe latency p50, ms', (run) => run.probes.p50, 1],
  ['probe latency p95, ms', (run) => run.probes.p95, 1],
  ['service CPU per probe, ms (API + worker)', (run) => run.probes.serviceCpuMs, 2],
  ['Redis CPU per probe, ms (all nodes)', (run) => run.probes.redisCpuMs, 2],
  ['monitor runs per second', (run) => run.monitors.perSecond, 1],
  ['service CPU per monitor run, ms', (run) => run.monitors.serviceCpuMs, 2],
  ['Redis CPU per monitor run, ms (all nodes)', (run) => run.monitors.redisCpuMs, 2],
];

const target = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>ok</body></html>');
});
target.listen(0, '127.0.0.1');
await once(target, 'listening');
const targetUrl = `http://127.0.0.1:${target.address().port}/`;
const single = await startEmbeddedRedis({ dataDir: join(work, 'single') });
const nodes = [];
try {
  const cluster = await startCluster();
  const singleEnv = { REDIS_URL: single.url };
  const singleNodes = [new Redis(single.url)];
  const clusterNodes = cluster.ports.map((port) => new Redis({ host: '127.0.0.1', port }));
  nodes.push(...singleNodes, ...clusterNodes);
  const loadBefore = loadavg();
  // A B B A: the machine's load drifts, so each mode runs once early and once late; the two are averaged.
  const runs = { single: [], cluster: [] };
  runs.single.push(await measure('single', singleEnv, targetUrl, singleNodes));
  runs.cluster.push(await measure('cluster', cluster.env, targetUrl, clusterNodes));
  runs.cluster.push(await measure('cluster', cluster.env, targetUrl, clusterNodes));
  runs.single.push(await measure('single', singleEnv, targetUrl, singleNodes));
  const loadAfter = loadavg();
  const mean = (list, read) => list.reduce((sum, run) => sum + read(run), 0) / list.length;
  const loads = (load) => load.map((value) => value.toFixed(2)).join(' ');
  console.log(
    `probes ${probeCount} at concurrency ${concurrency}; ${monitorCount} monitors × ${rounds} rounds`,
  );
  console.log(`load average before ${loads(loadBefore)}, after ${loads(loadAfter)}`);
  console.log('| measure | one server | cluster (3 masters) | cluster / one server |');
  console.log('|---|---|---|---|');
  for (const [name, read, digits] of measures) {
    const one = mean(runs.single, read);
    const three = mean(runs.cluster, read);
    console.log(
      `| ${name} | ${one.toFixed(digits)} | ${three.toFixed(digits)} | ${(three / one).toFixed(2)}× |`,
    );
  }
} finally {
  for (const node of nodes) node.disconnect();
  target.close();
  await single.stop();
  for (const child of children) {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }
  await rm(work, { recursive: true, force: true });
}
process.exit(0);
