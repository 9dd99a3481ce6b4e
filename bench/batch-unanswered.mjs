// Benchmark: 5,000 targets that never answer, all in flight at once with a 10 s timeout, through
// `reach probe --file -` run inside a network namespace: how long the batch takes, its peak RSS, and whether any
// file descriptor is left open once every probe has ended.
//
// Root only (it creates network namespaces). Needs iproute2, iptables and GNU time (/usr/bin/time).
// Usage: npm run bench:batch-unanswered [-- --urls 5000 --concurrency 5000 --timeout 10000 --threads N]
// (`--threads` is passed to `reach probe`; without it, the CLI's default: one probing thread per core).
//
// The network: namespace `rbench-p-PID` (reach runs here) has a veth to namespace `rbench-s-PID`, which owns
// 203.0.113.0/24 (a documentation range) and DROPs every TCP packet to it, so each SYN goes unanswered. Neither
// namespace has a link or route to the host's network. Both are deleted by name at the end (and on Ctrl-C).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  countInto,
  descriptorsOf,
  format,
  formatCounts,
  loadAverage,
  memoryOf,
  startReach,
  stopOwnedChildren,
} from './batch-support.mjs';

const { values } = parseArgs({
  options: {
    urls: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '5000' },
    timeout: { type: 'string', default: '10000' },
    threads: { type: 'string' },
    // Writes a V8 CPU profile of the reach process (node --cpu-prof) into this directory.
    profile: { type: 'string' },
  },
});
const urlCount = Math.min(Math.max(Number(values.urls) || 5000, 10), 20_000);
const concurrency = Math.min(Math.max(Number(values.concurrency) || 5000, 1), 10_000);
const timeoutMs = Math.min(Math.max(Number(values.timeout) || 10_000, 100), 60_000);

if (process.getuid?.() !== 0) {
  console.error('bench:batch-unanswered needs root to create network namespaces; nothing was run');
  process.exit(1);
}

const probeNamespace = `rbench-p-${process.pid}`;
const sinkNamespace = `rbench-s-${process.pid}`;
const made = []; // the namespaces this run created, deleted by name at the end

function run(command, ...args) {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function inNamespace(namespace, command, ...args) {
  return execFileSync('ip', ['netns', 'exec', namespace, command, ...args], { encoding: 'utf8' });
}

function createNetwork() {
  for (const namespace of [probeNamespace, sinkNamespace]) {
    run('ip', 'netns', 'add', namespace);
    made.push(namespace);
  }
  const probeEnd = `rbp${process.pid}`;
  const sinkEnd = `rbs${process.pid}`;
  run(
    'ip',
    'link',
    'add',
    probeEnd,
    'netns',
    probeNamespace,
    'type',
    'veth',
    'peer',
    'name',
    sinkEnd,
    'netns',
    sinkNamespace,
  );
  run('ip', '-n', probeNamespace, 'link', 'set', 'lo', 'up');
  run('ip', '-n', probeNamespace, 'addr', 'add', '198.51.100.2/30', 'dev', probeEnd);
  run('ip', '-n', probeNamespace, 'link', 'set', probeEnd, 'up');
  run('ip', '-n', probeNamespace, 'route', 'add', '203.0.113.0/24', 'via', '198.51.100.1');
  run('ip', '-n', sinkNamespace, 'link', 'set', 'lo', 'up');
  run('ip', '-n', sinkNamespace, 'addr', 'add', '198.51.100.1/30', 'dev', sinkEnd);
  run('ip', '-n', sinkNamespace, 'link', 'set', sinkEnd, 'up');
  run('ip', '-n', sinkNamespace, 'addr', 'add', '203.0.113.1/24', 'dev', 'lo');
  run(
    'ip',
    'netns',
    'exec',
    sinkNamespace,
    'iptables',
    '-w',
    '-A',
    'INPUT',
    '-d',
    '203.0.113.0/24',
    '-p',
    'tcp',
    '-j',
    'DROP',
  );
}

/** Packets the sink's DROP rule has eaten so far. */
function droppedPackets() {
  const listing = inNamespace(sinkNamespace, 'iptables', '-w', '-L', 'INPUT', '-n', '-v', '-x');
  const rule = listing.split('\n').find((line) => /\bDROP\b/.test(line));
  return Number(rule?.trim().split(/\s+/)[0] ?? Number.NaN);
}

function deleteNetwork() {
  for (const namespace of made.splice(0)) {
    try {
      run('ip', 'netns', 'del', namespace);
    } catch (error) {
      console.error(`could not delete namespace ${namespace}: ${error.message}`);
    }
  }
}

process.once('SIGINT', () => {
  deleteNetwork();
  process.exit(130);
});

/** 5,000 URLs over 203.0.113.2-251 and 20 ports each, http and https, a few paths. */
function unansweredUrls(count) {
  const urls = [];
  for (let index = 0; index < count; index++) {
    const host = `203.0.113.${2 + (index % 250)}`;
    const port = 8000 + Math.floor(index / 250);
    const scheme = index % 4 === 3 ? 'https' : 'http';
    urls.push(`${scheme}://${host}:${port}/${index % 3 === 0 ? '' : `item/${index}`}`);
  }
  return urls;
}

const work = await mkdtemp(join(tmpdir(), 'reach-bench-unanswered-'));
let result;
try {
  createNetwork();
  const urls = unansweredUrls(urlCount);
  const listPath = join(work, 'list.txt');
  await writeFile(listPath, `${urls.join('\n')}\n`);
  const causes = new Map();
  const samples = [];
  let nodePid;
  let lastResultMs;
  // From the reports themselves: when the first probe started and the last one ended (wall clock, ms).
  let firstProbeStartMs = Number.POSITIVE_INFINITY;
  let lastProbeEndMs = 0;
  let lastProbeStartMs = 0;
  let longestProbeMs = 0;
  let afterLast;
  let resolveAllDone;
  const allDone = new Promise((done) => {
    resolveAllDone = done;
  });
  const startedMs = performance.now();
  const sampler = setInterval(() => {
    if (nodePid === undefined) return;
    const memory = memoryOf(nodePid);
    const descriptors = countDescriptors(nodePid);
    if (memory && descriptors)
      samples.push({
        atSeconds: (performance.now() - startedMs) / 1000,
        done: causes.size === 0 ? 0 : sum(causes),
        ...memory,
        ...descriptors,
      });
  }, 500);
  const reachRun = startReach({
    nodeArgs: values.profile ? ['--cpu-prof', '--cpu-prof-dir', resolve(values.profile)] : [],
    // The soft limit raised to the hard one for the sockets in flight (as Node does at start); stops when too few.
    prefix: [
      'ip',
      'netns',
      'exec',
      probeNamespace,
      'bash',
      '-c',
      // The list reaches reach's standard input through `cat`, at the kernel's pace: written by this process,
      // it came a pipe's 64 KiB at a time whenever this event loop was free, which under load held the
      // probes' start back by seconds. The second `cat` then holds the input open until closeInput().
      `ulimit -n "$(ulimit -Hn)"; n=$(ulimit -n); [ "$n" = unlimited ] || [ "$n" -gt ${concurrency + 100} ] || { echo "ulimit -n is $n: too few for concurrency ${concurrency}" >&2; exit 1; }; { cat "$0"; cat; } | "$@"`,
      listPath,
    ],
    args: [
      'probe',
      '--file',
      '-',
      '--json',
      '--concurrency',
      String(concurrency),
      '--timeout',
      String(timeoutMs),
      ...(values.threads === undefined ? [] : ['--threads', String(Number(values.threads))]),
    ],
    // The list arrives on standard input, which stays open after it: the process lives on once every probe
    // has ended, so its descriptors can be counted then. Closing the input ends the batch.
    stdinText: '',
    holdsStdinOpen: true,
    timeFile: join(work, 'time.txt'),
    onStart: (pid) => {
      nodePid = pid;
    },
    onLine: (line, lineCount) => {
      const report = JSON.parse(line);
      countInto(causes, report.verdict.cause);
      const startMs = Date.parse(report.startedAt);
      firstProbeStartMs = Math.min(firstProbeStartMs, startMs);
      lastProbeEndMs = Math.max(lastProbeEndMs, startMs + report.durationMs);
      lastProbeStartMs = Math.max(lastProbeStartMs, startMs);
      longestProbeMs = Math.max(longestProbeMs, report.durationMs);
      if (lineCount === urlCount) {
        lastResultMs = performance.now();
        resolveAllDone();
      }
    },
  });
  const outcome = await Promise.race([allDone.then(() => 'done'), reachRun.finished.then(() => 'exited')]);
  if (outcome === 'done') {
    // Let the event loop finish closing what the last probes opened, then look.
    await new Promise((done) => setTimeout(done, 1000));
    afterLast = { ...descriptorsOf(nodePid), ...memoryOf(nodePid), socketsInNamespace: openTcpSockets() };
  }
  clearInterval(sampler);
  const exitStartedMs = performance.now();
  reachRun.closeInput();
  const reach = await reachRun.finished;
  result = {
    reach,
    causes,
    samples,
    afterLast,
    lastResultSeconds: lastResultMs === undefined ? Number.NaN : (lastResultMs - startedMs) / 1000,
    probeSpanSeconds: (lastProbeEndMs - firstProbeStartMs) / 1000,
    startSpreadSeconds: (lastProbeStartMs - firstProbeStartMs) / 1000,
    longestProbeSeconds: longestProbeMs / 1000,
    exitSeconds: (performance.now() - exitStartedMs) / 1000,
    droppedPackets: droppedPackets(),
  };
} finally {
  await stopOwnedChildren();
  deleteNetwork();
  await rm(work, { recursive: true, force: true });
}

/**
 * The process's open descriptors (a count) and the TCP sockets in use in its namespace, cheap enough to sample
 * every 0.5 s: a readlink of each of 5,000 descriptors held this event loop, and with it reach's output pipe.
 */
function countDescriptors(pid) {
  try {
    const total = readdirSync(`/proc/${pid}/fd`).length;
    const sockstat = readFileSync(`/proc/${pid}/net/sockstat`, 'utf8');
    return { total, sockets: Number(/^TCP: inuse (\d+)/m.exec(sockstat)?.[1]) };
  } catch {
    return undefined;
  }
}

function sum(counts) {
  return [...counts.values()].reduce((total, n) => total + n, 0);
}

/** TCP sockets of any state left in the probing namespace (the process's, or the kernel's after it). */
function openTcpSockets() {
  const listing = inNamespace(probeNamespace, 'ss', '-tanH');
  return listing.split('\n').filter((line) => line.trim() !== '').length;
}

const { reach, causes, samples, afterLast } = result;
console.log(
  `${urlCount} unanswered URLs, concurrency ${concurrency}, timeout ${timeoutMs} ms, threads ${values.threads ?? 'default'}; load average after ${loadAverage()}`,
);
console.log('\n| seconds | results | RSS MB | fds | TCP sockets in the namespace |');
console.log('|---:|---:|---:|---:|---:|');
for (const sample of samples)
  console.log(
    `| ${format(sample.atSeconds, 1)} | ${sample.done} | ${format(sample.rssKb / 1024, 0)} | ${sample.total} | ${sample.sockets} |`,
  );
console.log(
  `\nresults: ${sum(causes)} (${formatCounts(causes)}); SYNs dropped in the sink namespace: ${result.droppedPackets}`,
);
console.log(
  `process start to last result: ${format(result.lastResultSeconds, 2)} s (aim < 12 s); first probe's start to last probe's end (from the reports): ${format(result.probeSpanSeconds, 2)} s, the last probe started ${format(result.startSpreadSeconds, 2)} s after the first, the longest took ${format(result.longestProbeSeconds, 2)} s; reach process CPU ${format(reach.cpuSeconds, 2)} s; peak RSS ${format(reach.maxRssKb / 1024, 0)} MB (aim < 500 MB)`,
);
if (afterLast)
  console.log(
    `1 s after the last result, the process still running: ${afterLast.total} fds (${formatCounts(new Map(Object.entries(afterLast.kinds)))}), ${afterLast.sockets} sockets; TCP sockets in the namespace: ${afterLast.socketsInNamespace}; RSS ${format(afterLast.rssKb / 1024, 0)} MB`,
  );
console.log(`input closed: the process exited ${reach.exitCode} ${format(result.exitSeconds, 2)} s later`);
