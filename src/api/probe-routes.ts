// POST /probe and GET /probe/:id: validate, refuse unsafe targets, enqueue, and read results back.
import { randomUUID } from 'node:crypto';
import type { Job, Queue } from 'bullmq';
import { type Request, type Response, Router } from 'express';
import type { RedisClient } from '../redis/connection.js';
import type { MemoryGauge } from '../redis/memory.js';
import type { ProbeJobData, ProbeJobResult } from '../requests/probe-job.js';
import { probeJobName } from '../requests/probe-job.js';
import {
  fieldErrorsOf,
  HttpProblem,
  invalidRequest,
  requireRedis,
  unavailableOnRedisError,
} from '../requests/problems.js';
import { emptyQuerySchema, jsonMediaTypes, probeRequestSchema } from '../requests/schemas.js';
import type { AddressPolicy } from '../safety/address-policy.js';
import { refuseTargets } from '../safety/target-check.js';
import type { FanOutSubmitter } from '../vantages/fan-out.js';
import type { VantageRegistry } from '../vantages/registry.js';
import { noVantagePoints, selectedVantages } from '../vantages/selection.js';
import { type FinishedJob, finishedFromJob, type JobWaiter } from './job-waiter.js';
import { type ProbeStatus, probeIdSchema, waitQuerySchema } from './schemas.js';

export interface ProbeRoutesOptions {
  queue: Queue<ProbeJobData, ProbeJobResult>;
  jobOptions: Parameters<Queue['add']>[2];
  waiter: JobWaiter;
  redis: RedisClient;
  policy: AddressPolicy;
  queueMaxWaiting: number;
  memory: MemoryGauge;
  /** Several vantages: the registry of live ones, the flow submitter and a waiter on the comparisons. */
  vantages?: {
    registry: VantageRegistry;
    fanOut: FanOutSubmitter;
    waiter: JobWaiter;
    defaultTimeoutMs: number;
  };
}

/** The probe routes, mounted at /probe. */
export function createProbeRoutes(options: ProbeRoutesOptions): Router {
  const { queue, waiter, redis, policy } = options;
  const router = Router();
  const backlog = createBacklogGauge(queue);

  router.post('/', async (request: Request, response: Response) => {
    const query = waitQuerySchema.safeParse(request.query);
    if (!query.success) throw invalidRequest(fieldErrorsOf(query.error, 'query'));
    if (!request.is(jsonMediaTypes)) {
      throw new HttpProblem(415, 'unsupportedMediaType', 'send the body as Content-Type: application/json', {
        field: 'content-type',
      });
    }
    const body = probeRequestSchema.safeParse(request.body);
    if (!body.success) throw invalidRequest(fieldErrorsOf(body.error));
    const refusal = refuseTargets(body.data, policy);
    if (refusal) {
      throw new HttpProblem(422, 'targetRefused', refusal.reason, {
        errors: [{ field: refusal.field, message: refusal.reason }],
      });
    }
    requireRedis(redis);
    const memory = await options.memory.nearCap();
    if (memory) {
      throw new HttpProblem(503, 'unavailable', 'the queue store is near its memory limit; try again later', {
        retryAfterSeconds: 30,
      });
    }
    const waitingCount = await backlog.count();
    if (waitingCount >= options.queueMaxWaiting) {
      throw new HttpProblem(503, 'queueFull', `${waitingCount} probes are waiting; try again shortly`, {
        retryAfterSeconds: 5,
      });
    }
    const id = randomUUID();
    const data: ProbeJobData = { url: body.data.url };
    if (body.data.resolvers) data.resolvers = body.data.resolvers;
    if (body.data.controls) data.controls = body.data.controls;
    if (body.data.timeoutMs !== undefined) data.timeoutMs = body.data.timeoutMs;
    const submittedOn = Date.now();
    const waitSeconds = query.data.wait ?? 0;
    const selection = body.data.vantages;
    const fanOut = selection === undefined ? undefined : options.vantages;
    if (selection !== undefined && !fanOut) throw noVantagePoints();
    const vantages =
      fanOut && selection !== undefined ? await selectedVantages(fanOut.registry, selection) : [];
    const pending = waitSeconds > 0 ? (fanOut?.waiter ?? waiter).expect(id) : undefined;
    try {
      if (fanOut) {
        await queueCall(() =>
          fanOut.fanOut.submit({
            id,
            request: data,
            vantages,
            timeoutMs: data.timeoutMs ?? fanOut.defaultTimeoutMs,
            jobOptions: options.jobOptions ?? {},
          }),
        );
      } else {
        await queueCall(() => queue.add(probeJobName, data, { ...options.jobOptions, jobId: id }));
      }
    } catch (error) {
      pending?.cancel();
      throw error;
    }
    backlog.added();
    response.setHeader('Location', `/probe/${id}`);
    if (pending) {
      const finished = await pending.result(waitSeconds * 1000);
      if (finished) {
        sendFinished(response, id, submittedOn, finished);
        return;
      }
    }
    response.status(202).json({ id, status: 'queued', links: { self: `/probe/${id}` } });
  });

  router.get('/:id', async (request: Request, response: Response) => {
    const query = emptyQuerySchema.safeParse(request.query);
    if (!query.success) throw invalidRequest(fieldErrorsOf(query.error, 'query'));
    const id = String(request.params.id);
    if (!probeIdSchema.safeParse(id).success) throw notFound(id);
    requireRedis(redis);
    // A fan-out's id is its comparison's: read from the comparison's queue, whose jobs end the same way.
    const compared = options.vantages?.fanOut.compareQueue as unknown as
      | Queue<ProbeJobData, ProbeJobResult>
      | undefined;
    const status =
      (await queueCall(() => readStatus(queue, id))) ??
      (compared ? await queueCall(() => readStatus(compared, id)) : undefined);
    if (!status) throw notFound(id);
    response.json(status);
  });

  return router;
}

/** GET /vantages: the live vantage points, with their labels and when each was last heard from. */
export function createVantageRoutes(registry: VantageRegistry): Router {
  const router = Router();
  router.get('/', async (request: Request, response: Response) => {
    const query = emptyQuerySchema.safeParse(request.query);
    if (!query.success) throw invalidRequest(fieldErrorsOf(query.error, 'query'));
    const vantages = await queueCall(() => registry.list());
    response.json({ vantages });
  });
  return router;
}

function notFound(id: string): HttpProblem {
  return new HttpProblem(404, 'notFound', `no probe with id ${id} (unknown, or its result has expired)`, {
    field: 'id',
  });
}

function queueCall<T>(action: () => Promise<T>): Promise<T> {
  return unavailableOnRedisError(action, 'the queue store (Redis)');
}

/**
 * The waiting count, read from Redis at most every 100 ms and counted up locally in between: one round trip
 * per 100 ms instead of one per submission, at the price of overshooting the limit by what arrives in 100 ms.
 */
function createBacklogGauge(queue: Queue<ProbeJobData, ProbeJobResult>) {
  let value = 0;
  let readAtMs = Number.NEGATIVE_INFINITY;
  let reading: Promise<number> | undefined;
  return {
    async count(): Promise<number> {
      if (performance.now() - readAtMs < 100) return value;
      reading ??= queueCall(() => queue.getJobCountByTypes('wait', 'prioritized'))
        .then((count) => {
          value = count;
          readAtMs = performance.now();
          return count;
        })
        .finally(() => {
          reading = undefined;
        });
      return reading;
    },
    added() {
      value += 1;
    },
  };
}

function sendFinished(response: Response, id: string, submittedOn: number, finished: FinishedJob): void {
  const status = finishedStatus(id, submittedOn, finished, undefined);
  if (finished.state === 'completed' && finished.result.outcome === 'refused') {
    throw new HttpProblem(
      422,
      'targetRefused',
      `refused to connect to ${finished.result.address}: ${finished.result.reason}`,
      {
        id,
        address: finished.result.address,
        errors: [{ field: finished.result.field ?? 'url', message: finished.result.reason }],
      },
    );
  }
  if (finished.state === 'completed' && finished.result.outcome === 'invalid') {
    throw new HttpProblem(422, 'invalidRequest', finished.result.message, {
      id,
      errors: [{ field: finished.result.field, message: finished.result.message }],
    });
  }
  if (finished.state === 'failed') {
    throw new HttpProblem(503, 'unavailable', `the probe could not be run: ${finished.failedReason}`, { id });
  }
  response.status(200).json(status);
}

function finishedStatus(
  id: string,
  submittedOn: number,
  finished: FinishedJob,
  attempts: number | undefined,
): ProbeStatus {
  const base = {
    id,
    submittedAt: new Date(submittedOn).toISOString(),
    finishedAt: new Date(finished.finishedOn).toISOString(),
    ...(attempts === undefined ? {} : { attempts }),
    links: { self: `/probe/${id}` },
  };
  if (finished.state === 'failed') {
    return { ...base, status: 'failed', error: { kind: 'error', reason: finished.failedReason } };
  }
  const result = finished.result;
  if (result.outcome === 'report' || result.outcome === 'vantages')
    return { ...base, status: 'completed', report: result.report as unknown as ProbeStatus['report'] };
  if (result.outcome === 'expired') {
    return {
      ...base,
      status: 'failed',
      error: { kind: 'error', reason: 'not run: its comparison was over' },
    };
  }
  if (result.outcome === 'refused') {
    return {
      ...base,
      status: 'failed',
      error: { kind: 'refused', reason: result.reason, address: result.address },
    };
  }
  return { ...base, status: 'failed', error: { kind: 'invalid', reason: result.message } };
}

export async function readStatus(
  queue: Queue<ProbeJobData, ProbeJobResult>,
  id: string,
): Promise<ProbeStatus | undefined> {
  const job: Job<ProbeJobData, ProbeJobResult> | undefined = await queue.getJob(id);
  if (!job) return undefined;
  const attempts = job.attemptsStarted ?? job.attemptsMade;
  const finishedFirst = await finishedFromJob(job);
  if (finishedFirst) return finishedStatus(id, job.timestamp, finishedFirst, attempts);
  const state = await job.getState();
  if (state === 'unknown') return undefined;
  const base = {
    id,
    submittedAt: new Date(job.timestamp).toISOString(),
    attempts,
    links: { self: `/probe/${id}` },
  };
  if (state === 'completed' || state === 'failed') {
    // It finished between the two reads: read it once more.
    const again = await queue.getJob(id);
    const finished = again ? await finishedFromJob(again) : undefined;
    if (finished) return finishedStatus(id, job.timestamp, finished, attempts);
  }
  return { ...base, status: state === 'active' ? 'active' : 'queued' };
}
