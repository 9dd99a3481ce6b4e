// A BullMQ worker that runs probe jobs, with metrics and a shutdown that finishes work up to a deadline.

import { Job, WaitingError, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { closeOnce, closeWithin } from '../lifecycle.js';
import type { RedisConnector } from '../redis/connection.js';
import { redisErrorLogger } from '../redis/errors.js';
import { brakeOnRefusedWrites, type RefusalBrake } from '../redis/refusal-brake.js';
import type { ProbeJobData, ProbeJobResult } from '../requests/probe-job.js';
import { probeJobSchema } from '../requests/schemas.js';
import {
  createFanOutPartRecorder,
  type FanOutPart,
  type PartOutcome,
  type PartReceipt,
} from '../vantages/fan-out-parts.js';
import type { ProbeMetrics } from './metrics.js';
import type { ProbeRunner, StopRegistration } from './processor.js';

/** What a batch item's job returns to BullMQ: its result is kept in its batch. */
export interface BatchReceipt {
  outcome: 'batched';
  batchId: string;
  index: number;
}

/** What a chunk's job returns to BullMQ: its URLs' results are kept in their batch; `ran` were probed here. */
export interface ChunkReceipt {
  outcome: 'chunk';
  ran: number;
}

/** How a chunk's run ended: every URL has its result, or the worker is closing and some have none yet. */
export type ChunkEnd = { kind: 'finished'; ran: number } | { kind: 'interrupted' };

/**
 * The batch lane's jobs of several URLs (chunks), named `jobName`: run by the batch's chunk runner, each URL
 * through `runner` and measured here like a probe job. A chunk interrupted by the worker's close goes back to wait,
 * without spending an attempt.
 */
export interface ChunkJobs {
  jobName: string;
  /** Runs one URL of a chunk: the probe runner. */
  runner: ProbeRunner;
  runChunk(
    data: unknown,
    context: {
      run: ProbeRunner;
      /** Measures and counts another runner of one URL like `run` (a URL fanned out to vantages). */
      measure: (run: ProbeRunner) => ProbeRunner;
      signal?: AbortSignal;
      closing: AbortSignal;
    },
  ): Promise<ChunkEnd>;
}

export interface ProbeWorkerOptions {
  queueName: string;
  /** More queues the same processor takes jobs from (a vantage's own queue). */
  extraQueueNames?: string[];
  /** Gives each queue's Worker its blocking connection and key prefix, and the fan-out parts their client. */
  redis: RedisConnector;
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  runner: ProbeRunner;
  metrics: ProbeMetrics;
  logger: Logger;
  /**
   * Told of a job that failed for good: its retries spent, or stalled (its worker died) more often than allowed.
   * A batch records such a URL (or a chunk's URLs without a result) as failed, so every URL ends with a result.
   */
  onFinalFailure?: (job: { name: string; data: unknown }, reason: string) => Promise<void>;
  /** The batch lane: its runner records each item's result in its batch, and the job returns a receipt. */
  isBatchLane?: boolean;
  /** The batch lane's chunks. */
  chunks?: ChunkJobs;
}

export interface ProbeWorker {
  /** True unless closing or stopped; a worker held while Redis refuses writes is running. */
  isRunning(): boolean;
  /** True while the worker takes no jobs because Redis refuses writes. */
  isHeldByRefusedWrites(): boolean;
  /**
   * Stops taking jobs, lets active probes finish until the deadline, then aborts them (they are retried). A second
   * call shares the first one's closing.
   */
  close(deadlineMs: number): Promise<void>;
}

/** A probe that failed for want of this machine's resources, thrown so BullMQ runs it again after its backoff. */
class LocalResourcesExhaustedError extends Error {
  override name = 'LocalResourcesExhaustedError';
  constructor() {
    super('the probe ran out of open files, buffers or memory on this machine');
  }
}

function isLocallyExhausted(result: ProbeJobResult): boolean {
  return result.outcome === 'report' && result.report.verdict.code === 'local.resources_exhausted';
}

export function startProbeWorker(options: ProbeWorkerOptions): ProbeWorker {
  const { metrics, logger, runner } = options;
  const parts = createFanOutPartRecorder({
    baseQueueName: options.queueName,
    redis: options.redis,
  });
  /** A vantage's part of a fan-out: its outcome goes to the comparison. Not written, it is lost at the deadline. */
  const recordPart = async (part: FanOutPart, outcome: PartOutcome): Promise<PartReceipt> => {
    try {
      return { outcome: 'part', fanOutId: part.id, written: await parts.record(part, outcome) };
    } catch (error) {
      logger.warn({ err: error, fanOut: part.id }, "could not write a fan-out's part: lost at its deadline");
      return { outcome: 'part', fanOutId: part.id, written: 'error' };
    }
  };
  /** Runs one probe, measured and counted; a throw (our own failure) is counted and logged, then rethrown. */
  const measured = async (
    run: ProbeRunner,
    job: Job,
    data: ProbeJobData,
    signal?: AbortSignal,
    registerStop?: StopRegistration,
  ): Promise<ProbeJobResult> => {
    const startedMs = performance.now();
    try {
      const result = await run(data, signal, registerStop);
      const seconds = (performance.now() - startedMs) / 1000;
      metrics.jobDurationSeconds.observe({ outcome: result.outcome }, seconds);
      // A batch URL with vantages returns its comparison: counted by the compared verdict, like a report.
      if (result.outcome === 'report' || result.outcome === 'vantages') {
        const { cause, code } = result.report.verdict;
        metrics.probesTotal.inc({ outcome: 'report', cause, code });
      } else {
        metrics.probesTotal.inc({ outcome: result.outcome, cause: 'none', code: 'none' });
        logger.info({ jobId: job.id, outcome: result.outcome }, 'probe not run');
      }
      return result;
    } catch (error) {
      metrics.jobDurationSeconds.observe({ outcome: 'error' }, (performance.now() - startedMs) / 1000);
      metrics.jobErrorsTotal.inc();
      logger.warn(
        { jobId: job.id, attempt: job.attemptsMade + 1, err: error },
        'probe job failed; BullMQ retries it',
      );
      throw error;
    }
  };
  /** Aborted as the worker starts closing: a chunk starts no new URL. */
  const closing = new AbortController();
  const runChunkJob = async (
    chunks: ChunkJobs,
    job: Job,
    token: string | undefined,
    signal?: AbortSignal,
  ): Promise<ChunkReceipt> => {
    const end = await chunks.runChunk(job.data, {
      run: (data, urlSignal, registerStop) => measured(chunks.runner, job, data, urlSignal, registerStop),
      measure: (run) => (data, urlSignal) => measured(run, job, data, urlSignal),
      ...(signal ? { signal } : {}),
      closing: closing.signal,
    });
    if (end.kind === 'finished') return { outcome: 'chunk', ran: end.ran };
    // Back to wait for the next worker, which runs the URLs still without a result; no attempt spent.
    await job.moveToWait(token);
    throw new WaitingError();
  };
  const processor = async (
    job: Job<ProbeJobData, ProbeJobResult | PartReceipt | BatchReceipt | ChunkReceipt>,
    token?: string,
    signal?: AbortSignal,
  ): Promise<ProbeJobResult | PartReceipt | BatchReceipt | ChunkReceipt> => {
    metrics.queueWaitSeconds.observe(Math.max(0, (Date.now() - job.timestamp) / 1000));
    const { chunks } = options;
    if (chunks && job.name === chunks.jobName) return runChunkJob(chunks, job, token, signal);
    const part = fanOutPartOf(job.data);
    try {
      const result = await measured(runner, job, job.data, signal);
      // The probe failed on this machine (out of open files, buffers or memory), not at the site: with attempts
      // left it runs again after the backoff, when the probes that held them may have ended; the last attempt's
      // report says what happened. A batch item recorded its result already, so the batch lane keeps it.
      if (
        !options.isBatchLane &&
        isLocallyExhausted(result) &&
        job.attemptsMade + 1 < (job.opts.attempts ?? 1)
      ) {
        logger.warn(
          { jobId: job.id, attempt: job.attemptsMade + 1 },
          'this machine ran out of open files, buffers or memory for the probe; it runs again after the backoff (raise ulimit -n or lower WORKER_CONCURRENCY)',
        );
        throw new LocalResourcesExhaustedError();
      }
      // A part's result is read from its comparison: the job itself returns a receipt, so the report is not
      // written (and sent through the queue's events) twice. An expired part's comparison is over.
      if (part && result.outcome !== 'expired') return recordPart(part, { outcome: 'result', result });
      // A batch item's result was recorded in its batch by the runner: the job, dropped once completed, carries a
      // receipt rather than sending the report to Redis a second time (a quarter of the batch lane's Redis bytes).
      if (options.isBatchLane && job.data.batch)
        return { outcome: 'batched', batchId: job.data.batch.id, index: job.data.batch.index };
      return result;
    } catch (error) {
      if (part && job.attemptsMade + 1 >= (job.opts.attempts ?? 1))
        await recordPart(part, { outcome: 'failed', reason: String(error) });
      throw error;
    }
  };

  const brakes: RefusalBrake[] = [];
  const workers = [options.queueName, ...(options.extraQueueNames ?? [])].map((queueName) => {
    const worker = new Worker<ProbeJobData, ProbeJobResult | PartReceipt | BatchReceipt | ChunkReceipt>(
      queueName,
      processor,
      {
        ...options.redis.bullBlocking(),
        concurrency: options.concurrency,
        lockDuration: options.lockDurationMs,
        stalledInterval: options.stalledIntervalMs,
        // A worker killed mid-probe leaves its job stalled; it goes back to the queue up to twice before failing.
        maxStalledCount: 2,
      },
    );
    worker.on('error', redisErrorLogger(logger, 'worker error', { queueName }));
    brakes.push(brakeOnRefusedWrites(worker, logger, { queueName }));
    worker.on('stalled', (jobId) => logger.warn({ jobId, queueName }, 'stalled job moved back to the queue'));
    const { onFinalFailure } = options;
    if (onFinalFailure) {
      const reportIfFailed = async (job: Job<ProbeJobData> | undefined, reason?: string) => {
        // A retry is scheduled unless the job is in the failed set: only the last failure is final.
        if (!job || (await job.getState()) !== 'failed') return;
        await onFinalFailure(job, reason ?? job.failedReason ?? 'failed');
      };
      const onError = (error: unknown) =>
        logger.warn({ err: error, queueName }, 'recording a failed job did not succeed');
      worker.on('failed', (job, error) => {
        reportIfFailed(job, error.message).catch(onError);
      });
      // A job stalled too often is failed by the stalled checker, which emits only its id.
      worker.on('stalled', (jobId) => {
        Job.fromId<ProbeJobData>(worker, jobId)
          .then((job) => reportIfFailed(job))
          .catch(onError);
      });
    }
    return worker;
  });

  let isClosing = false;
  return {
    // A held worker whose jobs have all finished has no main loop running until its wait is over.
    isRunning: () =>
      !isClosing && workers.every((worker, index) => worker.isRunning() || brakes[index]?.isHolding()),
    isHeldByRefusedWrites: () => brakes.some((brake) => brake.isHolding()),
    close: closeOnce(async (deadlineMs: number) => {
      isClosing = true;
      closing.abort();
      await closeWithin(
        deadlineMs,
        () => Promise.all(workers.map((worker) => worker.close())).then(() => undefined),
        () => {
          logger.warn(
            { deadlineMs },
            'shutdown deadline reached: aborting active probes, BullMQ retries them',
          );
          for (const worker of workers) worker.cancelAllJobs('shutdown deadline reached');
        },
      );
      await parts.close();
    }),
  };
}

/** The fan-out a job is a part of, when its data names one well-formed. */
function fanOutPartOf(data: unknown): FanOutPart | undefined {
  const fanOut = (data as { fanOut?: unknown } | undefined)?.fanOut;
  if (fanOut === undefined) return undefined;
  const parsed = probeJobSchema.shape.fanOut.safeParse(fanOut);
  return parsed.success ? parsed.data : undefined;
}
