// Benchmark: a list of URLs on loopback targets through `reach probe --file` against prometheus-blackbox-exporter
// driven over the same list at the same concurrency, in one run: URLs per second and CPU per URL.
// `--service` adds `POST /batches` on `reach serve` (API + worker, embedded Redis).
//
// Install once: apt-get install -y --no-install-recommends prometheus-blackbox-exporter redis-server
// Usage: npm run bench:batch [-- --urls 10000 --concurrency 50 --rounds 2 --threads 0,2 --service
//   --service-workers 2 --service-processes 2 --warmup 10000 --profile DIR --baseline DIR]
// The two long-running sides (the exporter, reach serve) each run `--warmup` URLs of the list (default: all of it;
// the service once per worker process) before the rounds, as a long-running prober has when it is scraped or sent
// a batch; the service's warm-up is printed on its own line (a fresh `reach serve` compiles its hot code over its
// first ~10,000 URLs: V8's tier-up, measured with bench/batch-warmup.mjs). The CLI is a process per run and is
// measured cold, start-up included.
// `--baseline DIR` adds, each round, the CLI of another build (DIR/dist/cli.js, e.g. main's copied aside with a
// node_modules link beside it) with the same arguments, and with `--service` that build's `reach serve` beside
// this one's (each with its own Redis, both warmed up): a change's effect as a ratio taken in one run.
// `--threads` runs the CLI once per value each round (`reach probe --file --threads N`); without it, the CLI's
// default (one probing thread per core).
// Loopback only: the targets are a Node HTTP server on 127.0.0.1-3 (IP-literal URLs, so neither prober does DNS);
// everything started here is stopped by pid at the end.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import {
  batchListOptions,
  batchListSettings,
  batchServiceEnv,
  boundedOption,
  causeOfReportLine,
  childPidsOf,
  cliPath,
  commandOf,
  countInto,
  cpuSecondsOf,
  format,
  formatCounts,
  loadAverage,
  machineBusySeconds,
  machineStealSeconds,
  mixedUrls,
  runReach,
  startChild,
  startServe,
  startTargets,
  stopChild,
  stopOwnedChildren,
  submitBatch,
  writeList,
} from './batch-support.mjs';
import { freePort, startBlackboxExporter } from './support.mjs';

const { values } = parseArgs({
  options: {
    ...batchListOptions,
    rounds: { type: 'string', default: '2' },
    'no-blackbox': { type: 'boolean', default: false },
    // Adds POST /batches on `reach serve`; fails with a clear message on a build without that route.
    service: { type: 'boolean', default: false },
    // With --service: N worker processes in all, `reach serve` and N - 1 `reach worker` beside it on one
    // redis-server started here, the concurrency split between them (default 1: serve alone, embedded Redis).
    'service-workers': { type: 'string', default: '1' },
    // With --service: `reach serve` with WORKER_PROCESSES=N (its own N - 1 `reach worker` children on its embedded
    // Redis), each process given its share of the concurrency (default 1: serve alone).
    'service-processes': { type: 'string', default: '1' },
    // Comma-separated `--threads` values for the CLI, each a row of its own per round.
    threads: { type: 'string' },
    // URLs of the list each long-running side runs before the rounds (default: the whole list).
    warmup: { type: 'string' },
    // Writes a V8 CPU profile of each reach CLI run, and of `reach serve` (node --cpu-prof), into this directory.
    profile: { type: 'string' },
    // Another build's directory (holding dist/cli.js): its CLI is run beside this one's, same list and arguments.
    baseline: { type: 'string' },
  },
});
const baselineCli = values.baseline ? join(resolve(values.baseline), 'dist/cli.js') : undefined;
const { urlCount, concurrency } = batchListSettings(values);
const rounds = boundedOption(values.rounds, 2, 1, 10);
const timeoutMs = 10_000;
const warmupCount =
  values.warmup === undefined ? urlCount : Math.min(Math.max(Number(values.warmup) || 0, 0), urlCount);
const serviceProcesses = boundedOption(values['service-processes'], 1, 1, 8);
if (serviceProcesses > 1 && values['service-workers'] !== '1')
  throw new Error('--service-workers and --service-processes are two ways to the same end: give one');
// The worker processes in all, whichever way they are started.
const serviceWorkers =
  serviceProcesses > 1 ? serviceProcesses : boundedOption(values['service-workers'], 1, 1, 8);
const threadCounts = values.threads === undefined ? [undefined] : values.threads.split(',').map(Number);
if (threadCounts.some((n) => n !== undefined && !(Number.isInteger(n) && n >= 0 && n <= 64)))
  throw new Error(`--threads takes whole numbers from 0 to 64, comma-separated, got ${values.threads}`);
const work = await mkdtemp(join(tmpdir(), 'reach-bench-batch-'));

/** Measures `action`: wall time, and CPU seconds of the named processes, this process and the whole machine. */
async function measured(pids, action) {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSecondsOf(pid)]));
  const ownBefore = process.cpuUsage();
  const machineBefore = machineBusySeconds();
  const loadBefore = loadAverage();
  const startedMs = performance.now();
  const result = await action();
  const seconds = (performance.now() - startedMs) / 1000;
  const own = process.cpuUsage(ownBefore);
  const cpu = Object.fromEntries(
    Object.entries(pids).map(([name, pid]) => [name, cpuSecondsOf(pid) - before[name]]),
  );
  cpu.driver = (own.user + own.system) / 1e6;
  return { ...result, seconds, cpu, machineSeconds: machineBusySeconds() - machineBefore, loadBefore };
}

// 1. reach probe --file LIST: one process from start to exit; its CPU is its whole life's (GNU time), start-up included.
async function runCli(listPath, targets, round, threads, cli) {
  const causes = new Map();
  const profile = values.profile
    ? [
        '--cpu-prof',
        '--cpu-prof-dir',
        resolve(values.profile),
        '--cpu-prof-name',
        `batch-cli-${round}-threads-${threads ?? 'default'}${cli ? '-baseline' : ''}.cpuprofile`,
      ]
    : [];
  const args = [
    'probe',
    '--file',
    listPath,
    '--json',
    '--concurrency',
    String(concurrency),
    '--timeout',
    String(timeoutMs),
    ...(threads === undefined ? [] : ['--threads', String(threads)]),
  ];
  const result = await measured({ targets: targets.pid }, async () => {
    const run = await runReach({
      args,
      cli,
      nodeArgs: profile,
      timeFile: join(work, 'time.txt'),
      onLine: (line) => countInto(causes, causeOfReportLine(line)),
    });
    if (run.exitCode !== 0 && run.exitCode !== 1)
      throw new Error(`reach exited ${run.exitCode}: ${run.stderrTail}`);
    return run;
  });
  // The driver only reads the CLI's output here; the prober's CPU is the CLI process's own.
  return {
    system: `${cli ? 'baseline ' : ''}reach probe --file (CLI${threads === undefined ? '' : `, --threads ${threads}`})`,
    done: result.lineCount,
    causes,
    seconds: result.elapsedSeconds,
    proberCpuSeconds: result.cpuSeconds,
    parts: `reach CLI ${format(result.cpuSeconds, 2)} s`,
    targetsCpuSeconds: result.cpu.targets,
    othersCores:
      (result.machineSeconds - result.cpuSeconds - result.cpu.targets - result.cpu.driver) / result.seconds,
    loadBefore: result.loadBefore,
  };
}

async function startBlackbox() {
  // IP-literal targets: no resolver is asked. No TLS, no proxy, IPv4 only, no fallback to IPv6.
  const { url, child } = await startBlackboxExporter({
    directory: work,
    timeoutSeconds: timeoutMs / 1000,
    httpSettings: ['preferred_ip_protocol: ip4', 'ip_protocol_fallback: false', 'follow_redirects: true'],
    start: startChild,
  });
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 });
  return {
    pid: child.pid,
    pool,
    async stop() {
      await pool.close();
      await stopChild(child);
    },
  };
}

/** Keeps `concurrency` probes in flight over `urls` with `one(url)`, which returns the outcome to count. */
async function driveList(urls, one) {
  const outcomes = new Map();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < urls.length) {
        const url = urls[next++];
        countInto(outcomes, await one(url));
      }
    }),
  );
  return outcomes;
}

function scrapeWith(pool) {
  return async (url) => {
    const response = await pool.request({
      path: `/probe?module=http_2xx&target=${encodeURIComponent(url)}`,
      method: 'GET',
      // blackbox_exporter takes its deadline from this header, as Prometheus sends it.
      headers: { 'x-prometheus-scrape-timeout-seconds': String(timeoutMs / 1000 + 1) },
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) return `exporter ${response.statusCode}`;
    const isSuccess = /^probe_success 1$/m.test(text);
    const status = /^probe_http_status_code (\d+)$/m.exec(text)?.[1] ?? '-';
    return isSuccess ? 'ok' : `failed (status ${status})`;
  };
}

// 2. blackbox_exporter, long-running, driven by this process: its CPU plus the driver's HTTP calls to /probe.
async function runBlackbox(urls, blackbox, targets) {
  const result = await measured({ targets: targets.pid, blackbox: blackbox.pid }, async () => ({
    outcomes: await driveList(urls, scrapeWith(blackbox.pool)),
  }));
  return {
    system: 'blackbox_exporter /probe (+ driver)',
    done: [...result.outcomes.values()].reduce((sum, n) => sum + n, 0),
    causes: result.outcomes,
    seconds: result.seconds,
    proberCpuSeconds: result.cpu.blackbox + result.cpu.driver,
    parts: `exporter ${format(result.cpu.blackbox, 2)} s + driver ${format(result.cpu.driver, 2)} s`,
    targetsCpuSeconds: result.cpu.targets,
    othersCores:
      (result.machineSeconds - result.cpu.blackbox - result.cpu.targets - result.cpu.driver) / result.seconds,
    loadBefore: result.loadBefore,
  };
}

/** A redis-server of our own, for serve and its extra workers to share (serve's embedded one has a secret password). */
async function startOwnRedis() {
  const port = await freePort();
  const started = startChild('redis-server', [
    ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    ...['--dir', work],
  ]);
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const socket = await new Promise((done, fail) => {
        const each = connect(port, '127.0.0.1', () => done(each));
        each.once('error', fail);
      });
      socket.destroy();
      return { url: `redis://127.0.0.1:${port}`, pid: started.child.pid };
    } catch {
      await new Promise((done) => setTimeout(done, 50));
    }
  }
  throw new Error(`redis-server did not come up: ${started.stderrTail()}`);
}

/** The `reach worker` children of a serve with WORKER_PROCESSES, once all `count` have started (at most 60 s). */
async function serveWorkerPids(servePid, count) {
  for (let attempt = 0; attempt < 600; attempt++) {
    const pids = childPidsOf(servePid).filter((pid) => / worker$/.test(commandOf(pid)));
    if (pids.length === count) return pids;
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`reach serve did not start ${count} worker processes: a build without WORKER_PROCESSES?`);
}

/**
 * `reach serve` of this build (or `cli`'s, the baseline), with serviceWorkers - 1 `reach worker` beside it, its own
 * children (--service-processes) or ours (--service-workers, on a redis-server started here).
 */
async function startService(cli = cliPath) {
  const isBaseline = cli !== cliPath;
  const name = isBaseline ? 'baseline' : 'this';
  const ownRedis = serviceWorkers > 1 && serviceProcesses === 1 ? await startOwnRedis() : undefined;
  // The probes in flight, all processes together: the same concurrency as the CLI's and the exporter's driver.
  const shares = Array.from(
    { length: serviceWorkers },
    (_, n) => Math.floor(concurrency / serviceWorkers) + (n < concurrency % serviceWorkers ? 1 : 0),
  );
  const env = (share) =>
    batchServiceEnv({
      dataDir: join(work, `redis-${name}`),
      concurrency: share,
      urlCount,
      ...(ownRedis ? { redisUrl: ownRedis.url } : {}),
    });
  const serve = await startServe({
    env: {
      ...env(shares[0]),
      // Every process reads the same settings: an equal share each (the first share, the largest).
      ...(serviceProcesses > 1 ? { WORKER_PROCESSES: String(serviceProcesses) } : {}),
    },
    cli,
    // With --profile, the service's whole life as a V8 CPU profile (written when it exits on SIGTERM).
    nodeArgs: values.profile
      ? [
          ...['--cpu-prof', '--cpu-prof-dir', resolve(values.profile)],
          ...['--cpu-prof-name', `batch-serve${isBaseline ? '-baseline' : ''}.cpuprofile`],
        ]
      : [],
  });
  const workers =
    serviceProcesses > 1
      ? []
      : shares.slice(1).map((share) =>
          startChild(process.execPath, [cli, 'worker'], {
            env: { ...env(share), WORKER_METRICS_PORT: '0' },
          }),
        );
  const childWorkerPids = serviceProcesses > 1 ? await serveWorkerPids(serve.pid, serviceProcesses - 1) : [];
  const redisPid = ownRedis?.pid ?? serve.redisPid;
  if (redisPid === undefined) throw new Error('reach serve started no embedded redis-server');
  return {
    isBaseline,
    url: serve.url,
    pid: serve.pid,
    workerPids: [...workers.map((worker) => worker.child.pid), ...childWorkerPids],
    redisPid,
    stop: async () => {
      for (const worker of workers) await stopChild(worker.child);
      await serve.stop();
    },
  };
}

/** Submits a list as text/plain and waits for the batch to end; then reads its results as NDJSON, as a user would. */
async function runBatchThroughService(service, listText) {
  const { accepted, status, acceptMs, seenMs } = await submitBatch(service.url, listText, timeoutMs);
  const createdMs = Date.parse(status.createdAt);
  // The batch's own timeline (the service's clock): accepted, first chunk claimed, last result recorded.
  const timeline = `accept ${format(acceptMs, 0)} ms, first chunk +${Date.parse(status.startedAt) - createdMs} ms, last result +${Date.parse(status.finishedAt) - createdMs} ms; its end seen ${format(seenMs, 0)} ms after the POST`;
  const results = await fetch(`${service.url}/batches/${accepted.id}/results`, {
    headers: { accept: 'application/x-ndjson' },
  });
  let resultLines = 0;
  for await (const chunk of results.body) for (const byte of chunk) if (byte === 10) resultLines++;
  return { status, total: accepted.total, resultLines, timeline };
}

// 3. POST /batches on reach serve: the list submitted as text/plain, polled every 50 ms until every URL has a
// result, then its results read (NDJSON), as the CLI writes them. The service is long-running: warmed first.
async function runService(listText, service, targets) {
  const workerPids = Object.fromEntries(service.workerPids.map((pid, n) => [`worker${n + 1}`, pid]));
  const result = await measured(
    { targets: targets.pid, service: service.pid, redis: service.redisPid, ...workerPids },
    () => runBatchThroughService(service, listText),
  );
  const workersCpu = Object.keys(workerPids).reduce((sum, name) => sum + result.cpu[name], 0);
  if (result.resultLines !== result.total)
    throw new Error(`the batch has ${result.resultLines} results for ${result.total} URLs`);
  return {
    system: `${service.isBaseline ? 'baseline ' : ''}reach POST /batches (serve${serviceProcesses > 1 ? ` with WORKER_PROCESSES=${serviceProcesses}` : serviceWorkers > 1 ? ` + ${serviceWorkers - 1} worker` : ''} + Redis)`,
    done: result.total,
    causes: new Map(Object.entries(result.status.byCause ?? {})),
    seconds: result.seconds,
    proberCpuSeconds: result.cpu.service + workersCpu + result.cpu.redis,
    parts: `serve ${format(result.cpu.service, 2)} s${serviceWorkers > 1 ? ` + workers ${format(workersCpu, 2)} s` : ''} + redis ${format(result.cpu.redis, 2)} s (driver ${format(result.cpu.driver, 2)} s, not counted); ${result.timeline}`,
    targetsCpuSeconds: result.cpu.targets,
    othersCores:
      (result.machineSeconds -
        result.cpu.service -
        workersCpu -
        result.cpu.redis -
        result.cpu.targets -
        result.cpu.driver) /
      result.seconds,
    loadBefore: result.loadBefore,
  };
}

const rows = [];
try {
  const targets = await startTargets(['127.0.0.1:0', '127.0.0.1:0', '127.0.0.2:0', '127.0.0.3:0']);
  const urls = mixedUrls(targets.origins, urlCount);
  const listPath = join(work, 'list.txt');
  await writeList(listPath, urls);
  const blackbox = values['no-blackbox'] ? undefined : await startBlackbox();
  const service = values.service ? await startService() : undefined;
  const baselineService = values.service && baselineCli ? await startService(baselineCli) : undefined;
  const services = [service, baselineService].filter(Boolean);
  console.log(
    `${urlCount} URLs on ${targets.origins.join(' ')}, concurrency ${concurrency}, ${rounds} rounds; load average ${loadAverage()}`,
  );
  // A long-running prober is warm when it is scraped or sent a batch: each runs the warm-up URLs before measuring
  // (the exporter with the driver's pool; serve's first ~10,000 URLs carry V8's compiles of its hot code).
  const warmupUrls = urls.slice(0, warmupCount);
  if (blackbox && warmupCount > 0) await driveList(warmupUrls, scrapeWith(blackbox.pool));
  const listText = service ? await readFile(listPath, 'utf8') : '';
  // Once per worker process: the processes share each batch's chunks, and each compiles its own hot code.
  for (const each of services)
    for (let pass = 1; warmupCount > 0 && pass <= serviceWorkers; pass++) {
      const warm = await runService(`${warmupUrls.join('\n')}\n`, each, targets);
      console.log(
        `${each.isBaseline ? 'baseline ' : ''}service warm-up ${pass} of ${serviceWorkers} (not in the rounds): ${warm.done} URLs, ${format(warm.done / warm.seconds, 0)} URLs/s, ${format((warm.proberCpuSeconds * 1000) / warm.done, 3)} ms CPU per URL (${warm.parts.split(';')[0]})`,
      );
    }
  for (let round = 1; round <= rounds; round++) {
    // Alternate who goes first, so neither always runs on the machine the other has just warmed or loaded.
    const sides = threadCounts.flatMap((threads) => [
      () => runCli(listPath, targets, round, threads),
      ...(baselineCli ? [() => runCli(listPath, targets, round, threads, baselineCli)] : []),
    ]);
    if (blackbox) sides.push(() => runBlackbox(urls, blackbox, targets));
    for (const each of services) sides.push(() => runService(listText, each, targets));
    if (round % 2 === 0) sides.reverse();
    for (const side of sides) {
      const stealBefore = machineStealSeconds();
      const row = await side();
      rows.push({ round, ...row, stealCores: (machineStealSeconds() - stealBefore) / row.seconds });
    }
  }
  await blackbox?.stop();
  for (const each of services) await each.stop();
  await targets.stop();
} finally {
  await stopOwnedChildren();
  await rm(work, { recursive: true, force: true });
}

console.log(
  "\n| round | system | URLs | s | URLs/s | prober CPU ms/URL | prober's cores used | targets CPU ms/URL | others' cores busy | of which steal | load before |",
);
console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
for (const row of rows)
  console.log(
    `| ${row.round} | ${row.system} | ${row.done} | ${format(row.seconds, 2)} | ${format(row.done / row.seconds, 0)} | ${format((row.proberCpuSeconds * 1000) / row.done, 3)} | ${format(row.proberCpuSeconds / row.seconds, 2)} | ${format((row.targetsCpuSeconds * 1000) / row.done, 3)} | ${format(row.othersCores, 2)} | ${format(row.stealCores, 2)} | ${row.loadBefore} |`,
  );
console.log('\nprober CPU by process, and outcomes:');
for (const row of rows)
  console.log(`- round ${row.round}, ${row.system}: ${row.parts}; ${formatCounts(row.causes)}`);
/** Steal below this (cores, over a side's run) leaves the row among the quiet ones. */
const quietStealCores = 0.05;
const totals = (prefix, onlyQuiet = false) => {
  const mine = rows.filter(
    (row) => row.system.startsWith(prefix) && (!onlyQuiet || row.stealCores < quietStealCores),
  );
  const done = mine.reduce((sum, row) => sum + row.done, 0);
  const seconds = mine.reduce((sum, row) => sum + row.seconds, 0);
  const cpu = mine.reduce((sum, row) => sum + row.proberCpuSeconds, 0);
  return mine.length
    ? { rate: done / seconds, cpuMsPerUrl: (cpu * 1000) / done, rows: mine.length }
    : undefined;
};
const exporter = totals('blackbox');
console.log('');
for (const [label, prefix, aim] of [
  ...threadCounts.map((threads) =>
    threads === undefined
      ? ['reach CLI', 'reach probe', 1.5]
      : [`reach CLI --threads ${threads}`, `reach probe --file (CLI, --threads ${threads})`, 1.5],
  ),
  ['reach POST /batches', 'reach POST', 1.2],
]) {
  const reach = totals(prefix);
  const baseline = totals(`baseline ${prefix}`);
  if (reach && baseline)
    console.log(
      `${label} / the baseline build's, all rounds: URLs per second ${format(reach.rate / baseline.rate, 2)}x; CPU per URL ${format(reach.cpuMsPerUrl / baseline.cpuMsPerUrl, 2)}x (${format(reach.cpuMsPerUrl, 3)} against ${format(baseline.cpuMsPerUrl, 3)} ms)`,
    );
  if (!reach || !exporter) continue;
  console.log(
    `${label} / blackbox_exporter, all rounds: URLs per second ${format(reach.rate / exporter.rate, 2)}x (aim ${aim}x); CPU per URL ${format(reach.cpuMsPerUrl / exporter.cpuMsPerUrl, 2)}x (${format(reach.cpuMsPerUrl, 3)} against ${format(exporter.cpuMsPerUrl, 3)} ms)`,
  ); // The hypervisor's steal takes cores from whichever side runs then: the same ratio over the rows it spared.
  const quietReach = totals(prefix, true);
  const quietExporter = totals('blackbox', true);
  console.log(
    quietReach && quietExporter
      ? `${label} / blackbox_exporter, rounds with steal under ${quietStealCores} cores (${quietReach.rows} and ${quietExporter.rows} of ${rounds}): URLs per second ${format(quietReach.rate / quietExporter.rate, 2)}x; CPU per URL ${format(quietReach.cpuMsPerUrl / quietExporter.cpuMsPerUrl, 2)}x`
      : `${label} / blackbox_exporter: no round without steal on both sides`,
  );
}
