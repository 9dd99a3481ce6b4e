// `reach serve` with WORKER_PROCESSES: its `reach worker` children on serve's embedded Redis probe a batch beside
// serve's own worker, show in serve's /metrics, are started again when one dies, stop with serve, and do not
// outlive a serve that was killed.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../../src/redis/embedded.js';
import { cliPath, isRunning } from '../../support/process.js';
import { eventually, getJson, postJson, startTarget } from './support.js';

const children = new Set<ChildProcess>();
/** Processes serve started (its workers, its redis-server) that a test's failure could leave: killed by pid. */
const descendants = new Set<number>();
const dataDirs: string[] = [];

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of descendants) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

/** The processes whose parent is `pid`, with their command lines (read from /proc). */
function childrenOf(pid: number): { pid: number; command: string }[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => {
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        // The command name is in parentheses and may hold spaces: the fields after its ')' are fixed.
        const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (parent !== pid) return [];
        const command = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim();
        return [{ pid: Number(name), command }];
      } catch {
        return []; // gone between the listing and the read
      }
    });
}

const workerPidsOf = (pid: number) =>
  childrenOf(pid)
    .filter((child) => / worker\b/.test(child.command))
    .map((child) => child.pid);

interface Serve {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/**
 * `detached`: serve leads a process group of its own (its children in it), for a signal to the whole group;
 * `dataDir`: an earlier serve's, to read what it kept.
 */
async function startServe(
  env: Record<string, string>,
  options: { detached?: boolean; dataDir?: string } = {},
): Promise<Serve & { dataDir: string }> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'reach-worker-processes-'));
  dataDirs.push(dataDir);
  const detached = options.detached ?? false;
  const child = spawn(process.execPath, [cliPath, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      REDIS_DATA_DIR: join(dataDir, 'redis'),
      PORT: '0',
      HOST: '127.0.0.1',
      PROBE_ALLOW_PRIVATE: 'true',
      LOG_LEVEL: 'info',
      SHUTDOWN_DEADLINE_MS: '10000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
  children.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const url = await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${output}`);
      const line = output.split('\n').find((each) => each.includes('"API listening"'));
      return line ? (JSON.parse(line) as { url: string }).url : undefined;
    },
    { what: 'serve to listen', attempts: 300, intervalMs: 100 },
  );
  return { child, url, output: () => output, dataDir };
}

function rememberDescendants(serve: Serve): void {
  for (const each of childrenOf(serve.child.pid as number)) descendants.add(each.pid);
}

async function metricValue(url: string, series: string): Promise<number | undefined> {
  const { body } = await getJson(`${url}/metrics`);
  const line = String(body)
    .split('\n')
    .find((each) => each.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('reach serve with WORKER_PROCESSES=2', { timeout: 120_000 }, () => {
  it('probes a batch in two processes at once, sums their metrics, restarts a killed one, and stops them all', async () => {
    // Each process takes one one-URL chunk at a time: two requests in flight at once can only come from two
    // processes. The target holds the first request until a second is in flight (or 60 s pass, so a failing run
    // still ends), then answers everything at once.
    let inFlight = 0;
    let maxInFlight = 0;
    const held: (() => void)[] = [];
    const target = await startTarget((_request, response) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const answer = () => {
        inFlight -= 1;
        response.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>ok</body></html>');
      };
      if (maxInFlight >= 2) {
        answer();
        for (const release of held.splice(0)) release();
        return;
      }
      const timer = setTimeout(answer, 60_000);
      held.push(() => {
        clearTimeout(timer);
        answer();
      });
    });
    const serve = await startServe({
      WORKER_PROCESSES: '2',
      BATCH_WORKER_CONCURRENCY: '1',
      BATCH_CHUNK_SIZE: '1',
    });
    try {
      const servePid = serve.child.pid as number;
      const [firstWorker] = await eventually(
        async () => (workerPidsOf(servePid).length === 1 ? workerPidsOf(servePid) : undefined),
        { what: 'one worker process beside serve', attempts: 100, intervalMs: 100 },
      );
      rememberDescendants(serve);
      expect(await metricValue(serve.url, 'reach_worker_processes')).toBe(2);

      const urls = [1, 2, 3, 4].map((n) => `${target.url}page/${n}`);
      const submitted = await postJson(`${serve.url}/batches`, { urls, timeoutMs: 90_000 });
      expect(submitted.status).toBe(202);
      const finished = await eventually(
        async () => {
          const { body } = await getJson(`${serve.url}/batches/${submitted.body.id}`);
          return body.finishedAt ? body : undefined;
        },
        { what: 'the batch to finish', attempts: 600, intervalMs: 200 },
      );
      expect(finished.byCause.ok).toBe(4);
      expect(maxInFlight).toBe(2);
      // Both processes' items, summed into serve's one scrape.
      expect(await metricValue(serve.url, 'reach_batch_items_total{cause="ok"}')).toBe(4);

      // A worker process that dies is started again.
      process.kill(firstWorker as number, 'SIGKILL');
      const [secondWorker] = await eventually(
        async () => {
          const pids = workerPidsOf(servePid);
          return pids.length === 1 && pids[0] !== firstWorker ? pids : undefined;
        },
        { what: 'a new worker process after the kill', attempts: 200, intervalMs: 100 },
      );
      rememberDescendants(serve);
      expect(serve.output()).toContain('worker process exited; starting another');
      await eventually(
        async () => ((await metricValue(serve.url, 'reach_worker_processes')) === 2 ? true : undefined),
        { what: 'the metric to count two processes again', attempts: 100, intervalMs: 100 },
      );
      // The dead process's items stay in the sum (it took some: two were in flight at once), so the counter does
      // not fall, which Prometheus would read as the whole sum reset.
      expect(await metricValue(serve.url, 'reach_batch_items_total{cause="ok"}')).toBe(4);

      // SIGTERM stops the worker processes and serve's redis-server, and serve exits 0.
      const serveChildren = childrenOf(servePid).map((each) => each.pid);
      expect(serveChildren).toContain(secondWorker);
      const exited = once(serve.child, 'exit');
      serve.child.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(0);
      for (const pid of serveChildren) expect(isRunning(pid), `process ${pid} left running`).toBe(false);
    } finally {
      for (const release of held.splice(0)) release();
      await target.close();
    }
  });

  it('ends its worker processes when serve itself is killed', async () => {
    const serve = await startServe({ WORKER_PROCESSES: '2' });
    const servePid = serve.child.pid as number;
    const [worker] = await eventually(
      async () => (workerPidsOf(servePid).length === 1 ? workerPidsOf(servePid) : undefined),
      { what: 'one worker process beside serve', attempts: 100, intervalMs: 100 },
    );
    rememberDescendants(serve);
    // Started and connected before serve goes: the channel's close is what ends it, not a failed start.
    await eventually(
      async () => ((await metricValue(serve.url, 'reach_worker_processes')) === 2 ? true : undefined),
      { what: 'the worker process to run', attempts: 100, intervalMs: 100 },
    );
    const exited = once(serve.child, 'exit');
    serve.child.kill('SIGKILL');
    await exited;
    await eventually(async () => (isRunning(worker as number) ? undefined : true), {
      what: 'the worker process to end after serve was killed',
      attempts: 300,
      intervalMs: 100,
    });
  });

  /** serve with a child, each holding one probe of a two-URL batch (one one-URL chunk at a time each). */
  async function serveHoldingTwoProbes(detached: boolean) {
    let inFlight = 0;
    const held: (() => void)[] = [];
    let onBothHeld = () => {};
    const bothHeld = new Promise<void>((resolveHeld) => {
      onBothHeld = resolveHeld;
    });
    const target = await startTarget((_request, response) => {
      inFlight += 1;
      held.push(() => response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>'));
      if (inFlight === 2) onBothHeld();
    });
    const serve = await startServe(
      { WORKER_PROCESSES: '2', BATCH_WORKER_CONCURRENCY: '1', BATCH_CHUNK_SIZE: '1' },
      { detached },
    );
    const servePid = serve.child.pid as number;
    const [worker] = await eventually(
      async () => (workerPidsOf(servePid).length === 1 ? workerPidsOf(servePid) : undefined),
      { what: 'one worker process beside serve', attempts: 100, intervalMs: 100 },
    );
    rememberDescendants(serve);
    const submitted = await postJson(`${serve.url}/batches`, {
      urls: [`${target.url}a`, `${target.url}b`],
      timeoutMs: 90_000,
    });
    expect(submitted.status).toBe(202);
    await bothHeld;
    const release = () => {
      for (const each of held.splice(0)) each();
    };
    /** Waits until `count` processes of this serve have logged that they took `signal`. */
    const untilSignalsTaken = (signal: string, count: number, what: string) =>
      eventually(
        async () =>
          serve.output().split(`${signal} received, shutting down`).length - 1 === count ? true : undefined,
        { what, attempts: 100, intervalMs: 100 },
      );
    return {
      serve,
      servePid,
      worker: worker as number,
      batchId: submitted.body.id as string,
      release,
      target,
      untilSignalsTaken,
    };
  }

  it('keeps its Redis and its worker processes draining when Ctrl-C reaches the whole group: nothing lost', async () => {
    const { serve, servePid, batchId, release, target, untilSignalsTaken } =
      await serveHoldingTwoProbes(true);
    try {
      const exited = once(serve.child, 'exit');
      // As a terminal's Ctrl-C: to serve, its worker process and (were it in the group) its redis-server at once.
      process.kill(-servePid, 'SIGINT');
      await untilSignalsTaken('SIGINT', 2, 'serve and its worker process to take the SIGINT');
      release();
      const [code] = await exited;
      expect(code).toBe(0);
      expect(serve.output()).not.toContain('did not stop in time');
      expect(serve.output()).not.toContain('past the deadline');
    } finally {
      release();
      await target.close();
    }
    // Both probes ended with a result, kept in the Redis that outlived the signal.
    const again = await startServe({ WORKER_PROCESSES: '1' }, { dataDir: serve.dataDir });
    try {
      const { body } = await getJson(`${again.url}/batches/${batchId}`);
      // Each probe answered once released: ok, or, when the signals took the hold past 2 s on a loaded machine,
      // the same 200 read as a slow first byte (overload). What matters here is that neither was lost.
      const byCause = body.byCause as Record<string, number>;
      expect(Object.values(byCause).reduce((sum, count) => sum + count, 0)).toBe(2);
      expect(Object.keys(byCause).every((cause) => cause === 'ok' || cause === 'overload')).toBe(true);
    } finally {
      const exited = once(again.child, 'exit');
      again.child.kill('SIGTERM');
      await exited;
    }
  });

  it('lets a worker process that took a signal finish its probe when serve then passes SIGTERM on', async () => {
    const { serve, worker, release, target, untilSignalsTaken } = await serveHoldingTwoProbes(false);
    try {
      // The group's signal reaches the worker process first; serve's own SIGTERM to it comes second.
      process.kill(worker, 'SIGINT');
      await untilSignalsTaken('SIGINT', 1, 'the worker process to take the SIGINT');
      const exited = once(serve.child, 'exit');
      serve.child.kill('SIGTERM');
      await untilSignalsTaken('SIGTERM', 1, 'serve to take the SIGTERM');
      // serve sends its SIGTERM on at once; by now it has reached the worker process, which still holds its probe.
      await eventually(async () => (isRunning(worker) ? true : undefined), {
        what: 'the worker process to be running',
        attempts: 10,
        intervalMs: 100,
      });
      release();
      const [code] = await exited;
      expect(code).toBe(0);
      // Each process closed its own way to the end: two "shut down" lines, and none killed for its time.
      expect(serve.output().split('"msg":"shut down"').length - 1, serve.output()).toBe(2);
      expect(serve.output()).not.toContain('did not stop in time');
    } finally {
      release();
      await target.close();
    }
  });

  it('refuses a WORKER_PROCESSES out of range with one line and exit 2', async () => {
    const child = spawn(process.execPath, [cliPath, 'serve'], {
      env: { PATH: process.env.PATH ?? '', WORKER_PROCESSES: '0', PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('WORKER_PROCESSES');
  });
});
