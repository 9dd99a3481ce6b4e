// A BullMQ worker that runs probe jobs, with metrics and a shutdown that finishes work up to a deadline.

import { type Job, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { closeOnce, closeWithin } from '../lifecycle.js';
import type { BullConnection } from '../redis/connection.js';
import type { ProbeJobData, ProbeJobResult } from '../requests/probe-job.js';
import type { ProbeMetrics } from './metrics.js';
import type { ProbeRunner } from './processor.js';

export interface ProbeWorkerOptions {
  queueName: string;
  /** More queues the same processor takes jobs from (a vantage's own queue). */
  extraQueueNames?: string[];
  /** A blocking connection and the queues' key prefix (RedisConnector.bullBlocking). */
  bull: BullConnection;
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  runner: ProbeRunner;
  metrics: ProbeMetrics;
  logger: Logger;
}

export interface ProbeWorker {
  isRunning(): boolean;
  /**
   * Stops taking jobs, lets active probes finish until the deadline, then aborts them (they are retried). A second
   * call shares the first one's closing.
   */
  close(deadlineMs: number): Promise<void>;
}

export function startProbeWorker(options: ProbeWorkerOptions): ProbeWorker {
  const { metrics, logger, runner } = options;
  const processor = async (job: Job<ProbeJobData, ProbeJobResult>, _token?: string, signal?: AbortSignal) => {
    const startedMs = performance.now();
    metrics.queueWaitSeconds.observe(Math.max(0, (Date.now() - job.timestamp) / 1000));
    try {
      const result = await runner(job.data, signal);
      const seconds = (performance.now() - startedMs) / 1000;
      metrics.jobDurationSeconds.observe({ outcome: result.outcome }, seconds);
      if (result.outcome === 'report') {
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

  const workers = [options.queueName, ...(options.extraQueueNames ?? [])].map((queueName) => {
    const worker = new Worker<ProbeJobData, ProbeJobResult>(queueName, processor, {
      ...options.bull,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs,
      stalledInterval: options.stalledIntervalMs,
      // A worker killed mid-probe leaves its job stalled; it goes back to the queue up to twice before failing.
      maxStalledCount: 2,
    });
    worker.on('error', (error) => logger.warn({ err: error, queueName }, 'worker connection error'));
    worker.on('stalled', (jobId) => logger.warn({ jobId, queueName }, 'stalled job moved back to the queue'));
    return worker;
  });

  let isClosing = false;
  return {
    isRunning: () => !isClosing && workers.every((worker) => worker.isRunning()),
    close: closeOnce(async (deadlineMs: number) => {
      isClosing = true;
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
    }),
  };
}
