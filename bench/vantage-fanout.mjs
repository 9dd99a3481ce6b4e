// Benchmark: one probe from 3 vantages (3 parts on the vantages' queues and one comparison job) against 3 single
// probes of the same URL. Measures submit-to-result latency (p50/p99), CPU of the API, the workers and Redis,
// and Redis commands, per vantage-probe. Aim (#13): the fan-out costs no more than its children plus one parent.
// With --baseline DIR (another checkout, built: DIR/dist/cli.js), a second service from that build runs on the
// same Redis under its own queue name, and its fan-outs and single probes take turns with this build's, so the
// two are compared in one run under the same load.
// Usage: npm run build && node bench/vantage-fanout.mjs [--probes 200] [--concurrency 4] [--blocks 4]
//        [--warmup 20] [--idle 5] [--baseline DIR] [--json out.json]  (loopback only; stops what it starts, by pid)
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startEmbeddedRedis } from '../dist/redis/embedded.js';
import { freePort, processStats, quantile, startChild, stopOwnedChildren } from './support.mjs';

const { values } = parseArgs({
  options: {
    probes: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '4' },
    blocks: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '20' },
    idle: { type: 'string', default: '5' },
    baseline: { type: 'string' },
    json: { type: 'string' },
  },
});
const fanOutCount = Number(values.probes);
const concurrency = Number(values.concurrency);
const blockCount = Number(values.blocks);
const warmupCount = Number(values.warmup);
const idleSeconds = Number(values.idle);
const vantageNames = ['a', 'b', 'c'];
const root = resolve(import.meta.dirname, '..');
const builds = [{ name: 'this', cli: join(root, 'dist', 'cli.js'), queueName: 'bench' }];
if (values.baseline)
  builds.push({
    name: 'baseline',
    cli: join(resolve(values.baseline), 'dist', 'cli.js'),
    queueName: 'benchbase',
  });
const work = await mkdtemp(join(tmpdir(), 'reach-bench-vantages-'));
/** CPU milliseconds (user + system) of a process, from /proc. */
const cpuMs = (pid) => processStats(pid).cpuSeconds * 1000;

function loadAverage() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

let redisServer;
let target;
try {
  redisServer = await startEmbeddedRedis({ dataDir: join(work, 'redis') });
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });

  // The target: a small page on loopback, in this process (its CPU is not part of the comparison).
  target = createHttpServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>ok</body></html>');
  });
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  const targetUrl = `http://127.0.0.1:${target.address().port}/`;

  const common = {
    REDIS_URL: redisServer.url,
    LOG_LEVEL: 'warn',
    PROBE_ALLOW_PRIVATE: 'true',
    RATE_LIMIT_POINTS: '10000000',
    RATE_LIMIT_READ_POINTS: '10000000',
    QUEUE_MAX_WAITING: '10000000',
    API_KEYS: '',
  };
  // Each build: its API and three vantage workers, on its own queue name (its own registry and queues).
  const services = [];
  for (const build of builds) {
    const env = { ...common, QUEUE_NAME: build.queueName };
    const apiPort = await freePort();
    const api = startChild(process.execPath, [build.cli, 'api'], {
      env: { ...env, HOST: '127.0.0.1', PORT: String(apiPort) },
    });
    const workers = vantageNames.map((name) =>
      startChild(process.execPath, [build.cli, 'worker', '--vantage', name, '--labels', `bench=${name}`], {
        env,
      }),
    );
    services.push({ build, api, workers, apiUrl: `http://127.0.0.1:${apiPort}` });
  }

  // Ready when each API answers and lists the three vantages.
  for (const { api, workers, apiUrl } of services) {
    for (let attempt = 0; ; attempt += 1) {
      if (attempt > 1200) throw new Error(`service did not start: ${api.output()} ${workers[0].output()}`);
      for (const part of [api, ...workers])
        if (part.child.exitCode !== null) throw new Error(`a service process exited: ${part.output()}`);
      try {
        const answer = await (await fetch(`${apiUrl}/vantages`)).json();
        if (answer.vantages?.length === vantageNames.length) break;
      } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  let failures = 0;
  const submit = async (apiUrl, body) => {
    const response = await fetch(`${apiUrl}/probe?wait=60`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    const report = answer.report;
    const isComplete =
      response.status === 200 &&
      report?.verdict?.cause === 'ok' &&
      (!body.vantages || report.vantages.every((vantage) => vantage.status === 'completed'));
    if (!isComplete) {
      failures += 1;
      if (failures <= 3)
        console.error(`unexpected answer ${response.status}: ${JSON.stringify(answer).slice(0, 300)}`);
    }
  };
  // A unit of work: one fan-out to all three vantages, or three single probes submitted together; per build.
  const units = {};
  for (const { build, apiUrl } of services) {
    const suffix = build.name === 'this' ? '' : `@${build.name}`;
    units[`fanOut${suffix}`] = () => submit(apiUrl, { url: targetUrl, vantages: 'all' });
    units[`singles${suffix}`] = () => Promise.all(vantageNames.map(() => submit(apiUrl, { url: targetUrl })));
  }
  const modes = Object.keys(units);
  const serviceOf = (mode) => services[mode.includes('@') ? 1 : 0];

  /** Runs `count` units of a mode, `concurrency` in flight; returns each unit's submit-to-result ms. */
  async function run(mode, count) {
    const latencies = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, count) }, async () => {
        while (next < count) {
          next += 1;
          const startedMs = performance.now();
          await units[mode]();
          latencies.push(performance.now() - startedMs);
        }
      }),
    );
    return latencies;
  }

  async function snapshot() {
    const stats = await redis.info('stats');
    const cpu = await redis.info('cpu');
    const commandstats = await redis.info('commandstats');
    const field = (text, name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
    const calls = {};
    for (const match of commandstats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
      calls[match[1]] = Number(match[2]);
    return {
      atMs: performance.now(),
      commands: field(stats, 'total_commands_processed'),
      redisCpuMs: (field(cpu, 'used_cpu_sys') + field(cpu, 'used_cpu_user')) * 1000,
      calls,
      apiCpuMs: services.map(({ api }) => cpuMs(api.child.pid)),
      workerCpuMs: services.map(({ workers }) =>
        workers.reduce((sum, { child }) => sum + cpuMs(child.pid), 0),
      ),
    };
  }
  // CPU of the API and workers of one build (the index of its service); Redis is shared by both.
  const difference = (after, before, index = 0) => ({
    wallMs: after.atMs - before.atMs,
    commands: after.commands - before.commands,
    redisCpuMs: after.redisCpuMs - before.redisCpuMs,
    apiCpuMs: after.apiCpuMs[index] - before.apiCpuMs[index],
    workerCpuMs: after.workerCpuMs[index] - before.workerCpuMs[index],
    calls: Object.fromEntries(
      Object.entries(after.calls).map(([name, count]) => [name, count - (before.calls[name] ?? 0)]),
    ),
  });
  const add = (total, part) => {
    for (const key of ['wallMs', 'commands', 'redisCpuMs', 'apiCpuMs', 'workerCpuMs'])
      total[key] += part[key];
    for (const [name, count] of Object.entries(part.calls))
      total.calls[name] = (total.calls[name] ?? 0) + count;
  };

  const loadBefore = loadAverage();
  console.log(`load average before: ${loadBefore}`);
  for (const mode of modes) await run(mode, warmupCount);
  failures = 0;

  // Background: heartbeats, idle workers' blocking reads, stalled-job checks, the monitor schedulers.
  const idleBefore = await snapshot();
  await new Promise((r) => setTimeout(r, idleSeconds * 1000));
  const idleAfter = await snapshot();
  const idles = services.map((_, index) => difference(idleAfter, idleBefore, index));
  const idle = idles[0];

  const totals = {};
  const latencies = {};
  for (const mode of modes) {
    totals[mode] = { wallMs: 0, commands: 0, redisCpuMs: 0, apiCpuMs: 0, workerCpuMs: 0, calls: {} };
    latencies[mode] = [];
  }
  const perBlock = Math.ceil(fanOutCount / blockCount);
  const loads = [];
  // Blocks rotate which mode goes first, so the machine's other load falls on all alike.
  for (let block = 0; block < blockCount; block += 1) {
    const order = modes.map((_, index) => modes[(index + block) % modes.length]);
    for (const mode of order) {
      const before = await snapshot();
      latencies[mode].push(...(await run(mode, perBlock)));
      add(totals[mode], difference(await snapshot(), before, services.indexOf(serviceOf(mode))));
    }
    loads.push(loadAverage());
  }

  const vantageProbes = perBlock * blockCount * vantageNames.length;
  const perSecond = (value) => value / (idle.wallMs / 1000);
  const rows = Object.entries(totals).map(([mode, total]) => {
    const sorted = latencies[mode].sort((a, b) => a - b);
    // What the idle rate would have spent over this mode's wall time (heartbeats, blocking reads, timers).
    const own = idles[services.indexOf(serviceOf(mode))];
    const background = (key) => (own[key] / (own.wallMs / 1000)) * (total.wallMs / 1000);
    return {
      mode,
      units: sorted.length,
      vantageProbes,
      wallSeconds: total.wallMs / 1000,
      latencyMs: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) },
      perVantageProbe: {
        apiCpuMs: total.apiCpuMs / vantageProbes,
        workerCpuMs: total.workerCpuMs / vantageProbes,
        workerCpuMsLessBackground: (total.workerCpuMs - background('workerCpuMs')) / vantageProbes,
        redisCpuMs: total.redisCpuMs / vantageProbes,
        redisCpuMsLessBackground: (total.redisCpuMs - background('redisCpuMs')) / vantageProbes,
        redisCommands: total.commands / vantageProbes,
        redisCommandsLessBackground: (total.commands - background('commands')) / vantageProbes,
      },
      calls: total.calls,
      topCommandsPerVantageProbe: Object.fromEntries(
        Object.entries(total.calls)
          .filter(([, count]) => count > 0)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 8)
          .map(([name, count]) => [name, Number((count / vantageProbes).toFixed(2))]),
      ),
    };
  });
  const rowOf = (mode) => rows.find((row) => row.mode === mode);
  /** A build's fan-out against its own single probes: ratios, and where the fan-out's extra commands go. */
  const compared = (suffix) => {
    const fanOut = rowOf(`fanOut${suffix}`);
    const singles = rowOf(`singles${suffix}`);
    const ratio = (key) => fanOut.perVantageProbe[key] / singles.perVantageProbe[key];
    return {
      excessCommandsPerFanOut: Object.fromEntries(
        Object.keys({ ...fanOut.calls, ...singles.calls })
          .map((name) => [name, ((fanOut.calls[name] ?? 0) - (singles.calls[name] ?? 0)) / fanOut.units])
          .filter(([, excess]) => Math.abs(excess) >= 0.05)
          .sort((a, b) => b[1] - a[1])
          .map(([name, excess]) => [name, Number(excess.toFixed(2))]),
      ),
      ratiosFanOutToSingles: {
        latencyP50: fanOut.latencyMs.p50 / singles.latencyMs.p50,
        latencyP99: fanOut.latencyMs.p99 / singles.latencyMs.p99,
        apiCpu: ratio('apiCpuMs'),
        workerCpu: ratio('workerCpuMs'),
        workerCpuLessBackground: ratio('workerCpuMsLessBackground'),
        redisCpu: ratio('redisCpuMs'),
        redisCommands: ratio('redisCommands'),
        redisCommandsLessBackground: ratio('redisCommandsLessBackground'),
      },
    };
  };
  const byBuild = Object.fromEntries(
    services.map(({ build }) => [build.name, compared(build.name === 'this' ? '' : `@${build.name}`)]),
  );
  for (const row of rows) delete row.calls;
  const result = {
    node: process.version,
    builds: builds.map(({ name, cli }) => ({ name, cli })),
    fanOuts: rowOf('fanOut').units,
    singleProbes: rowOf('singles').units * vantageNames.length,
    concurrency,
    failures,
    loadAverage: { before: loadBefore, afterEachBlock: loads },
    idle: {
      seconds: idle.wallMs / 1000,
      redisCommandsPerSecond: perSecond(idle.commands),
      redisCpuMsPerSecond: perSecond(idle.redisCpuMs),
      workerCpuMsPerSecond: idles.map((own) => own.workerCpuMs / (own.wallMs / 1000)),
    },
    rows,
    byBuild,
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(
    '\n| probe | units | p50 ms | p99 ms | API CPU ms | worker CPU ms | Redis CPU ms | Redis cmds |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    const per = row.perVantageProbe;
    const [kind, build = 'this'] = row.mode.split('@');
    console.log(
      `| ${kind === 'fanOut' ? '1 fan-out to 3 vantages' : '3 single probes'} (${build}) | ${row.units} | ` +
        `${row.latencyMs.p50.toFixed(1)} | ${row.latencyMs.p99.toFixed(1)} | ${per.apiCpuMs.toFixed(2)} | ` +
        `${per.workerCpuMs.toFixed(2)} | ${per.redisCpuMs.toFixed(2)} | ${per.redisCommands.toFixed(1)} |`,
    );
  }
  console.log('(CPU and commands per vantage-probe; latency per unit: submit until the last result)');
  for (const [build, { ratiosFanOutToSingles }] of Object.entries(byBuild))
    console.log(
      `${build}: fan-out / singles: ` +
        Object.entries(ratiosFanOutToSingles)
          .map(([name, value]) => `${name} ${value.toFixed(2)}`)
          .join(', '),
    );
  if (values.json) await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`);
  redis.disconnect();
} finally {
  await stopOwnedChildren(8000);
  target?.close();
  await redisServer?.stop();
  await rm(work, { recursive: true, force: true });
}
