// Benchmark: a batch with vantages and one control (POST /batches, `vantages: "all"`, `controls: [...]`), this build
// against another (--baseline DIR, built: DIR/dist/cli.js) in one run on one Redis, rounds alternated. Each build
// runs `reach api` and two vantage workers (`reach worker --vantage a|b`) under its own queue name. Counts the
// requests that reach the control (by path, one path per build) and the CPU of the API, the workers and Redis per
// URL. Aim (#14): the controls probed about once per vantage and batch, not once per URL and vantage.
// Usage: npm run build && node bench/vantage-batch-controls.mjs [--urls 400] [--rounds 2] [--baseline DIR]
//        [--json out.json]  (loopback only; stops what it starts, by pid)
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startEmbeddedRedis } from '../dist/redis/embedded.js';
import { cpuSecondsOf, loadAverage, root, startChild, stopOwnedChildren } from './batch-support.mjs';
import { freePort } from './support.mjs';

const { values } = parseArgs({
  options: {
    urls: { type: 'string', default: '400' },
    rounds: { type: 'string', default: '2' },
    baseline: { type: 'string' },
    json: { type: 'string' },
  },
});
const urlCount = Number(values.urls);
const roundCount = Number(values.rounds);
const vantageNames = ['a', 'b'];
const builds = [{ name: 'this', cli: join(root, 'dist', 'cli.js'), queueName: 'benchvc' }];
if (values.baseline)
  builds.push({
    name: 'baseline',
    cli: join(resolve(values.baseline), 'dist', 'cli.js'),
    queueName: 'benchvcbase',
  });
const work = await mkdtemp(join(tmpdir(), 'reach-bench-vantage-controls-'));

/** A reach process of a build, with the environment it runs in. */
const startReachProcess = (args, env) =>
  startChild(process.execPath, args, { env: { ...process.env, ...env } });

let redisServer;
const servers = [];
try {
  redisServer = await startEmbeddedRedis({ dataDir: join(work, 'redis') });
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });

  /** A loopback HTTP server in this process (its CPU is not counted); counts requests by path. */
  const listen = async (countsByPath) => {
    const server = createHttpServer((request, response) => {
      countsByPath.set(request.url, (countsByPath.get(request.url) ?? 0) + 1);
      response.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>ok</body></html>');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    servers.push(server);
    return `http://127.0.0.1:${server.address().port}`;
  };
  const siteHits = new Map();
  const controlHits = new Map();
  const siteUrl = await listen(siteHits);
  const controlUrl = await listen(controlHits);

  const common = {
    REDIS_URL: redisServer.url,
    LOG_LEVEL: 'warn',
    PROBE_ALLOW_PRIVATE: 'true',
    RATE_LIMIT_POINTS: '10000000',
    RATE_LIMIT_READ_POINTS: '10000000',
    QUEUE_MAX_WAITING: '10000000',
    BATCH_MAX_URLS: String(urlCount * vantageNames.length),
    API_KEYS: '',
  };
  const services = [];
  for (const build of builds) {
    const env = { ...common, QUEUE_NAME: build.queueName };
    const apiPort = await freePort();
    const api = startReachProcess([build.cli, 'api'], { ...env, HOST: '127.0.0.1', PORT: String(apiPort) });
    const workers = vantageNames.map((name) =>
      startReachProcess([build.cli, 'worker', '--vantage', name], { ...env, WORKER_METRICS_PORT: '0' }),
    );
    services.push({ build, api, workers, apiUrl: `http://127.0.0.1:${apiPort}` });
  }
  for (const { api, workers, apiUrl } of services) {
    for (let attempt = 0; ; attempt += 1) {
      if (attempt > 1200)
        throw new Error(`service did not start: ${api.stderrTail()} ${workers[0].stderrTail()}`);
      for (const part of [api, ...workers])
        if (part.child.exitCode !== null) throw new Error(`a service process exited: ${part.stderrTail()}`);
      try {
        const answer = await (await fetch(`${apiUrl}/vantages`)).json();
        if (answer.vantages?.length === vantageNames.length) break;
      } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const redisCpuMs = async () => {
    const cpu = await redis.info('cpu');
    const field = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0);
    return (field('used_cpu_sys') + field('used_cpu_user')) * 1000;
  };
  const serviceCpuMs = ({ api, workers }) =>
    1000 * [api, ...workers].reduce((sum, { child }) => sum + cpuSecondsOf(child.pid), 0);

  /** One batch of `count` URLs from both vantages with one control; until every URL has its comparison. */
  async function runBatch(service, round, count) {
    const controlPath = `/control-${service.build.name}-${round}`;
    const urls = Array.from(
      { length: count },
      (_, index) => `${siteUrl}/${service.build.name}/${round}/${index}`,
    );
    const startedMs = performance.now();
    const cpuBefore = serviceCpuMs(service);
    const redisBefore = await redisCpuMs();
    const response = await fetch(`${service.apiUrl}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        urls,
        vantages: 'all',
        controls: [`${controlUrl}${controlPath}`],
        timeoutMs: 5000,
      }),
    });
    const submitted = await response.json();
    if (response.status !== 202) throw new Error(`batch refused: ${JSON.stringify(submitted)}`);
    let status;
    for (let attempt = 0; ; attempt += 1) {
      if (attempt > 24_000) throw new Error('the batch never finished');
      status = await (await fetch(`${service.apiUrl}/batches/${submitted.id}`)).json();
      if (status.pending === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    return {
      build: service.build.name,
      round,
      urls: count,
      wallSeconds: (performance.now() - startedMs) / 1000,
      byCause: status.byCause,
      controlRequests: controlHits.get(controlPath) ?? 0,
      serviceCpuMsPerUrl: (serviceCpuMs(service) - cpuBefore) / count,
      redisCpuMsPerUrl: ((await redisCpuMs()) - redisBefore) / count,
    };
  }

  const loadBefore = loadAverage();
  console.log(`load average before: ${loadBefore}`);
  // Warm-up: one small batch each.
  for (const service of services) await runBatch(service, 'warmup', 20);
  const runs = [];
  for (let round = 0; round < roundCount; round += 1) {
    const order = round % 2 === 0 ? services : [...services].reverse();
    for (const service of order) {
      const run = await runBatch(service, round, urlCount);
      run.loadAverage = loadAverage();
      runs.push(run);
      console.log(JSON.stringify(run));
    }
  }
  const sum = (build, key) =>
    runs.filter((run) => run.build === build).reduce((total, run) => total + run[key], 0) / roundCount;
  const summary = Object.fromEntries(
    builds.map(({ name }) => [
      name,
      {
        controlRequestsPerBatch: sum(name, 'controlRequests'),
        serviceCpuMsPerUrl: sum(name, 'serviceCpuMsPerUrl'),
        redisCpuMsPerUrl: sum(name, 'redisCpuMsPerUrl'),
        wallSeconds: sum(name, 'wallSeconds'),
      },
    ]),
  );
  const result = {
    node: process.version,
    urlsPerBatch: urlCount,
    vantages: vantageNames,
    loadBefore,
    runs,
    summary,
  };
  console.log(JSON.stringify(summary, null, 2));
  if (summary.baseline) {
    const ratio = (key) => (summary.this[key] / summary.baseline[key]).toFixed(2);
    console.log(
      `this / baseline: control requests ${ratio('controlRequestsPerBatch')}, service CPU per URL ` +
        `${ratio('serviceCpuMsPerUrl')}, Redis CPU per URL ${ratio('redisCpuMsPerUrl')}, wall ${ratio('wallSeconds')}`,
    );
  }
  if (values.json) await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`);
  redis.disconnect();
} finally {
  await stopOwnedChildren();
  for (const server of servers) server.close();
  await redisServer?.stop();
  await rm(work, { recursive: true, force: true });
}
