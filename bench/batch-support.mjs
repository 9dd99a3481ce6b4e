// Shared pieces of the batch benchmarks: loopback targets in a child process, URL lists, the reach CLI run as a
// measured process, `reach serve` started and sent a batch, and readings from /proc (CPU, RSS, file descriptors,
// the machine's load).
import { once } from 'node:events';
import { createWriteStream, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import readline from 'node:readline';
import { freePort, startChild, stopChild, waitForHttp } from './support.mjs';

export const root = resolve(import.meta.dirname, '..');
export const cliPath = join(root, 'dist/cli.js');
const clockTicksPerSecond = 100;

// The benches' one way to start and stop child processes, here for the batch benches that import it from this file.
export { startChild, stopChild, stopOwnedChildren } from './support.mjs';

/** The loopback target server (bench/batch-targets.mjs) on these `host:port` specs (port 0: any free one). */
export async function startTargets(specs) {
  const started = startChild(process.execPath, [join(root, 'bench/batch-targets.mjs'), ...specs]);
  const lines = readline.createInterface({ input: started.child.stdout });
  const exited = once(started.child, 'exit').then(() => {
    throw new Error(`the target server exited: ${started.stderrTail()}`);
  });
  const [first] = await Promise.race([once(lines, 'line'), exited]);
  lines.close();
  return {
    pid: started.child.pid,
    origins: JSON.parse(first).listening.map((hostPort) => `http://${hostPort}`),
    stop: () => stopChild(started.child),
  };
}

/** The mix of URLs a list holds, in order: mostly healthy pages, some large, some redirected, some 404. */
export function mixedUrls(origins, count) {
  const paths = [
    () => '/',
    (n) => `/page/${n}`,
    (n) => `/page/${n}?ref=list`,
    () => '/',
    (n) => `/page/${n}`,
    (n) => `/large/${n}`,
    (n) => `/page/${n}`,
    (n) => `/moved/${n}`,
    () => '/',
    (n) => `/missing/${n}`,
  ];
  const urls = [];
  for (let index = 0; index < count; index++)
    urls.push(`${origins[index % origins.length]}${paths[index % paths.length](index)}`);
  return urls;
}

/** Writes one URL a line, with a comment on top as a person's list would have. */
export async function writeList(path, urls) {
  const stream = createWriteStream(path);
  stream.write(`# ${urls.length} URLs written by the batch benchmark\n`);
  for (const url of urls) if (!stream.write(`${url}\n`)) await once(stream, 'drain');
  stream.end();
  await once(stream, 'close');
}

/** CPU seconds (user + system) a live process has used so far, from /proc/PID/stat. */
export function cpuSecondsOf(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
}

/** The children of a process (the program `/usr/bin/time` or `ip netns exec` started). */
export function childPidsOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function descendantsOf(pid) {
  const children = childPidsOf(pid);
  return [...children, ...children.flatMap(descendantsOf)];
}

/** A process's command line, words joined by spaces; '' once it is gone. */
export function commandOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/** Resident memory now and its peak so far (KiB), from /proc/PID/status; undefined once the process is gone. */
export function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1]);
    return { rssKb: field('VmRSS'), peakRssKb: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** A process's open file descriptors, with how many are sockets; undefined once the process is gone. */
export function descriptorsOf(pid) {
  try {
    const names = readdirSync(`/proc/${pid}/fd`);
    let sockets = 0;
    const kinds = new Map();
    for (const name of names) {
      let target;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${name}`);
      } catch {
        continue; // closed between the listing and the look
      }
      const kind = target.startsWith('socket:')
        ? 'socket'
        : target.startsWith('pipe:')
          ? 'pipe'
          : target.startsWith('anon_inode:')
            ? target.slice('anon_inode:'.length)
            : 'file';
      if (kind === 'socket') sockets++;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    return { total: names.length, sockets, kinds: Object.fromEntries(kinds) };
  } catch {
    return undefined;
  }
}

/** Busy CPU seconds of the whole machine so far (all cores; idle and iowait left out), from /proc/stat. */
export function machineBusySeconds() {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return (user + nice + system + irq + softirq + steal) / clockTicksPerSecond;
}

/**
 * CPU time the hypervisor gave to other machines while this one wanted it (/proc/stat's steal), in seconds: a
 * round with steal ran on less than the machine's cores, whichever side it measured.
 */
export function machineStealSeconds() {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  return Number(fields[7]) / clockTicksPerSecond;
}

export function loadAverage() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/**
 * Starts `reach …` as a measured process: under GNU time (its whole life's CPU and peak RSS, read once it has
 * exited), with `prefix` in front (e.g. `ip netns exec NS`). Calls `onLine` for each line of its stdout and
 * `onStart(pid)` with the Node process's pid once it exists. `stdinText` is written to its standard input, which
 * is then closed, or kept open until `closeInput()` when `holdsStdinOpen`. `cli` runs another build's dist/cli.js.
 */
export function startReach({
  args,
  cli = cliPath,
  nodeArgs = [],
  prefix = [],
  stdinText,
  holdsStdinOpen,
  onLine,
  onStart,
  timeFile,
}) {
  const command = [
    ...prefix,
    ...['/usr/bin/time', '-f', '%e %U %S %M', '-o', timeFile],
    ...[process.execPath, ...nodeArgs, cli, ...args],
  ];
  const startedMs = performance.now();
  const started = startChild(command[0], command.slice(1), {
    stdio: [stdinText === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  const { child } = started;
  if (stdinText !== undefined) {
    child.stdin.on('error', () => {}); // the process may exit before reading it all
    if (holdsStdinOpen) child.stdin.write(stdinText);
    else child.stdin.end(stdinText);
  }
  let lineCount = 0;
  const lines = readline.createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  const linesClosed = once(lines, 'close');
  lines.on('line', (line) => {
    lineCount++;
    onLine?.(line, lineCount);
  });
  if (onStart) findNodePid(child.pid).then(onStart, () => {});
  const finished = (async () => {
    const [exitCode] = await once(child, 'exit');
    const elapsedSeconds = (performance.now() - startedMs) / 1000;
    await linesClosed;
    let timeText;
    try {
      timeText = readFileSync(timeFile, 'utf8');
    } catch {
      throw new Error(`reach did not run (exit ${exitCode}): ${started.stderrTail()}`);
    }
    const [wallSeconds, userSeconds, systemSeconds, maxRssKb] = timeText
      .trim()
      .split('\n')
      .at(-1)
      .split(' ')
      .map(Number);
    return {
      exitCode,
      elapsedSeconds,
      wallSeconds,
      cpuSeconds: userSeconds + systemSeconds,
      maxRssKb,
      lineCount,
      stderrTail: started.stderrTail(),
    };
  })();
  return { finished, closeInput: () => child.stdin?.end() };
}

export function runReach(options) {
  return startReach(options).finished;
}

/** The Node process under `/usr/bin/time` (itself maybe under `ip netns exec` and a shell). */
async function findNodePid(pid) {
  for (let attempt = 0; attempt < 2000; attempt++) {
    const node = descendantsOf(pid).find((each) => commandOf(each).startsWith(`${process.execPath} `));
    if (node !== undefined) return node;
    await new Promise((done) => setTimeout(done, 10));
  }
  throw new Error('the reach process did not start');
}

/** The verdict's cause in one NDJSON report line, without parsing the whole report. */
export function causeOfReportLine(line) {
  const at = line.indexOf('"verdict":{"cause":"');
  if (at < 0) return 'unparsed';
  const start = at + '"verdict":{"cause":"'.length;
  return line.slice(start, line.indexOf('"', start));
}

export function countInto(counts, key) {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

export function formatCounts(counts) {
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([key, count]) => `${key} ${count}`)
    .join(', ');
}

/** Least-squares slope of y over x. */
export function slopeOf(points) {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const [x, y] of points) {
    covariance += (x - meanX) * (y - meanY);
    variance += (x - meanX) ** 2;
  }
  return covariance / variance;
}

export const format = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/** The options of every batch bench (node:util parseArgs): the list's length and the probes in flight. */
export const batchListOptions = {
  urls: { type: 'string', default: '10000' },
  concurrency: { type: 'string', default: '50' },
};

/** The list's length and the probes in flight as a batch bench was given them, within bounds. */
export function batchListSettings(values) {
  return {
    urlCount: boundedOption(values.urls, 10_000, 100, 200_000),
    concurrency: boundedOption(values.concurrency, 50, 1, 1000),
  };
}

/** A whole number from a command-line option, `fallback` when it is not one, kept within [min, max]. */
export function boundedOption(text, fallback, min, max) {
  return Math.min(Math.max(Number(text) || fallback, min), max);
}

/**
 * The environment of the batch benches' `reach serve` and `reach worker`: loopback targets allowed, limits out of
 * the way of a `urlCount`-URL list, `concurrency` probes of the batch lane; Redis the embedded one (its data in
 * `dataDir`) unless `redisUrl`.
 */
export function batchServiceEnv({ dataDir, concurrency, urlCount, redisUrl = '' }) {
  return {
    REDIS_URL: redisUrl,
    REDIS_DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PROBE_ALLOW_PRIVATE: 'true',
    BATCH_WORKER_CONCURRENCY: String(concurrency),
    // serve alone, one process (its default is one per core); --service-processes sets more, each its share.
    WORKER_PROCESSES: '1',
    BATCH_MAX_URLS: String(urlCount),
    BATCH_MAX_BODY_BYTES: String(64 * 1024 * 1024),
    RATE_LIMIT_POINTS: '10000000',
    QUEUE_MAX_WAITING: '1000000',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
  };
}

/**
 * `reach serve` (this build's, or the build of `cli`) as our child on a free loopback port, with `env`
 * (batchServiceEnv), ready (/readyz answers). Answers its url, pid and child process (whose stdout the caller may
 * read), its embedded redis-server's pid (undefined with a REDIS_URL of its own) and, with `inspect`, the port of
 * its inspector.
 */
export async function startServe({ env, cli = cliPath, nodeArgs = [], inspect = false }) {
  const port = await freePort();
  const inspectPort = inspect ? await freePort() : undefined;
  const started = startChild(
    process.execPath,
    [...nodeArgs, ...(inspectPort ? [`--inspect=127.0.0.1:${inspectPort}`] : []), cli, 'serve'],
    { env: { ...env, PORT: String(port) } },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    // A loaded machine (load 30 on 2 cores) has taken over 15 s to start it.
    await waitForHttp(`${url}/readyz`, 'reach serve', 600);
  } catch (error) {
    throw new Error(`${error.message}\n${started.stderrTail()}`);
  }
  return {
    url,
    pid: started.child.pid,
    child: started.child,
    redisPid: childPidsOf(started.child.pid).find((pid) => commandOf(pid).includes('redis-server')),
    inspectPort,
    stop: () => stopChild(started.child),
  };
}

/**
 * Submits a list as text/plain to POST /batches and polls the batch every 50 ms until it has ended (the end is
 * seen within 50 ms of its last result; the polls are counted in serve's CPU). Answers the 202's body, the last
 * status, and when (ms after the POST) it was accepted and its end seen.
 */
export async function submitBatch(url, listText, timeoutMs) {
  const submittedMs = performance.now();
  const submitted = await fetch(`${url}/batches?timeoutMs=${timeoutMs}`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: listText,
  });
  if (submitted.status === 404 || submitted.status === 405)
    throw new Error(`POST /batches answered ${submitted.status}: this build has no batches API`);
  const accepted = await submitted.json();
  if (submitted.status !== 202)
    throw new Error(`POST /batches answered ${submitted.status}: ${JSON.stringify(accepted)}`);
  const acceptMs = performance.now() - submittedMs;
  for (;;) {
    await new Promise((done) => setTimeout(done, 50));
    const status = await (await fetch(`${url}/batches/${accepted.id}`)).json();
    if (status.state !== 'running')
      return { accepted, status, acceptMs, seenMs: performance.now() - submittedMs };
  }
}
