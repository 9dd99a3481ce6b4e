// The engine's CPU per probe, in process: `probe()` from dist/engine.js at a batch's concurrency over the batch
// benchmark's URL mix, beside a raw socket GET and an undici Client per URL in the same run, so the engine's own
// cost above undici reads as a ratio. The targets run in a child process (bench/batch-targets.mjs), so their CPU
// is not counted. Loopback only.
// Usage: npm run build && node bench/engine-cpu.mjs [--urls 5000] [--concurrency 50] [--rounds 3]
//        [--only engine,ndjson,undici,socket]   (profile one: node --cpu-prof bench/engine-cpu.mjs --only engine)
//        [--baseline DIR]   another build's dist/ (e.g. main's, copied aside with its node_modules beside it), probed
//                           in the same run as the `baseline` client, to measure a change as a within-run ratio
import net from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from 'undici';
import { probe } from '../dist/engine.js';
import { loadAverage, mixedUrls, startTargets, stopOwnedChildren } from './batch-support.mjs';

const { values } = parseArgs({
  options: {
    urls: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string', default: 'socket,undici,engine,ndjson' },
    baseline: { type: 'string' },
  },
});
const baseline = values.baseline
  ? await import(pathToFileURL(resolve(values.baseline, 'engine.js')).href)
  : undefined;
const urlCount = Math.min(Math.max(Number(values.urls) || 5000, 100), 200_000);
const concurrency = Math.min(Math.max(Number(values.concurrency) || 50, 1), 1000);
const rounds = Math.min(Math.max(Number(values.rounds) || 3, 1), 20);

/** A GET on a fresh socket, read until the server's FIN (the answer is small and `content-length` bounded). */
function socketGet(url) {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.hostname, port: Number(target.port), noDelay: true });
    let bytes = 0;
    socket.once('connect', () =>
      socket.end(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nhost: ${target.host}\r\nuser-agent: bench\r\naccept: */*\r\nconnection: close\r\n\r\n`,
      ),
    );
    socket.on('data', (chunk) => {
      bytes += chunk.length;
    });
    socket.once('error', reject);
    socket.once('close', () => (bytes > 0 ? resolve() : reject(new Error('no answer'))));
  });
}

/** An undici Client per URL (a fresh connection each), the body read to the end, the client destroyed. */
async function undiciGet(url) {
  const target = new URL(url);
  const client = new Client(target.origin, { pipelining: 1 });
  try {
    const response = await client.request({
      method: 'GET',
      path: `${target.pathname}${target.search}`,
      headers: { 'user-agent': 'bench', accept: '*/*' },
    });
    for await (const _chunk of response.body);
  } finally {
    await client.destroy();
  }
}

async function engineProbe(url, probeOf = probe) {
  const report = await probeOf({ url, timeoutMs: 10_000 });
  if (report.verdict.cause === 'internal') throw new Error(`verdict ${report.verdict.code}`);
  return report;
}

const lines = { count: 0, bytes: 0 };
async function engineLine(url) {
  // What `reach probe --file --json` does per URL beside the probe: the report as one NDJSON line.
  const line = JSON.stringify(await engineProbe(url));
  lines.bytes += line.length;
  lines.count++;
}

const modes = {
  socket: { name: 'raw socket GET (fresh connection)', run: socketGet },
  undici: { name: 'undici Client per URL', run: undiciGet },
  engine: { name: 'engine probe()', run: engineProbe },
  ndjson: { name: 'engine probe() + NDJSON line', run: engineLine },
  baseline: {
    name: `baseline probe() (${values.baseline})`,
    run: (url) => engineProbe(url, baseline?.probe),
  },
};
const names = values.only.split(',');
if (baseline && !names.includes('baseline')) names.push('baseline');
const chosen = names.map((name) => {
  const mode = modes[name.trim()];
  if (!mode) throw new Error(`unknown mode ${name}; one of ${Object.keys(modes).join(', ')}`);
  return mode;
});

async function runAll(run, urls) {
  let next = 0;
  const worker = async () => {
    while (next < urls.length) await run(urls[next++]);
  };
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - started) / 1000, cpuMs: (used.user + used.system) / 1000 };
}

const targets = await startTargets(['127.0.0.1:0', '127.0.0.1:0', '127.0.0.2:0', '127.0.0.3:0']);
try {
  const urls = mixedUrls(targets.origins, urlCount);
  console.log(
    `node ${process.version}; ${urlCount} URLs a round, concurrency ${concurrency}, ${rounds} rounds; load average ${loadAverage()}`,
  );
  // Warm-up: every function compiled and optimised before anything is counted.
  for (const mode of chosen) await runAll(mode.run, urls.slice(0, Math.min(2000, urlCount)));
  const totals = new Map(chosen.map((mode) => [mode, []]));
  console.log('| round | client | s | URLs/s | CPU ms/URL |');
  console.log('|---:|---|---:|---:|---:|');
  for (let round = 1; round <= rounds; round++) {
    // Alternating the order, so drift in the machine's load falls on every client alike.
    const order = round % 2 === 1 ? chosen : [...chosen].reverse();
    for (const mode of order) {
      const { seconds, cpuMs } = await runAll(mode.run, urls);
      totals.get(mode).push(cpuMs / urlCount);
      console.log(
        `| ${round} | ${mode.name} | ${seconds.toFixed(2)} | ${Math.round(urlCount / seconds)} | ${(cpuMs / urlCount).toFixed(3)} |`,
      );
    }
  }
  const mean = (list) => list.reduce((sum, value) => sum + value, 0) / list.length;
  console.log(`\nmean CPU ms per URL over ${rounds} rounds (load average now ${loadAverage()}):`);
  const meanOf = (mode) => (totals.has(mode) ? mean(totals.get(mode)) : undefined);
  const undiciMean = meanOf(modes.undici);
  const baselineMean = meanOf(modes.baseline);
  for (const [mode, list] of totals) {
    const ratios = [
      undiciMean ? `${(mean(list) / undiciMean).toFixed(2)}x undici` : '',
      undiciMean && mode.run !== undiciGet ? `${(mean(list) - undiciMean).toFixed(3)} ms above undici` : '',
      baselineMean ? `${(mean(list) / baselineMean).toFixed(2)}x baseline` : '',
    ].filter(Boolean);
    console.log(`  ${mode.name}: ${mean(list).toFixed(3)}${ratios.length ? `, ${ratios.join(', ')}` : ''}`);
  }
  if (lines.count > 0) console.log(`  (NDJSON lines: ${Math.round(lines.bytes / lines.count)} bytes each)`);
} finally {
  await targets.stop();
  await stopOwnedChildren();
}
