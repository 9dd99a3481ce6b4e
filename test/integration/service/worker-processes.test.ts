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

async function startServe(env: Record<string, string>): Promise<Serve> {
  const dataDir = mkdtempSync(join(tmpdir(), 'reach-worker-processes-'));
  dataDirs.push(dataDir);
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
  return { child, url, output: () => output };
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
