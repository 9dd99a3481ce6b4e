// Benchmark, side by side on one machine: Prometheus scraping blackbox_exporter for N loopback targets against
// reach's monitors (bench/monitor-load.mjs) for the same N targets at the same interval, alternating per N.
// Usage: npm run bench:prometheus -- --monitors 10000,30000 [--interval 60] [--window 180] [--json out.json]
//        [--only reach|prometheus] [--workers 1] [--create bulk|single]
// --create: how monitor-load.mjs creates reach's monitors (bulk, the default: as POST /monitors/bulk does); the
// time it took is in each reach row (createMs).
// Needs the Debian packages prometheus and prometheus-blackbox-exporter, and nginx (apt-get install -y
// --no-install-recommends prometheus prometheus-blackbox-exporter nginx-light). Loopback only: every server it
// starts listens on 127.0.0.1 and is stopped by its pid.
//
// Prometheus: one nginx on 127.0.0.1 answering every path with a small 200 (the same as monitor-load.mjs), N
// targets http://127.0.0.1:PORT/m/<i> in a file_sd file, scraped through blackbox_exporter's http_2xx module
// at --interval (timeout 10 s, as the monitors'). After one interval of warm-up (every target's first scrape)
// a --window opens; over it: CPU seconds of prometheus and blackbox_exporter from /proc over the probes done
// (CPU per check), every target's scrape times from Prometheus's own API (missed scrapes: gaps of more than
// one interval, none at the start or end; drift: each gap minus the interval), up == 0 and probe_success == 0,
// scrape_duration_seconds, prometheus_target_interval_length_seconds quantiles, RSS. reach: monitor-load.mjs
// spawned with the same N, interval and window; its CPU per check is workers + Redis CPU over its runs.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  freePort,
  processStats,
  quantile,
  startBlackboxExporter,
  startChild,
  startNginx,
  stopChild,
  stopOwnedChildren,
  waitForHttp,
} from './support.mjs';

const { values } = parseArgs({
  options: {
    monitors: { type: 'string', default: '10000,30000' },
    interval: { type: 'string', default: '60' },
    window: { type: 'string', default: '180' },
    only: { type: 'string' },
    json: { type: 'string' },
    /** reach's monitor worker processes (monitor-load.mjs `--workers`): one Node process uses at most one core. */
    workers: { type: 'string', default: '1' },
    create: { type: 'string', default: 'bulk' },
  },
});
const sizes = values.monitors.split(',').map(Number);
const intervalSeconds = Number(values.interval);
const windowSeconds = Number(values.window);
const root = resolve(import.meta.dirname, '..');

function loadAverage() {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

async function promQuery(baseUrl, query, atSeconds) {
  const url = `${baseUrl}/api/v1/query?query=${encodeURIComponent(query)}&time=${atSeconds}`;
  const response = await fetch(url);
  const body = await response.json();
  if (body.status !== 'success') throw new Error(`Prometheus query ${query} failed: ${JSON.stringify(body)}`);
  return body.data.result;
}

function scalarOf(result) {
  return Number(result[0]?.value?.[1] ?? 0);
}

/** Prometheus's own interval-length summary from its /metrics (seconds, per quantile). */
async function intervalLengths(baseUrl) {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const quantiles = {};
  for (const match of text.matchAll(
    /^prometheus_target_interval_length_seconds\{interval="([^"]+)",quantile="([^"]+)"\} (\S+)$/gm,
  )) {
    quantiles[`${match[1]} q${match[2]}`] = Number(match[3]);
  }
  return quantiles;
}

async function runPrometheus(count) {
  const work = await mkdtemp(join(tmpdir(), 'reach-bench-prometheus-'));
  const started = [];
  const launch = (command, args) => {
    const process_ = startChild(command, args);
    started.push(process_.child);
    return process_;
  };
  try {
    const nginx = await startNginx(join(work, 'nginx'));
    started.push(nginx.child);
    const blackbox = await startBlackboxExporter({
      directory: work,
      timeoutSeconds: 10,
      httpSettings: ['preferred_ip_protocol: ip4', 'ip_protocol_fallback: false'],
      start: launch,
    });
    const blackboxAddress = blackbox.url.replace('http://', '');
    const targets = Array.from({ length: count }, (_, index) => `http://127.0.0.1:${nginx.port}/m/${index}`);
    await writeFile(join(work, 'targets.json'), JSON.stringify([{ targets, labels: {} }]));
    await writeFile(
      join(work, 'prometheus.yml'),
      `global:
  scrape_interval: ${intervalSeconds}s
  scrape_timeout: 10s
  evaluation_interval: ${intervalSeconds}s
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params:
      module: [http_2xx]
    file_sd_configs:
      - files: ['${join(work, 'targets.json')}']
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: ${blackboxAddress}
`,
    );
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const prometheus = launch('prometheus', [
      `--config.file=${join(work, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(work, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1d',
      '--log.level=warn',
    ]);
    await waitForHttp(`${baseUrl}/-/ready`, 'prometheus', 600);
    // Warm-up: every target gets its first scrape within one interval (Prometheus spreads their offsets).
    console.log(`  prometheus: ${count} targets loaded; ${intervalSeconds} s of warm-up`);
    await new Promise((r) => setTimeout(r, intervalSeconds * 1000 + 5000));
    const pids = { prometheus: prometheus.child.pid, blackbox: blackbox.child.pid, nginx: nginx.child.pid };
    const cpuStart = Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [name, processStats(pid).cpuSeconds]),
    );
    const windowStartMs = Date.now();
    const samples = [];
    while (Date.now() - windowStartMs < windowSeconds * 1000) {
      await new Promise((r) =>
        setTimeout(r, Math.min(10_000, windowSeconds * 1000 - (Date.now() - windowStartMs))),
      );
      samples.push({
        prometheusRssMib: processStats(pids.prometheus).rssMib,
        blackboxRssMib: processStats(pids.blackbox).rssMib,
        loadAverage: loadAverage(),
      });
    }
    const windowEndMs = Date.now();
    const cpu = Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [name, processStats(pid).cpuSeconds - cpuStart[name]]),
    );
    const seconds = (windowEndMs - windowStartMs) / 1000;
    const range = `${Math.floor(seconds)}s`;
    const end = windowEndMs / 1000;
    // A scrape shows in the API once it has finished: give the last ones their timeout.
    await new Promise((r) => setTimeout(r, 11_000));
    const [scrapes, upSum, probeCount, probeSum] = await Promise.all([
      promQuery(baseUrl, `sum(count_over_time(up{job="blackbox"}[${range}]))`, end),
      promQuery(baseUrl, `sum(sum_over_time(up{job="blackbox"}[${range}]))`, end),
      promQuery(baseUrl, `sum(count_over_time(probe_success{job="blackbox"}[${range}]))`, end),
      promQuery(baseUrl, `sum(sum_over_time(probe_success{job="blackbox"}[${range}]))`, end),
    ]);
    // Every target's scrape times and durations over the window, for missed scrapes and drift.
    const durations = await promQuery(baseUrl, `scrape_duration_seconds{job="blackbox"}[${range}]`, end);
    const gaps = [];
    const durationValues = [];
    let missed = 0;
    let targetsSeen = 0;
    for (const series of durations) {
      targetsSeen += 1;
      const times = series.values.map(([time]) => Number(time) * 1000);
      for (const [, value] of series.values) durationValues.push(Number(value));
      const first = times[0] ?? windowEndMs;
      if (first - windowStartMs > intervalSeconds * 1000 * 1.5)
        missed += Math.floor((first - windowStartMs) / (intervalSeconds * 1000));
      for (let index = 1; index < times.length; index += 1) {
        const gap = times[index] - times[index - 1];
        gaps.push(gap);
        missed += Math.max(0, Math.round(gap / (intervalSeconds * 1000)) - 1);
      }
      const last = times.at(-1) ?? windowStartMs;
      if (windowEndMs - last > intervalSeconds * 1000 * 1.5)
        missed += Math.floor((windowEndMs - last) / (intervalSeconds * 1000));
    }
    missed += (count - targetsSeen) * Math.floor(seconds / intervalSeconds);
    const drifts = gaps.map((gap) => Math.abs(gap - intervalSeconds * 1000)).sort((a, b) => a - b);
    durationValues.sort((a, b) => a - b);
    const checks = scalarOf(scrapes);
    const ownCpu = cpu.prometheus + cpu.blackbox;
    return {
      system: 'prometheus',
      monitors: count,
      intervalSeconds,
      windowSeconds: seconds,
      checks,
      checksPerSecond: checks / seconds,
      dueChecksPerSecond: count / intervalSeconds,
      missed,
      upZero: checks - scalarOf(upSum),
      probeFailed: scalarOf(probeCount) - scalarOf(probeSum),
      driftMs: { p50: quantile(drifts, 0.5), p99: quantile(drifts, 0.99), max: drifts.at(-1) ?? null },
      scrapeDurationMs: {
        p50: (quantile(durationValues, 0.5) ?? 0) * 1000,
        p99: (quantile(durationValues, 0.99) ?? 0) * 1000,
        max: (durationValues.at(-1) ?? 0) * 1000,
      },
      prometheusIntervalLengthSeconds: await intervalLengths(baseUrl),
      cpuSeconds: cpu,
      cpuMsPerCheck: (ownCpu * 1000) / Math.max(1, checks),
      cpuPercent: { own: (100 * ownCpu) / seconds, nginx: (100 * cpu.nginx) / seconds },
      rssMibMax: {
        prometheus: Math.max(...samples.map((sample) => sample.prometheusRssMib)),
        blackbox: Math.max(...samples.map((sample) => sample.blackboxRssMib)),
      },
      loadAverage: {
        mean: samples.reduce((sum, sample) => sum + sample.loadAverage, 0) / samples.length,
        max: Math.max(...samples.map((sample) => sample.loadAverage)),
      },
    };
  } finally {
    for (const child of started.reverse()) await stopChild(child);
    await rm(work, { recursive: true, force: true });
  }
}

/** reach: bench/monitor-load.mjs as it is, so its numbers are the monitor bench's own. */
async function runReach(count) {
  const work = await mkdtemp(join(tmpdir(), 'reach-bench-side-'));
  const output = join(work, 'reach.json');
  try {
    const load = startChild(process.execPath, [
      join(root, 'bench', 'monitor-load.mjs'),
      '--monitors',
      String(count),
      '--interval',
      String(intervalSeconds),
      '--duration',
      String(windowSeconds),
      '--workers',
      values.workers,
      '--no-status',
      '--create',
      values.create,
      '--json',
      output,
    ]);
    const [code] = await once(load.child, 'exit');
    if (code !== 0) throw new Error(`monitor-load.mjs exited with ${code}: ${load.output()}`);
    const { result } = JSON.parse(await readFile(output, 'utf8'));
    const seconds = result.windowSeconds;
    const workersPercent = (result.cpuPercent?.workers ?? []).reduce((sum, value) => sum + value, 0);
    const ownCpu = ((workersPercent + (result.cpuPercent?.redis ?? 0)) * seconds) / 100;
    // monitor-load counts the ticks due up to 15 s before the end of its window: the runs of the whole window
    // are that count at the same rate.
    const checks = result.ticksRun * (seconds / Math.max(1, seconds - 15));
    return {
      system: 'reach',
      monitors: count,
      intervalSeconds,
      windowSeconds: seconds,
      checks: Math.round(checks),
      checksPerSecond: checks / seconds,
      dueChecksPerSecond: count / intervalSeconds,
      create: result.create,
      createMs: result.createMs,
      missed: result.runsMissed,
      doubled: result.runsDoubled,
      runsNotUp: result.runsNotUp,
      lagMs: result.lagMs,
      cpuMsPerCheck: (ownCpu * 1000) / Math.max(1, checks),
      cpuPercent: {
        own: workersPercent + (result.cpuPercent?.redis ?? 0),
        workers: workersPercent,
        redis: result.cpuPercent?.redis,
        nginx: result.cpuPercent?.nginx,
      },
      rssMibMax: { redis: result.memory?.redisRssMibMax, workers: result.memory?.workerRssMibMax },
      redisUsedMibEnd: result.memory?.redisUsedMibEnd,
      loadAverage: result.loadAverage,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function holds(result) {
  const lateMs = result.system === 'reach' ? result.lagMs?.p99 : result.driftMs?.p99;
  return result.missed === 0 && (result.upZero ?? 0) === 0 && (lateMs ?? 0) < 2000;
}

const results = [];
try {
  for (const count of sizes) {
    for (const system of ['reach', 'prometheus']) {
      if (values.only && values.only !== system) continue;
      console.log(`${system}: ${count} targets every ${intervalSeconds} s, ${windowSeconds} s window ...`);
      const result = system === 'reach' ? await runReach(count) : await runPrometheus(count);
      result.verdict = holds(result) ? 'holds' : 'breaks';
      console.log(JSON.stringify(result));
      results.push(result);
    }
  }
} finally {
  await stopOwnedChildren();
}
console.table(
  results.map((result) => ({
    system: result.system,
    N: result.monitors,
    'checks/s (due)': `${result.checksPerSecond.toFixed(0)} (${result.dueChecksPerSecond.toFixed(0)})`,
    missed: result.missed,
    'late p99 ms': result.system === 'reach' ? result.lagMs?.p99 : result.driftMs?.p99,
    'CPU ms/check': result.cpuMsPerCheck.toFixed(3),
    'CPU %': result.cpuPercent.own.toFixed(0),
    load: result.loadAverage.mean.toFixed(1),
    verdict: result.verdict,
  })),
);
for (const count of sizes) {
  const reach = results.find((result) => result.system === 'reach' && result.monitors === count);
  const prometheus = results.find((result) => result.system === 'prometheus' && result.monitors === count);
  if (reach && prometheus)
    console.log(
      `N=${count}: reach/Prometheus CPU per check = ${(reach.cpuMsPerCheck / prometheus.cpuMsPerCheck).toFixed(2)}`,
    );
}
if (values.json) await writeFile(values.json, `${JSON.stringify(results, null, 2)}\n`);
