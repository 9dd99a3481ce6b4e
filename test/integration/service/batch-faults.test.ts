// A batch under failure: its worker killed with SIGKILL mid-batch, stopped with SIGTERM mid-chunk, and Redis
// restarted mid-batch. Each way every URL ends with exactly one result; a chunk run again skips the URLs it had
// recorded.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchQueueName } from '../../../src/batch/jobs.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { finishedBatch, indexesOf, range, resultItems } from './batch-support.js';
import {
  eventually,
  getJson,
  type LoopbackTarget,
  postJson,
  startTarget,
  startTestService,
} from './support.js';

const cli = resolve(import.meta.dirname, '../../../dist/cli.js');
const children = new Set<ChildProcess>();

function spawnWorker(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [cli, 'worker'], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  children.add(child);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

/** Answers each request after 600 ms, so a batch has probes in flight at any moment. */
function startSlowTarget(): Promise<LoopbackTarget> {
  return startTarget((_request, response) => {
    const timer = setTimeout(
      () => response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>'),
      600,
    );
    response.on('close', () => clearTimeout(timer));
  });
}

/** Waits until the batch has at least `count` results. */
function batchWithResults(apiUrl: string, id: string, count: number) {
  return eventually(
    async () => {
      const status = await getJson(`${apiUrl}/batches/${id}`);
      return status.body.done >= count ? status.body : undefined;
    },
    { what: `${count} results`, intervalMs: 100 },
  );
}

/** Waits for the batch to finish: every URL with exactly one result, each ok. */
async function finishedAllOk(apiUrl: string, id: string, total: number): Promise<void> {
  const status = await finishedBatch(apiUrl, id, 300);
  expect(status).toMatchObject({ state: 'completed', total, done: total, byStatus: { completed: total } });
  const items = await resultItems(apiUrl, id);
  expect(indexesOf(items)).toEqual(range(total));
  expect(items.every((item) => item.cause === 'ok')).toBe(true);
}

let redis: TestRedis;
let target: LoopbackTarget;

beforeAll(async () => {
  redis = await startRedis();
  target = await startSlowTarget();
});

afterAll(async () => {
  for (const child of children) await stopChild(child);
  await target?.close();
  await redis?.dispose();
});

describe('a batch whose worker is killed with SIGKILL mid-batch', { timeout: 90_000 }, () => {
  it('is finished by another worker, every URL with exactly one result', async () => {
    const queueName = 'batch-kill';
    const api = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      // Three chunks of 8: the dead worker held them all, each part done.
      env: { QUEUE_NAME: queueName, PROBE_ALLOW_PRIVATE: 'true', BATCH_CHUNK_SIZE: '8' },
    });
    try {
      const workerEnv = {
        REDIS_URL: redis.url,
        QUEUE_NAME: queueName,
        PROBE_ALLOW_PRIVATE: 'true',
        BATCH_WORKER_CONCURRENCY: '4',
        WORKER_LOCK_DURATION_MS: '1000',
        WORKER_STALLED_INTERVAL_MS: '500',
      };
      const urls = range(24).map((index) => target.url.replace(/\/$/, `/kill-${index}`));
      const submitted = await postJson(`${api.apiUrl}/batches`, { urls, timeoutMs: 10_000 });
      expect(submitted.status).toBe(202);
      const { id } = submitted.body;

      const first = spawnWorker(workerEnv);
      await batchWithResults(api.apiUrl, id, 4);
      // Killed as the second round of probes arrives: these are in flight (answered after 600 ms).
      await target.nthRequest(8);
      first.kill('SIGKILL');
      await once(first, 'exit');
      const recordedByFirst = indexesOf(await resultItems(api.apiUrl, id));
      expect(recordedByFirst.length).toBeGreaterThan(0);
      spawnWorker(workerEnv);

      await finishedAllOk(api.apiUrl, id, 24);
      // The probes in flight when the worker died were run again by the second one; those recorded were not.
      expect(target.requests.length).toBeGreaterThan(24);
      for (const index of recordedByFirst)
        expect(target.requests.filter((request) => request.url === `/kill-${index}`)).toHaveLength(1);
    } finally {
      await api.close();
    }
  });
});

describe('a batch while Redis restarts', { timeout: 90_000 }, () => {
  it('completes, every URL with exactly one result', async () => {
    const service = await startTestService({
      redisUrl: redis.url,
      env: {
        QUEUE_NAME: 'batch-restart',
        PROBE_ALLOW_PRIVATE: 'true',
        BATCH_WORKER_CONCURRENCY: '4',
        BATCH_CHUNK_SIZE: '8',
      },
    });
    try {
      const urls = range(24).map((index) => target.url.replace(/\/$/, `/restart-${index}`));
      const submitted = await postJson(`${service.apiUrl}/batches`, { urls, timeoutMs: 10_000 });
      expect(submitted.status).toBe(202);
      const { id } = submitted.body;
      await batchWithResults(service.apiUrl, id, 4);
      await redis.restart();

      const status = await finishedBatch(service.apiUrl, id, 300);
      expect(status).toMatchObject({ state: 'completed', total: 24, done: 24, byStatus: { completed: 24 } });
      const items = await resultItems(service.apiUrl, id);
      expect(indexesOf(items)).toEqual(range(24));
    } finally {
      await service.close();
    }
  });
});

describe('a batch whose worker is stopped with SIGTERM mid-chunk', { timeout: 90_000 }, () => {
  /**
   * Two worker processes on one batch: the first takes every chunk (the second starts only once it has stopped),
   * and is stopped with SIGTERM while its probes are in flight. Answers the results, what the first recorded, and
   * the batch lane's jobs as the first left them.
   */
  async function stopMidChunk(queueName: string, shutdownDeadlineMs: number) {
    const api = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      // Three chunks of 8 URLs, four probes at a time: the first worker holds every chunk when stopped.
      env: { QUEUE_NAME: queueName, PROBE_ALLOW_PRIVATE: 'true', BATCH_CHUNK_SIZE: '8' },
    });
    const workerEnv = {
      REDIS_URL: redis.url,
      QUEUE_NAME: queueName,
      PROBE_ALLOW_PRIVATE: 'true',
      BATCH_WORKER_CONCURRENCY: '4',
      SHUTDOWN_DEADLINE_MS: String(shutdownDeadlineMs),
      // A chunk left locked by a stopped worker would wait this long for the stalled check: a graceful stop
      // must hand its chunks back at once instead, within the test's time.
      WORKER_LOCK_DURATION_MS: '600000',
      WORKER_STALLED_INTERVAL_MS: '600000',
    };
    const queue = new Queue(batchQueueName(queueName), { connection: { url: redis.url } });
    try {
      const urls = range(24).map((index) => target.url.replace(/\/$/, `/${queueName}-${index}`));
      const submitted = await postJson(`${api.apiUrl}/batches`, { urls, timeoutMs: 10_000 });
      expect(submitted.status).toBe(202);
      const { id } = submitted.body;

      const requestsBefore = target.requests.length;
      const first = spawnWorker(workerEnv);
      await batchWithResults(api.apiUrl, id, 4);
      // Stopped as the second round of probes arrives: these are in flight (answered after 600 ms).
      await target.nthRequest(requestsBefore + 8);
      first.kill('SIGTERM');
      const [exitCode] = await once(first, 'exit');
      expect(exitCode).toBe(0);
      const recordedByFirst = indexesOf(await resultItems(api.apiUrl, id));
      // What the first worker left: its chunks back in wait for any worker, none active, failed or delayed.
      const left = await queue.getJobCounts('active', 'wait', 'delayed', 'failed');
      spawnWorker(workerEnv);

      await finishedAllOk(api.apiUrl, id, 24);
      const probesOf = (index: number) =>
        target.requests.filter((request) => request.url === `/${queueName}-${index}`).length;
      return { recordedByFirst, left, probesOf };
    } finally {
      await queue.close();
      await api.close();
    }
  }

  it('finishes the probes in flight, hands the rest back, and another worker probes each URL left once', async () => {
    const { recordedByFirst, left, probesOf } = await stopMidChunk('batch-term', 10_000);
    // The probes in flight at SIGTERM finished within the deadline and were recorded by the first worker.
    expect(recordedByFirst.length).toBeGreaterThanOrEqual(8);
    expect(recordedByFirst.length).toBeLessThan(24);
    expect(left).toMatchObject({ active: 0, delayed: 0, failed: 0 });
    expect(left.wait).toBeGreaterThan(0);
    // Nothing probed twice: the second worker ran only the URLs without a result.
    for (const index of range(24)) expect(probesOf(index), `URL ${index}`).toBe(1);
  });

  it('aborts the probes still in flight at the deadline and hands them back: each URL ends with one result', async () => {
    const { recordedByFirst, left, probesOf } = await stopMidChunk('batch-term-deadline', 100);
    expect(recordedByFirst.length).toBeLessThan(24);
    expect(left).toMatchObject({ active: 0, delayed: 0, failed: 0 });
    expect(left.wait).toBeGreaterThan(0);
    // The URLs the first recorded were not probed again; those it cut short were, by the second.
    for (const index of recordedByFirst) expect(probesOf(index), `URL ${index}`).toBe(1);
    const probes = range(24).map(probesOf);
    expect(Math.min(...probes)).toBe(1);
    expect(Math.max(...probes)).toBe(2);
  });
});
