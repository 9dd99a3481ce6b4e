// Benchmark: 100,000 URLs on loopback targets through `reach probe --file`, with the process's resident memory
// sampled every second: it should stay flat, since a batch streams its list and its output.
// Usage: npm run bench:batch-memory [-- --urls 100000 --concurrency 50 --output csv --threads N]
// (`--threads` is passed to `reach probe`; without it, the CLI's default: one probing thread per core; the RSS
// is the whole process's, every thread's heap included).
// Loopback only: the targets are a Node HTTP server on 127.0.0.1-3; everything started here is stopped by pid.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  format,
  loadAverage,
  memoryOf,
  mixedUrls,
  slopeOf,
  startReach,
  startTargets,
  stopOwnedChildren,
  writeList,
} from './batch-support.mjs';

const { values } = parseArgs({
  options: {
    urls: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '50' },
    // csv: one short line per URL; json: the whole report per URL (more output for the process to stream).
    output: { type: 'string', default: 'csv' },
    threads: { type: 'string' },
  },
});
const urlCount = Math.min(Math.max(Number(values.urls) || 100_000, 1000), 1_000_000);
const concurrency = Math.min(Math.max(Number(values.concurrency) || 50, 1), 1000);
const output = values.output === 'json' ? 'json' : 'csv';

const work = await mkdtemp(join(tmpdir(), 'reach-bench-memory-'));
const samples = [];
let reach;
const loadBefore = loadAverage();
try {
  const targets = await startTargets(['127.0.0.1:0', '127.0.0.1:0', '127.0.0.2:0', '127.0.0.3:0']);
  const listPath = join(work, 'list.txt');
  await writeList(listPath, mixedUrls(targets.origins, urlCount));
  let done = 0;
  let nodePid;
  const startedMs = performance.now();
  const sampler = setInterval(() => {
    const memory = nodePid === undefined ? undefined : memoryOf(nodePid);
    if (memory) samples.push({ atSeconds: (performance.now() - startedMs) / 1000, done, ...memory });
  }, 1000);
  const run = startReach({
    args: [
      'probe',
      '--file',
      listPath,
      `--${output}`,
      '--concurrency',
      String(concurrency),
      '--timeout',
      '10000',
      ...(values.threads === undefined ? [] : ['--threads', String(Number(values.threads))]),
    ],
    timeFile: join(work, 'time.txt'),
    onStart: (pid) => {
      nodePid = pid;
    },
    onLine: (_line, lineCount) => {
      // CSV has a header line; NDJSON has none.
      done = output === 'csv' ? lineCount - 1 : lineCount;
    },
  });
  reach = await run.finished;
  clearInterval(sampler);
  if (reach.exitCode !== 0 && reach.exitCode !== 1)
    throw new Error(`reach exited ${reach.exitCode}: ${reach.stderrTail}`);
  reach.done = done;
  await targets.stop();
} finally {
  await stopOwnedChildren();
  await rm(work, { recursive: true, force: true });
}

console.log(
  `${urlCount} URLs, concurrency ${concurrency}, --${output}, threads ${values.threads ?? 'default'}; load average before ${loadBefore}, after ${loadAverage()}`,
);
console.log('\n| seconds | results | RSS MB |');
console.log('|---:|---:|---:|');
// Every sample when there are few, else about twenty spread over the run.
const step = Math.max(1, Math.round(samples.length / 20));
for (const [index, sample] of samples.entries())
  if (index % step === 0 || index === samples.length - 1)
    console.log(`| ${format(sample.atSeconds, 0)} | ${sample.done} | ${format(sample.rssKb / 1024, 1)} |`);

// The slope over the run after its first tenth (the JIT, the pool and the heap settle first).
const settled = samples.filter((sample) => sample.done >= urlCount / 10 && sample.done < urlCount);
const slopeKbPer10k = slopeOf(settled.map((sample) => [sample.done, sample.rssKb])) * 10_000;
const rssMb = settled.map((sample) => sample.rssKb / 1024);
console.log(
  `\n${reach.done} results in ${format(reach.elapsedSeconds, 1)} s (${format(reach.done / reach.elapsedSeconds, 0)}/s); reach CPU ${format(reach.cpuSeconds, 1)} s; peak RSS ${format(reach.maxRssKb / 1024, 1)} MB`,
);
console.log(
  `after the first tenth (${settled.length} samples): RSS ${format(Math.min(...rssMb), 1)}–${format(Math.max(...rssMb), 1)} MB, slope ${format(slopeKbPer10k, 0)} KB per 10,000 URLs (${format((slopeKbPer10k * (urlCount / 10_000)) / 1024, 1)} MB over the whole list)`,
);
