// The service under failure: a worker killed mid-probe or stopped past its deadline, Redis going away and back,
// SIGTERM and SIGHUP, its terminal hanging up, its own redis-server killed, and its Redis failing to start (no
// redis-server, a data directory it cannot make, a corrupt append-only file).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, startEmbeddedRedis } from '../../../src/redis/embedded.js';
import { isRunning } from '../../support/process.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import {
  completedProbe,
  eventually,
  getJson,
  type LoopbackTarget,
  postJson,
  startTarget,
  startTestService,
} from './support.js';

const cli = resolve(import.meta.dirname, '../../../dist/cli.js');
const terminalScript = resolve(import.meta.dirname, '../../support/terminal.py');

/** Every child this file starts; afterAll kills the ones still running, even after a timed-out test. */
const children = new Set<ChildProcess>();

function spawnCli(command: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [cli, command], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  return child;
}

/** Resolves with the first stdout/stderr line matching the pattern. */
function lineMatching(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolveLine, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      const found = lines.find((line) => pattern.test(line));
      if (found !== undefined) {
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        resolveLine(found);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before printing ${pattern}`)));
  });
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

/** Starts a worker (the restarted one), resolves with the probe's status once it completed there, stops it. */
async function completedOnNewWorker(
  apiUrl: string,
  id: string,
  workerEnv: Record<string, string>,
): Promise<Awaited<ReturnType<typeof completedProbe>>> {
  const worker = spawnCli('worker', workerEnv);
  try {
    return await completedProbe(apiUrl, id, {
      what: 'the job to complete on the restarted worker',
      attempts: 150,
      intervalMs: 200,
    });
  } finally {
    await stopChild(worker);
  }
}

let redis: TestRedis;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const child of children) await stopChild(child);
  await redis?.dispose();
});

describe('a worker killed with SIGKILL mid-probe', { timeout: 60_000 }, () => {
  let api: Awaited<ReturnType<typeof startTestService>>;
  let target: LoopbackTarget;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    // The first request hangs (the worker dies while waiting on it); later ones are answered.
    target = await startTarget((_request, response, index) => {
      if (index > 1) response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>');
    });
    api = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: { QUEUE_NAME: 'resilience-kill', PROBE_ALLOW_PRIVATE: 'true' },
    });
  });

  afterAll(async () => {
    for (const worker of workers) await stopChild(worker);
    await api?.close();
    await target?.close();
  });

  it('is picked up again by a restarted worker and completes', async () => {
    const workerEnv = {
      REDIS_URL: redis.url,
      QUEUE_NAME: 'resilience-kill',
      PROBE_ALLOW_PRIVATE: 'true',
      WORKER_LOCK_DURATION_MS: '1000',
      WORKER_STALLED_INTERVAL_MS: '500',
    };
    const submitted = await postJson(`${api.apiUrl}/probe`, { url: target.url, timeoutMs: 60_000 });
    expect(submitted.status).toBe(202);

    const first = spawnCli('worker', workerEnv);
    workers.push(first);
    await target.nthRequest(1);
    expect((await getJson(`${api.apiUrl}/probe/${submitted.body.id}`)).body.status).toBe('active');
    first.kill('SIGKILL');
    await once(first, 'exit');

    const finished = await completedOnNewWorker(api.apiUrl, submitted.body.id, workerEnv);
    expect(finished.report.verdict.cause).toBe('ok');
    expect(finished.attempts).toBeGreaterThanOrEqual(2);
    expect(target.requests.length).toBeGreaterThanOrEqual(2);
  });
});

describe('a worker stopped with SIGTERM past its shutdown deadline mid-probe', { timeout: 60_000 }, () => {
  it('does not complete the probe it cut short with a timeout report: a restarted worker runs it again', async () => {
    // The first request hangs (the worker's deadline aborts the probe waiting on it); later ones are answered.
    const target = await startTarget((_request, response, index) => {
      if (index > 1) response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>');
    });
    const queueName = 'resilience-deadline';
    const api = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: { QUEUE_NAME: queueName, PROBE_ALLOW_PRIVATE: 'true' },
    });
    const workerEnv = {
      REDIS_URL: redis.url,
      QUEUE_NAME: queueName,
      PROBE_ALLOW_PRIVATE: 'true',
      SHUTDOWN_DEADLINE_MS: '100',
      JOB_BACKOFF_MS: '100',
    };
    try {
      const submitted = await postJson(`${api.apiUrl}/probe`, { url: target.url, timeoutMs: 30_000 });
      expect(submitted.status).toBe(202);
      const first = spawnCli('worker', workerEnv);
      await target.nthRequest(1);
      const exited = once(first, 'exit');
      first.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(0);
      // The abort is ours, not the target's: no report of a timeout, the job waits for its next attempt.
      const left = await getJson(`${api.apiUrl}/probe/${submitted.body.id}`);
      expect(left.body.status).not.toBe('completed');
      expect(left.body.report).toBeUndefined();

      const finished = await completedOnNewWorker(api.apiUrl, submitted.body.id, workerEnv);
      expect(finished.report.verdict.cause).toBe('ok');
      expect(finished.attempts).toBe(2);
      expect(target.requests).toHaveLength(2);
    } finally {
      await api.close();
      await target.close();
    }
  });
});

describe('Redis stopped and restarted under the API', () => {
  let ownRedis: TestRedis;
  let service: Awaited<ReturnType<typeof startTestService>>;
  let target: LoopbackTarget;

  beforeAll(async () => {
    ownRedis = await startRedis();
    target = await startTarget();
    // A worker may have taken the first job when Redis stops; its lock then lapses and the stalled-job check
    // puts the job back. Short settings make that recovery take seconds here instead of the default 30 s.
    service = await startTestService({
      redisUrl: ownRedis.url,
      env: {
        PROBE_ALLOW_PRIVATE: 'true',
        WORKER_LOCK_DURATION_MS: '2000',
        WORKER_STALLED_INTERVAL_MS: '1000',
      },
    });
  });

  afterAll(async () => {
    await service?.close();
    await target?.close();
    await ownRedis?.dispose();
  });

  it('answers 503 problems while Redis is away and recovers by itself', async () => {
    const before = await postJson(`${service.apiUrl}/probe`, { url: target.url });
    expect(before.status).toBe(202);

    await ownRedis.stop();
    const submit = await postJson(`${service.apiUrl}/probe`, { url: target.url });
    expect(submit.status).toBe(503);
    expect(submit.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(submit.body.type).toBe('urn:reach:problem:unavailable');
    expect(Number(submit.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await getJson(`${service.apiUrl}/probe/${before.body.id}`)).status).toBe(503);
    const ready = await getJson(`${service.apiUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body.redis).toBe('unreachable');
    expect((await getJson(`${service.apiUrl}/healthz`)).status).toBe(200);

    await ownRedis.restart();
    await eventually(
      async () => ((await getJson(`${service.apiUrl}/readyz`)).status === 200 ? true : undefined),
      { what: 'readiness after the restart', attempts: 100, intervalMs: 100 },
    );
    const after = await postJson(`${service.apiUrl}/probe?wait=30`, { url: target.url });
    expect(after.status).toBe(200);
    expect(after.body.report.verdict.cause).toBe('ok');
    // The job queued before the outage survived in the append-only file and was run.
    const earlier = await completedProbe(service.apiUrl, before.body.id, {
      what: 'the job submitted before the outage',
      attempts: 300,
      intervalMs: 100,
    });
    expect(earlier.report.url).toBe(target.url);
  });
});

// SIGHUP too: a terminal's hangup or a process manager's HUP drains like SIGTERM rather than ending at once.
describe.each(['SIGTERM', 'SIGHUP'] as const)('%s', { timeout: 60_000 }, (signal) => {
  it('stops taking requests, finishes the active probe, and exits 0', async () => {
    let release: (() => void) | undefined;
    const target = await startTarget((_request, response) => {
      release = () => response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>');
    });
    const child = spawnCli('serve', {
      REDIS_URL: redis.url,
      QUEUE_NAME: `resilience-${signal.toLowerCase()}`,
      PORT: '0',
      HOST: '127.0.0.1',
      PROBE_ALLOW_PRIVATE: 'true',
      SHUTDOWN_DEADLINE_MS: '20000',
    });
    const reader = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: { QUEUE_NAME: `resilience-${signal.toLowerCase()}` },
    });
    try {
      const listening = JSON.parse(await lineMatching(child, /API listening/)) as { url: string };
      const port = Number(new URL(listening.url).port);
      const submitted = await postJson(`${listening.url}/probe`, { url: target.url, timeoutMs: 30_000 });
      expect(submitted.status).toBe(202);
      await target.nthRequest(1);

      const shuttingDown = lineMatching(child, /stopped accepting connections/);
      const exited = once(child, 'exit');
      child.kill(signal);
      await shuttingDown;
      await expect(canConnect(port)).resolves.toBe(false);
      release?.();
      const [code] = await exited;
      expect(code).toBe(0);

      const status = await getJson(`${reader.apiUrl}/probe/${submitted.body.id}`);
      expect(status.body.status).toBe('completed');
      expect(status.body.attempts).toBe(1);
    } finally {
      await stopChild(child);
      await reader.close();
      await target.close();
    }
  });
});

// serve started from a terminal that goes away (an SSH session dropping): the kernel's SIGHUP drains as above, and
// every later write to the terminal fails with EIO. Before, serve never exited (its logger retried its last lines
// at exit forever), and once it did, Node 20 aborted at exit restoring the dead terminal's settings.
describe('the terminal serve runs on hanging up', { timeout: 60_000 }, () => {
  it('finishes the active probe and exits 0', async () => {
    let release: (() => void) | undefined;
    const target = await startTarget((_request, response) => {
      release = () => response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>');
    });
    const queueName = 'resilience-hangup';
    const terminal = spawn('python3', [terminalScript, '30', process.execPath, cli, 'serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        LOG_LEVEL: 'info',
        REDIS_URL: redis.url,
        QUEUE_NAME: queueName,
        PORT: '0',
        HOST: '127.0.0.1',
        PROBE_ALLOW_PRIVATE: 'true',
        SHUTDOWN_DEADLINE_MS: '20000',
        // serve alone: a worker process still starting when the hangup comes has nothing to drain.
        WORKER_PROCESSES: '1',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.add(terminal);
    const reader = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: { QUEUE_NAME: queueName },
    });
    try {
      const listening = JSON.parse(await lineMatching(terminal, /API listening/)) as { url: string };
      const port = Number(new URL(listening.url).port);
      const submitted = await postJson(`${listening.url}/probe`, { url: target.url, timeoutMs: 30_000 });
      expect(submitted.status).toBe(202);
      await target.nthRequest(1);

      const outcome = lineMatching(terminal, /^\{"(exit|signal|killed)"/);
      outcome.catch(() => {}); // awaited below; a failure before then must not leave it unhandled
      terminal.stdin?.write('hangup\n');
      // Its log now goes nowhere: that it stopped listening is seen from outside.
      await eventually(async () => ((await canConnect(port)) ? undefined : true), {
        what: 'serve to stop accepting connections after the hangup',
        attempts: 100,
        intervalMs: 100,
      });
      release?.();
      expect(JSON.parse(await outcome)).toEqual({ exit: 0 });

      const status = await getJson(`${reader.apiUrl}/probe/${submitted.body.id}`);
      expect(status.body.status).toBe('completed');
      expect(status.body.attempts).toBe(1);
    } finally {
      // SIGTERM: the script kills serve on its terminal, then exits.
      if (terminal.exitCode === null && terminal.signalCode === null) {
        terminal.kill('SIGTERM');
        await once(terminal, 'exit');
      }
      await reader.close();
      await target.close();
    }
  });
});

describe("serve's own redis-server killed", { timeout: 60_000 }, () => {
  it('is started again with its data: the API is ready again and probes complete', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'reach-redis-killed-'));
    const target = await startTarget((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>');
    });
    const child = spawnCli('serve', {
      PORT: '0',
      HOST: '127.0.0.1',
      REDIS_DATA_DIR: join(dataDir, 'redis'),
      PROBE_ALLOW_PRIVATE: 'true',
      WORKER_PROCESSES: '1',
    });
    let redisPids: number[] = [];
    try {
      const started = JSON.parse(await lineMatching(child, /started embedded redis-server/)) as {
        pid: number;
      };
      redisPids = [started.pid];
      const listening = JSON.parse(await lineMatching(child, /API listening/)) as { url: string };
      const before = await postJson(`${listening.url}/probe`, { url: target.url });
      expect(before.status).toBe(202);
      await completedProbe(listening.url, before.body.id, { what: 'the first probe to complete' });

      const restarted = lineMatching(child, /redis-server started again/);
      process.kill(started.pid, 'SIGKILL');
      const again = JSON.parse(await restarted) as { msg: string };
      const newPid = Number(/pid (\d+)/.exec(again.msg)?.[1]);
      redisPids.push(newPid);
      expect(newPid).not.toBe(started.pid);
      await eventually(
        async () => ((await getJson(`${listening.url}/readyz`)).status === 200 ? true : undefined),
        {
          what: 'the API to be ready again',
          attempts: 100,
          intervalMs: 100,
        },
      );
      const after = await postJson(`${listening.url}/probe`, { url: target.url });
      expect(after.status).toBe(202);
      await completedProbe(listening.url, after.body.id, { what: 'a probe after the restart to complete' });
      // Written before the kill, read from the append-only file by the new server.
      expect((await getJson(`${listening.url}/probe/${before.body.id}`)).body.status).toBe('completed');

      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      expect((await exited)[0]).toBe(0);
      expect(isRunning(newPid)).toBe(false);
    } finally {
      await stopChild(child);
      for (const pid of redisPids.filter(isRunning)) process.kill(pid, 'SIGKILL');
      await target.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('npm start', { timeout: 60_000 }, () => {
  it('hands SIGTERM to the service, which stops its private redis-server and exits', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'reach-npm-start-'));
    // --ignore-scripts skips prestart (the build): the test run has built dist/ already.
    const npm = spawn('npm', ['start', '--ignore-scripts', '--silent'], {
      cwd: resolve(import.meta.dirname, '../../..'),
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? dataDir,
        PORT: '0',
        HOST: '127.0.0.1',
        REDIS_DATA_DIR: join(dataDir, 'redis'),
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(npm);
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    // The pipe ends when every process holding it has exited: npm, and the service it started.
    const drained = once(npm.stdout, 'end');
    // The service's pid is its redis-server's parent: known so that a failing run leaves nothing behind.
    let left: number[] = [];
    try {
      const started = JSON.parse(await lineMatching(npm, /started embedded redis-server/)) as { pid: number };
      left = [started.pid, parentOf(started.pid)];
      const listening = JSON.parse(await lineMatching(npm, /API listening/)) as { url: string };
      expect((await getJson(`${listening.url}/readyz`)).status).toBe(200);

      npm.kill('SIGTERM');
      const outcome = await Promise.race([
        drained.then(() => 'exited'),
        new Promise((resolveTimer) => setTimeout(() => resolveTimer('still running'), 20_000).unref()),
      ]);
      expect(outcome).toBe('exited');
      expect(output).toMatch(/"msg":"shut down"/);
      expect(left.filter(isAlive)).toEqual([]);
    } finally {
      await stopChild(npm);
      for (const pid of left.filter(isAlive)) process.kill(pid, 'SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

describe("serve's own Redis failing to start", () => {
  it('exits 1 with one line saying to install it or set REDIS_URL', async () => {
    const { code, lines } = await serveUntilExit({
      PATH: '/nonexistent',
      PORT: '0',
      REDIS_DATA_DIR: resolve(import.meta.dirname, '../../../.data/test-missing'),
    });
    expect(code).toBe(1);
    expect(lines).toEqual([
      'reach: redis-server was not found on PATH: install it (apt-get install redis-server) or set REDIS_URL',
    ]);
  });

  it('exits 1 with one line when its data directory cannot be made', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'reach-bad-data-dir-'));
    try {
      // Under a regular file: no directory can be made there, for root either.
      writeFileSync(join(dataDir, 'file'), '');
      const redisDir = join(dataDir, 'file', 'redis');
      const { code, lines } = await serveUntilExit(serveEnv(redisDir));
      expect(code).toBe(1);
      expect(lines).toEqual([
        `reach: cannot use the Redis data directory: ENOTDIR: not a directory, mkdir '${redisDir}'`,
      ]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('exits 1 with one line naming the fix when its append-only file is corrupt', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'reach-corrupt-aof-'));
    try {
      const redisDir = join(dataDir, 'redis');
      // A data directory as serve leaves it, then damaged as a full disk or a crash mid-write can.
      const server = await startEmbeddedRedis({ dataDir: redisDir });
      await server.stop();
      const increments = readdirSync(join(redisDir, 'appendonlydir')).filter((name) =>
        name.endsWith('.incr.aof'),
      );
      expect(increments).toHaveLength(1);
      appendFileSync(
        join(redisDir, 'appendonlydir', increments[0] as string),
        'garbage\r\n*3\r\n$3\r\nSET\r\n',
      );

      const { code, lines } = await serveUntilExit(serveEnv(redisDir));
      expect(code).toBe(1);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^reach: redis-server exited \(code 1\) before it was ready: Bad file format reading the append only file .*redis-check-aof --fix/,
      );
      expect(lines[0]).toContain(`(data directory ${redisDir})`);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('a Redis that refuses the credentials', { timeout: 60_000 }, () => {
  // Before, the service started half its parts, then hung undoing them, warning every 30 s and never listening.
  it.each(['serve', 'worker'] as const)(
    '%s: exits 1 with one line, for a wrong password and for none',
    async (command) => {
      const env = { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', WORKER_PROCESSES: '1' };
      const wrong = await serveUntilExit(
        { ...env, REDIS_URL: `redis://:not-the-password@127.0.0.1:${redis.port}` },
        command,
      );
      expect(wrong.code).toBe(1);
      expect(wrong.lines).toEqual([
        `reach: Redis at redis://127.0.0.1:${redis.port}/0 refused our credentials (WRONGPASS invalid username-password pair or user is disabled.): check REDIS_PASSWORD and REDIS_USERNAME, or the password in REDIS_URL`,
      ]);
      const none = await serveUntilExit({ ...env, REDIS_URL: `redis://127.0.0.1:${redis.port}` }, command);
      expect(none.code).toBe(1);
      expect(none.lines).toEqual([
        `reach: Redis at redis://127.0.0.1:${redis.port}/0 needs a password: set REDIS_PASSWORD (and REDIS_USERNAME for an ACL user), or put it in REDIS_URL`,
      ]);
    },
  );
});

describe('REDIS_URL pointing at a server that is not Redis', { timeout: 60_000 }, () => {
  // Before, the service started and warned every second, "Unknown RESP type 72. Please report this.", for good.
  it.each(['serve', 'worker'] as const)(
    '%s: exits 1 with one line naming the host and port',
    async (command) => {
      const web = createServer((_request, response) => response.end('a web page'));
      await new Promise<void>((listening) => web.listen(0, '127.0.0.1', listening));
      const { port } = web.address() as AddressInfo;
      try {
        const env = { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', WORKER_PROCESSES: '1' };
        const result = await serveUntilExit({ ...env, REDIS_URL: `redis://127.0.0.1:${port}` }, command);
        expect(result.code).toBe(1);
        expect(result.lines).toEqual([
          `reach: Redis at redis://127.0.0.1:${port}/0 answered, but not as Redis (its reply began with "H"): check the host and port in REDIS_URL`,
        ]);
      } finally {
        web.closeAllConnections();
        await new Promise((closed) => web.close(closed));
      }
    },
  );
});

/** Runs `reach serve` (or another command) with this environment until it exits: its code and its stderr's lines. */
async function serveUntilExit(
  env: Record<string, string>,
  command: 'serve' | 'api' | 'worker' = 'serve',
): Promise<{ code: number | null; lines: string[] }> {
  const child = spawn(process.execPath, [cli, command], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, lines: stderr.trim().split('\n') };
}

/** serve's environment on its own Redis in `redisDir`. */
function serveEnv(redisDir: string): Record<string, string> {
  return { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', REDIS_DATA_DIR: redisDir };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolveConnect) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolveConnect(true);
    });
    socket.once('error', () => resolveConnect(false));
  });
}
