// Our own infrastructure failing is retried with backoff; a Redis outage during a probe loses nothing.
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeRunner } from '../../../src/worker/processor.js';
import { reportOfObservations } from '../../support/observation-reports.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import {
  completedProbe,
  getJson,
  type LoopbackTarget,
  postJson,
  startTarget,
  startTestService,
} from './support.js';

/** What ioredis throws when a command's connection drops: the kind of error retries exist for. */
class ConnectionClosedError extends Error {
  override name = 'ConnectionClosedError';
  constructor() {
    super('Connection is closed.');
  }
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

describe('an infrastructure error thrown by the processor', () => {
  const backoffMs = 400;
  const queueName = 'retry-infrastructure';
  let redis: TestRedis;
  let target: LoopbackTarget;
  let service: Awaited<ReturnType<typeof startTestService>>;
  let queue: Queue;
  /** Date.now() at each call of the runner, and when the injected failure was thrown. */
  const calls: number[] = [];
  let thrownAtMs = 0;

  beforeAll(async () => {
    redis = await startRedis();
    target = await startTarget();
    // The real runner (the engine) wrapped: its first call fails as if Redis had dropped the connection.
    const failFirst = (real: ProbeRunner): ProbeRunner => {
      return async (data, signal) => {
        calls.push(Date.now());
        if (calls.length === 1) {
          thrownAtMs = Date.now();
          throw new ConnectionClosedError();
        }
        return real(data, signal);
      };
    };
    service = await startTestService({
      redisUrl: redis.url,
      env: {
        QUEUE_NAME: queueName,
        PROBE_ALLOW_PRIVATE: 'true',
        JOB_ATTEMPTS: '3',
        JOB_BACKOFF_MS: String(backoffMs),
      },
      wrapRunner: failFirst,
    });
    queue = new Queue(queueName, { connection: { url: redis.url, maxRetriesPerRequest: null } });
  });

  afterAll(async () => {
    await queue?.close();
    await service?.close();
    await target?.close();
    await redis?.dispose();
  });

  it('is retried by BullMQ after the backoff delay and the job completes with the report', async () => {
    const response = await postJson(`${service.apiUrl}/probe?wait=30`, { url: target.url, timeoutMs: 5000 });
    // Wait mode sees through the failed attempt: the answer is the report of the second one.
    expect(response.status).toBe(200);
    expect(response.body.status).toBe('completed');
    expect(response.body.report.verdict.cause).toBe('ok');
    expect(calls).toHaveLength(2);
    // The first attempt never reached the engine; only the retry probed the target.
    expect(target.requests).toHaveLength(1);

    const status = await getJson(`${service.apiUrl}/probe/${response.body.id}`);
    expect(status.body).toMatchObject({ status: 'completed', attempts: 2 });
    expect(status.body.report.url).toBe(target.url);

    // What Redis recorded: two attempts, the failure's stack trace, and a second start no sooner than the
    // backoff after the failure (exponential backoff: the first retry waits JOB_BACKOFF_MS).
    const job = await queue.getJob(response.body.id);
    expect(job?.attemptsMade).toBe(2);
    expect(job?.attemptsStarted).toBe(2);
    expect(job?.stacktrace?.[0]).toContain('Connection is closed.');
    expect(job?.failedReason).toBe('Connection is closed.');
    expect(job?.returnvalue).toMatchObject({ outcome: 'report' });
    const secondStartMs = job?.processedOn ?? 0;
    expect(secondStartMs).toBeGreaterThanOrEqual(thrownAtMs + backoffMs);
    expect(calls[1] ?? 0).toBeGreaterThanOrEqual(secondStartMs);
    expect(job?.finishedOn ?? 0).toBeGreaterThanOrEqual(calls[1] ?? Number.POSITIVE_INFINITY);

    const metrics = await (await fetch(`${service.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/^reach_probe_job_errors_total 1$/m);
    expect(metrics).toMatch(/^reach_probe_job_duration_seconds_count\{outcome="error"\} 1$/m);
  });
});

describe('Redis going away while a probe runs', () => {
  let redis: TestRedis;
  let target: LoopbackTarget;
  let service: Awaited<ReturnType<typeof startTestService>>;
  let release: (() => void) | undefined;
  const probeReturned = deferred<void>();

  beforeAll(async () => {
    redis = await startRedis();
    // The target answers only when the test releases it, so Redis can be stopped mid-probe.
    target = await startTarget((_request, response) => {
      release = () => response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>');
    });
    service = await startTestService({
      redisUrl: redis.url,
      env: { QUEUE_NAME: 'retry-outage', PROBE_ALLOW_PRIVATE: 'true', JOB_BACKOFF_MS: '100' },
      wrapRunner: (real) => async (data, signal) => {
        const result = await real(data, signal);
        probeReturned.resolve();
        return result;
      },
    });
  });

  afterAll(async () => {
    await service?.close();
    await target?.close();
    await redis?.dispose();
  });

  it("records the probe's report once Redis is back, without running the probe again", async () => {
    const submitted = await postJson(`${service.apiUrl}/probe`, { url: target.url, timeoutMs: 30_000 });
    expect(submitted.status).toBe(202);
    await target.nthRequest(1);

    await redis.stop();
    // The probe ends while Redis is away: the worker cannot record the result yet.
    release?.();
    await probeReturned.promise;
    expect((await getJson(`${service.apiUrl}/probe/${submitted.body.id}`)).status).toBe(503);

    await redis.restart();
    const finished = await completedProbe(service.apiUrl, submitted.body.id, {
      what: 'the job to complete after Redis came back',
      attempts: 150,
      intervalMs: 100,
    });
    expect(finished.report.url).toBe(target.url);
    expect(finished.report.verdict.cause).toBe('ok');
    // The worker's result write waited for the reconnect (its lock outlived the outage): not run again.
    expect(finished.attempts).toBe(1);
    expect(target.requests).toHaveLength(1);
  });
});

describe('a probe that met this machine’s own limits (local.resources_exhausted)', () => {
  const queueName = 'retry-exhausted';
  let redis: TestRedis;
  let target: LoopbackTarget;
  let service: Awaited<ReturnType<typeof startTestService>>;
  /** How many of the next runs end as if the machine had run out of open files (the report EMFILE gives). */
  let exhaustedRunsLeft = 0;
  let calls = 0;

  beforeAll(async () => {
    redis = await startRedis();
    target = await startTarget();
    // The real runner wrapped: a run it marks ends with the report a probe that met EMFILE writes, recorded
    // from a real one (test/fixtures/observations/local-resources-exhausted-tcp.json).
    const exhaustedFirst = (real: ProbeRunner): ProbeRunner => {
      return async (data, signal) => {
        calls++;
        if (exhaustedRunsLeft > 0) {
          exhaustedRunsLeft--;
          return {
            outcome: 'report',
            report: reportOfObservations('local-resources-exhausted-tcp', data.url),
          };
        }
        return real(data, signal);
      };
    };
    service = await startTestService({
      redisUrl: redis.url,
      env: {
        QUEUE_NAME: queueName,
        PROBE_ALLOW_PRIVATE: 'true',
        JOB_ATTEMPTS: '3',
        JOB_BACKOFF_MS: '100',
      },
      wrapRunner: exhaustedFirst,
    });
  });

  afterAll(async () => {
    await service?.close();
    await target?.close();
    await redis?.dispose();
  });

  it('runs again after the backoff, and the job completes with the report of the run that reached the site', async () => {
    exhaustedRunsLeft = 1;
    calls = 0;
    const response = await postJson(`${service.apiUrl}/probe?wait=30`, { url: target.url, timeoutMs: 5000 });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'completed', report: { verdict: { code: 'http.ok' } } });
    expect(calls).toBe(2);
    const status = await getJson(`${service.apiUrl}/probe/${response.body.id}`);
    expect(status.body).toMatchObject({ status: 'completed', attempts: 2 });
  });

  it('answers with the honest report when every attempt met the limit: nothing is lost, nothing blamed on the site', async () => {
    exhaustedRunsLeft = 3;
    calls = 0;
    const response = await postJson(`${service.apiUrl}/probe?wait=30`, { url: target.url, timeoutMs: 5000 });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      status: 'completed',
      report: { verdict: { cause: 'local_network', code: 'local.resources_exhausted' } },
    });
    expect(calls).toBe(3);
  });
});
