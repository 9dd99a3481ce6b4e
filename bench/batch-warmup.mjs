// Diagnostic bench: why the first batch after `reach serve` starts costs more CPU per URL than the next ones.
// Runs a small warm-up batch, then `--batches` batches of `--urls` loopback URLs one after another on one serve,
// and for each: serve's CPU split by thread (the main thread, V8's and libuv's helpers), Redis's, the GC time by
// kind and the heap from serve's own /metrics, the sockets in TIME_WAIT before it, and (`--profile DIR`) a V8 CPU
// profile of that batch alone (taken through serve's inspector) summarised by where its self time went.
//
// Usage: npm run build && node bench/batch-warmup.mjs [--urls 10000 --batches 3 --concurrency 50 --warmup 500
//   --between-cli --node-options "--max-semi-space-size=32" --profile DIR]
// `--between-cli` runs `reach probe --file` over the same list before each batch, as batch-throughput.mjs runs
// the CLI and the exporter before its first service round (their loopback connections left in TIME_WAIT).
// Loopback only; everything started here is stopped by pid at the end.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocket } from 'undici';
import {
  batchListOptions,
  batchListSettings,
  batchServiceEnv,
  boundedOption,
  cpuSecondsOf,
  format,
  loadAverage,
  machineBusySeconds,
  mixedUrls,
  runReach,
  startServe,
  startTargets,
  stopOwnedChildren,
  submitBatch,
  writeList,
} from './batch-support.mjs';

const { values } = parseArgs({
  options: {
    ...batchListOptions,
    batches: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '500' },
    'between-cli': { type: 'boolean', default: false },
    'node-options': { type: 'string', default: '' },
    profile: { type: 'string' },
    // With --profile: these functions' inclusive time (their own and their callees'), per batch, by name.
    functions: { type: 'string', default: '' },
  },
});
const { urlCount, concurrency } = batchListSettings(values);
const batchCount = boundedOption(values.batches, 3, 1, 10);
const warmupCount = boundedOption(values.warmup, 0, 0, urlCount);
const clockTicksPerSecond = 100;
const work = await mkdtemp(join(tmpdir(), 'reach-bench-warmup-'));

/** CPU seconds of each thread of a process, by thread id, with its name. */
function threadsOf(pid) {
  const threads = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      threads.set(tid, { name, seconds: (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond });
    } catch {
      // ended between the listing and the read
    }
  }
  return threads;
}

/** Sockets in TIME_WAIT on IPv4 loopback now (state 06 of /proc/net/tcp). */
function timeWaitCount() {
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .filter((line) => line.split(/\s+/)[4] === '06').length;
}

/** Sums of serve's GC and heap metrics (prom-client's default metrics), by name and kind. */
async function gcAndHeap(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (pattern) => Number(pattern.exec(text)?.[1] ?? Number.NaN);
  const byKind = {};
  for (const match of text.matchAll(/^nodejs_gc_duration_seconds_sum\{kind="(\w+)"\} ([\d.e+-]+)$/gm))
    byKind[match[1]] = Number(match[2]);
  for (const match of text.matchAll(/^nodejs_gc_duration_seconds_count\{kind="(\w+)"\} (\d+)$/gm))
    byKind[`${match[1]}Count`] = Number(match[2]);
  return {
    gc: byKind,
    heapUsedMb: read(/^nodejs_heap_size_used_bytes ([\d.e+]+)$/m) / 2 ** 20,
    heapTotalMb: read(/^nodejs_heap_size_total_bytes ([\d.e+]+)$/m) / 2 ** 20,
  };
}

/** A CDP session on serve's inspector: send(method, params) answers the result. */
async function inspectorOf(inspectPort) {
  const [target] = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json();
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((done, fail) => {
    socket.onopen = done;
    socket.onerror = fail;
  });
  let nextId = 1;
  const waiting = new Map();
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    const entry = waiting.get(message.id);
    if (!entry) return;
    waiting.delete(message.id);
    if (message.error) entry.fail(new Error(message.error.message));
    else entry.done(message.result);
  };
  const send = (method, params = {}) =>
    new Promise((done, fail) => {
      const id = nextId++;
      waiting.set(id, { done, fail });
      socket.send(JSON.stringify({ id, method, params }));
    });
  await send('Profiler.enable');
  await send('Profiler.setSamplingInterval', { interval: 500 });
  return { send, close: () => socket.close() };
}

/** A profile's self time by function (and where it lives), and the inclusive time of the --functions named. */
function summarise(profile) {
  const selfMs = new Map();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const named = values.functions.split(',').filter(Boolean);
  const inclusiveMs = new Map(named.map((name) => [name, 0]));
  const deltas = profile.timeDeltas;
  let totalMs = 0;
  profile.samples.forEach((id, n) => {
    const ms = (deltas[n] ?? 0) / 1000;
    totalMs += ms;
    const frame = byId.get(id).callFrame;
    const where = frame.url.includes('node_modules/')
      ? frame.url.split('node_modules/').at(-1).split('/')[0]
      : frame.url.includes('/dist/')
        ? `reach:${frame.url.split('/dist/')[1]}`
        : frame.url.startsWith('node:')
          ? frame.url
          : '';
    const key = `${frame.functionName || '(anonymous)'} ${where}`.trim();
    selfMs.set(key, (selfMs.get(key) ?? 0) + ms);
    // Each named function once per sample, however deep it recurses.
    const onStack = new Set();
    for (let node = id; node !== undefined; node = parentOf.get(node))
      onStack.add(byId.get(node).callFrame.functionName);
    for (const name of named) if (onStack.has(name)) inclusiveMs.set(name, inclusiveMs.get(name) + ms);
  });
  return { totalMs, selfMs, inclusiveMs };
}

async function startProfiledServe() {
  const serve = await startServe({
    env: batchServiceEnv({ dataDir: join(work, 'redis'), concurrency, urlCount }),
    nodeArgs: values['node-options'].split(' ').filter(Boolean),
    inspect: Boolean(values.profile),
  });
  // With --trace-opt / --trace-deopt in --node-options: V8's tier-up and deopt lines counted as they come.
  const v8Events = { optimized: 0, deoptimized: 0 };
  serve.child.stdout.on('data', (chunk) => {
    const text = chunk.toString();
    v8Events.optimized += text.match(/\[completed (?:optimizing|compiling)[^\n]*TURBOFAN/g)?.length ?? 0;
    v8Events.deoptimized += text.match(/\[bailout \(kind: deopt/g)?.length ?? 0;
  });
  return {
    ...serve,
    inspector: serve.inspectPort ? await inspectorOf(serve.inspectPort) : undefined,
    v8Events,
  };
}

async function runBatch(serve, listText) {
  return (await submitBatch(serve.url, listText, 10_000)).status;
}

const rows = [];
try {
  const targets = await startTargets(['127.0.0.1:0', '127.0.0.1:0', '127.0.0.2:0', '127.0.0.3:0']);
  const urls = mixedUrls(targets.origins, urlCount);
  const listPath = join(work, 'list.txt');
  await writeList(listPath, urls);
  const listText = `${urls.join('\n')}\n`;
  const serve = await startProfiledServe();
  console.log(
    `${urlCount} URLs x ${batchCount} batches after a ${warmupCount}-URL warm-up, concurrency ${concurrency}; serve ${values['node-options'] || '(default node options)'}; load average ${loadAverage()}`,
  );
  if (warmupCount > 0) await runBatch(serve, `${urls.slice(0, warmupCount).join('\n')}\n`);
  for (let batch = 1; batch <= batchCount; batch++) {
    if (values['between-cli']) {
      const run = await runReach({
        args: ['probe', '--file', listPath, '--json', '--concurrency', String(concurrency), '--threads', '1'],
        timeFile: join(work, 'time.txt'),
      });
      if (run.exitCode !== 0 && run.exitCode !== 1) throw new Error(`reach exited ${run.exitCode}`);
    }
    const timeWait = timeWaitCount();
    const threadsBefore = threadsOf(serve.pid);
    const redisBefore = cpuSecondsOf(serve.redisPid);
    const metricsBefore = await gcAndHeap(serve.url);
    const machineBefore = machineBusySeconds();
    const load = loadAverage();
    const v8Before = { ...serve.v8Events };
    if (serve.inspector) await serve.inspector.send('Profiler.start');
    const startedMs = performance.now();
    const status = await runBatch(serve, listText);
    const seconds = (performance.now() - startedMs) / 1000;
    const profile = serve.inspector ? (await serve.inspector.send('Profiler.stop')).profile : undefined;
    const metricsAfter = await gcAndHeap(serve.url);
    const threadsAfter = threadsOf(serve.pid);
    let mainSeconds = 0;
    const helpers = new Map();
    for (const [tid, after] of threadsAfter) {
      const spent = after.seconds - (threadsBefore.get(tid)?.seconds ?? 0);
      if (tid === String(serve.pid)) mainSeconds = spent;
      else helpers.set(after.name, (helpers.get(after.name) ?? 0) + spent);
    }
    const gcDelta = Object.fromEntries(
      Object.entries(metricsAfter.gc).map(([kind, value]) => [kind, value - (metricsBefore.gc[kind] ?? 0)]),
    );
    if (profile && values.profile)
      await writeFile(
        join(resolve(values.profile), `serve-batch-${batch}.cpuprofile`),
        JSON.stringify(profile),
      );
    rows.push({
      batch,
      seconds,
      done: status.done,
      mainSeconds,
      helpers,
      redisSeconds: cpuSecondsOf(serve.redisPid) - redisBefore,
      gcDelta,
      heap: metricsAfter,
      timeWait,
      load,
      optimized: serve.v8Events.optimized - v8Before.optimized,
      deoptimized: serve.v8Events.deoptimized - v8Before.deoptimized,
      machineCores: (machineBusySeconds() - machineBefore) / seconds,
      profile: profile ? summarise(profile) : undefined,
    });
  }
  serve.inspector?.close();
  await serve.stop();
  await targets.stop();
} finally {
  await stopOwnedChildren();
  await rm(work, { recursive: true, force: true });
}

const perUrl = (seconds, done) => format((seconds * 1000) / done, 3);
console.log(
  '\n| batch | URLs/s | serve main thread ms/URL | serve other threads ms/URL | redis ms/URL | GC s (minor, major, incremental) | GCs (minor, major) | heap used / total MB after | TIME_WAIT before | TurboFan compiles, deopts | machine cores busy | load before |',
);
console.log('|---:|---:|---:|---:|---:|---|---|---|---:|---|---:|---|');
for (const row of rows) {
  const helperSeconds = [...row.helpers.values()].reduce((sum, n) => sum + n, 0);
  const gc = row.gcDelta;
  console.log(
    `| ${row.batch} | ${format(row.done / row.seconds, 0)} | ${perUrl(row.mainSeconds, row.done)} | ${perUrl(helperSeconds, row.done)} | ${perUrl(row.redisSeconds, row.done)} | ${format(gc.minor ?? 0, 2)}, ${format(gc.major ?? 0, 2)}, ${format(gc.incremental ?? 0, 2)} | ${gc.minorCount ?? 0}, ${gc.majorCount ?? 0} | ${format(row.heap.heapUsedMb, 0)} / ${format(row.heap.heapTotalMb, 0)} | ${row.timeWait} | ${row.optimized}, ${row.deoptimized} | ${format(row.machineCores, 2)} | ${row.load} |`,
  );
}
console.log('\nserve helper threads, CPU s by name:');
for (const row of rows)
  console.log(
    `- batch ${row.batch}: ${[...row.helpers]
      .filter(([, seconds]) => seconds >= 0.01)
      .map(([name, seconds]) => `${name} ${format(seconds, 2)}`)
      .join(', ')}`,
  );
if (rows[0]?.profile && values.functions) {
  console.log('\ninclusive time of the named functions, ms per batch:');
  for (const row of rows)
    console.log(
      `- batch ${row.batch}: ${[...row.profile.inclusiveMs].map(([name, ms]) => `${name} ${format(ms, 0)}`).join(', ')}`,
    );
}
if (rows[0]?.profile) {
  // Where the first batch's main thread spent more than the last's: the functions that differ most.
  const first = rows[0].profile;
  const last = rows.at(-1).profile;
  const keys = new Set([...first.selfMs.keys(), ...last.selfMs.keys()]);
  const differences = [...keys]
    .map((key) => ({ key, first: first.selfMs.get(key) ?? 0, last: last.selfMs.get(key) ?? 0 }))
    .sort((a, b) => b.first - b.last - (a.first - a.last));
  console.log(
    `\nprofiled main thread: batch 1 ${format(first.totalMs, 0)} ms sampled, batch ${rows.length} ${format(last.totalMs, 0)} ms`,
  );
  console.log('self time, the 25 functions that grew most in batch 1 against the last (ms):');
  for (const entry of differences.slice(0, 25))
    console.log(`- ${entry.key}: ${format(entry.first, 0)} against ${format(entry.last, 0)}`);
}
