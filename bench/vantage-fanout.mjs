// Benchmark: one probe from 3 vantages (a BullMQ flow: 3 children, a parent that compares, a deadline job)
// against 3 single probes of the same URL. Measures submit-to-result latency (p50/p99), CPU of the API, the
// workers and Redis, and Redis commands, per vantage-probe. Aim (#13): the fan-out costs no more than its
// children plus one parent job.
// Usage: npm run build && node bench/vantage-fanout.mjs [--probes 200] [--concurrency 4] [--blocks 4]
//        [--warmup 20] [--idle 5] [--json out.json]     (loopback only; stops what it starts, by pid)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { freeLoopbackPort, startEmbeddedRedis } from '../dist/redis/embedded.js';

const { values } = parseArgs({
  options: {
    probes: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '4' },
    blocks: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '20' },
    idle: { type: 'string', default: '5' },
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
const cli = join(root, 'dist', 'cli.js');
const work = await mkdtemp(join(tmpdir(), 'reach-bench-vantages-'));
const owned = [];

function startChild(args, env) {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  owned.push(child);
  return { child, output: () => output };
}

async function stopAll() {
  for (const child of owned.reverse()) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 8000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }
}

/** CPU milliseconds (user + system) of a process, from /proc (10 ms ticks). */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function loadAverage() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

function quantile(sorted, fraction) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))];
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
    QUEUE_NAME: 'bench',
    LOG_LEVEL: 'warn',
    PROBE_ALLOW_PRIVATE: 'true',
    RATE_LIMIT_POINTS: '10000000',
    RATE_LIMIT_READ_POINTS: '10000000',
    QUEUE_MAX_WAITING: '10000000',
    API_KEYS: '',
  };
  const apiPort = await freeLoopbackPort();
  const api = startChild([cli, 'api'], { ...common, HOST: '127.0.0.1', PORT: String(apiPort) });
  const workers = vantageNames.map((name) =>
    startChild([cli, 'worker', '--vantage', name, '--labels', `bench=${name}`], common),
  );
  const apiUrl = `http://127.0.0.1:${apiPort}`;

  // Ready when the API answers and lists the three vantages.
  for (let attempt = 0; ; attempt += 1) {
    if (attempt > 300) throw new Error(`service did not start: ${api.output()} ${workers[0].output()}`);
    for (const part of [api, ...workers])
      if (part.child.exitCode !== null) throw new Error(`a service process exited: ${part.output()}`);
    try {
      const answer = await (await fetch(`${apiUrl}/vantages`)).json();
      if (answer.vantages?.length === vantageNames.length) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }

  let failures = 0;
  const submit = async (body) => {
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
  // A unit of work: one fan-out to all three vantages, or three single probes submitted together.
  const units = {
    fanOut: () => submit({ url: targetUrl, vantages: 'all' }),
    singles: () => Promise.all(vantageNames.map(() => submit({ url: targetUrl }))),
  };

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

  const pids = {
    api: api.child.pid,
    workers: workers.map((worker) => worker.child.pid),
    redis: redisServer.pid,
  };
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
      apiCpuMs: cpuMs(pids.api),
      workerCpuMs: pids.workers.reduce((sum, pid) => sum + cpuMs(pid), 0),
    };
  }
  const difference = (after, before) => ({
    wallMs: after.atMs - before.atMs,
    commands: after.commands - before.commands,
    redisCpuMs: after.redisCpuMs - before.redisCpuMs,
    apiCpuMs: after.apiCpuMs - before.apiCpuMs,
    workerCpuMs: after.workerCpuMs - before.workerCpuMs,
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
  await run('fanOut', warmupCount);
  await run('singles', warmupCount);
  failures = 0;

  // Background: heartbeats, idle workers' blocking reads, stalled-job checks, the monitor schedulers.
  const idleBefore = await snapshot();
  await new Promise((r) => setTimeout(r, idleSeconds * 1000));
  const idle = difference(await snapshot(), idleBefore);

  const totals = {};
  const latencies = { fanOut: [], singles: [] };
  for (const mode of ['fanOut', 'singles'])
    totals[mode] = { wallMs: 0, commands: 0, redisCpuMs: 0, apiCpuMs: 0, workerCpuMs: 0, calls: {} };
  const perBlock = Math.ceil(fanOutCount / blockCount);
  const loads = [];
  // Blocks alternate which mode goes first, so the machine's other load falls on both alike.
  for (let block = 0; block < blockCount; block += 1) {
    const order = block % 2 === 0 ? ['fanOut', 'singles'] : ['singles', 'fanOut'];
    for (const mode of order) {
      const before = await snapshot();
      latencies[mode].push(...(await run(mode, perBlock)));
      add(totals[mode], difference(await snapshot(), before));
    }
    loads.push(loadAverage());
  }

  const vantageProbes = perBlock * blockCount * vantageNames.length;
  const perSecond = (value) => value / (idle.wallMs / 1000);
  const rows = Object.entries(totals).map(([mode, total]) => {
    const sorted = latencies[mode].sort((a, b) => a - b);
    // What the idle rate would have spent over this mode's wall time (heartbeats, blocking reads, timers).
    const background = (key) => perSecond(idle[key]) * (total.wallMs / 1000);
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
  // One piece of the fan-out on its own: the deadline job each fan-out adds (delayed) and removes once compared.
  const scratch = new Queue('bench-scratch', { connection: redis });
  await scratch.add('warm', {}, { delay: 60_000, jobId: 'warm' });
  const deadlineBefore = await snapshot();
  const deadlineSamples = 50;
  for (let index = 0; index < deadlineSamples; index += 1) {
    await scratch.add('deadline', { parentId: String(index) }, { jobId: `d${index}`, delay: 60_000 });
    await scratch.remove(`d${index}`);
  }
  const deadlineCost = difference(await snapshot(), deadlineBefore);
  await scratch.obliterate({ force: true });
  await scratch.close();
  const deadlineJob = {
    redisCommands: deadlineCost.commands / deadlineSamples,
    redisCpuMs: deadlineCost.redisCpuMs / deadlineSamples,
  };

  const [fanOut, singles] = rows;
  // Where a fan-out's extra Redis commands go: its calls minus three single probes' calls, per fan-out.
  const excessPerFanOut = Object.fromEntries(
    Object.keys({ ...fanOut.calls, ...singles.calls })
      .map((name) => [name, ((fanOut.calls[name] ?? 0) - (singles.calls[name] ?? 0)) / fanOut.units])
      .filter(([, excess]) => Math.abs(excess) >= 0.05)
      .sort((a, b) => b[1] - a[1])
      .map(([name, excess]) => [name, Number(excess.toFixed(2))]),
  );
  for (const row of rows) delete row.calls;
  const ratio = (key) => fanOut.perVantageProbe[key] / singles.perVantageProbe[key];
  const result = {
    node: process.version,
    fanOuts: fanOut.units,
    singleProbes: singles.units * vantageNames.length,
    concurrency,
    failures,
    loadAverage: { before: loadBefore, afterEachBlock: loads },
    idle: {
      seconds: idle.wallMs / 1000,
      redisCommandsPerSecond: perSecond(idle.commands),
      redisCpuMsPerSecond: perSecond(idle.redisCpuMs),
      workerCpuMsPerSecond: perSecond(idle.workerCpuMs),
    },
    rows,
    excessCommandsPerFanOut: excessPerFanOut,
    deadlineJobAddAndRemove: deadlineJob,
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
  console.log(JSON.stringify(result, null, 2));
  console.log(
    '\n| probe | units | p50 ms | p99 ms | API CPU ms | worker CPU ms | Redis CPU ms | Redis cmds |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    const per = row.perVantageProbe;
    console.log(
      `| ${row.mode === 'fanOut' ? '1 fan-out to 3 vantages' : '3 single probes'} | ${row.units} | ` +
        `${row.latencyMs.p50.toFixed(1)} | ${row.latencyMs.p99.toFixed(1)} | ${per.apiCpuMs.toFixed(2)} | ` +
        `${per.workerCpuMs.toFixed(2)} | ${per.redisCpuMs.toFixed(2)} | ${per.redisCommands.toFixed(1)} |`,
    );
  }
  console.log('(CPU and commands per vantage-probe; latency per unit: submit until the last result)');
  if (values.json) await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`);
  redis.disconnect();
} finally {
  await stopAll();
  target?.close();
  await redisServer?.stop();
  await rm(work, { recursive: true, force: true });
}
