// A probe from several vantages: one job per vantage on that vantage's queue, and a comparison job that waits,
// delayed, until the probe's deadline. Each part writes its result into the comparison's hash as it finishes;
// the last one promotes the comparison at once. A vantage that never answers leaves it to run at the deadline,
// where its part is marked lost and its orphaned job removed.
import { type Job, type JobsOptions, Queue, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { compareVantages } from '../diagnosis/compare.js';
import { closeOnce } from '../lifecycle.js';
import type { BullConnection, RedisClient } from '../redis/connection.js';
import { redisErrorLogger } from '../redis/errors.js';
import { brakeOnRefusedWrites } from '../redis/refusal-brake.js';
import { type ProbeJobData, type ProbeJobResult, probeJobName } from '../requests/probe-job.js';
import type { MultiVantageReport, VantageResult } from '../types.js';
import { type PartOutcome, readParts } from './fan-out-parts.js';
import { compareQueueName, type LiveVantage, vantageQueueName } from './registry.js';

export const compareJobName = 'compare';

/** How long after the probe's own deadline a vantage's part may still arrive (queueing, Redis round trips). */
export const fanOutGraceMs = 3000;

/** A vantage as a fan-out names it: what its part of the report is labelled with. */
export type NamedVantage = Pick<LiveVantage, 'name' | 'labels'>;

export interface CompareJobData {
  url: string;
  vantages: NamedVantage[];
  submittedAtMs: number;
  /** Vantages named but sent no part, as they were not live when the probe was sent: lost from the start. */
  absent?: string[];
}

export function childJobId(parentId: string, vantage: string): string {
  return `${parentId}--${vantage}`;
}

export interface FanOutSubmitter {
  /** The comparison's queue: where the fan-out's result is read and waited for. */
  compareQueue: Queue<CompareJobData, ProbeJobResult>;
  submit(options: {
    id: string;
    request: ProbeJobData;
    /** The vantages of the report, in its order. */
    vantages: NamedVantage[];
    /** Those of them sent no part (known not live): lost at once rather than at the deadline. At least one is not. */
    absent?: string[];
    timeoutMs: number;
    jobOptions: JobsOptions;
    /** The batch the URL belongs to: each vantage probes the batch's controls once for all its parts. */
    batchId?: string;
  }): Promise<void>;
  close(): Promise<void>;
}

/**
 * Queues by name on one connection, made on first use and closed together. A connection error reaches the caller
 * as a rejected command; the events need a listener so BullMQ does not print each reconnect while Redis is away
 * or failing over.
 */
function queueCache(
  bull: BullConnection,
  onError: (error: Error, queueName: string) => void = () => undefined,
) {
  const queues = new Map<string, Queue>();
  return {
    of(name: string): Queue {
      let queue = queues.get(name);
      if (!queue) {
        queue = new Queue(name, bull);
        queue.on('error', (error) => onError(error, name));
        queues.set(name, queue);
      }
      return queue;
    },
    async close(): Promise<void> {
      for (const queue of queues.values()) await queue.close();
    },
  };
}

/** The API's (and the monitors') side: adds the comparison, then the parts. */
export function createFanOutSubmitter(options: {
  /** A command client and the queues' prefix (RedisConnector.bullOn). */
  bull: BullConnection;
  baseQueueName: string;
}): FanOutSubmitter {
  const queues = queueCache(options.bull);
  const compareQueue = queues.of(compareQueueName(options.baseQueueName)) as Queue<
    CompareJobData,
    ProbeJobResult
  >;
  return {
    compareQueue,
    async submit({ id, request, vantages, absent = [], timeoutMs, jobOptions, batchId }) {
      const submittedAtMs = Date.now();
      const notAfterMs = submittedAtMs + timeoutMs + fanOutGraceMs;
      const kept = { removeOnComplete: jobOptions.removeOnComplete, removeOnFail: jobOptions.removeOnFail };
      // The comparison first, so the first part to finish finds where to write. Its delay is the deadline: it
      // runs then with whatever arrived, unless the last part promotes it sooner.
      await compareQueue.add(
        compareJobName,
        {
          url: request.url,
          vantages: vantages.map((vantage) => ({ name: vantage.name, labels: vantage.labels })),
          submittedAtMs,
          ...(absent.length > 0 ? { absent } : {}),
        },
        {
          ...kept,
          jobId: id,
          delay: notAfterMs - Date.now(),
          attempts: 3,
          backoff: { type: 'exponential', delay: 500 },
        },
      );
      const sent = vantages.filter((vantage) => !absent.includes(vantage.name));
      try {
        await Promise.all(
          sent.map((vantage) =>
            queues.of(vantageQueueName(options.baseQueueName, vantage.name)).add(
              probeJobName,
              {
                ...request,
                notAfterMs,
                fanOut: { id, vantage: vantage.name, size: sent.length, ...(batchId ? { batchId } : {}) },
              } satisfies ProbeJobData,
              {
                // A part's result lives on in its comparison; a failed part is kept to be looked into.
                removeOnComplete: true,
                removeOnFail: jobOptions.removeOnFail,
                jobId: childJobId(id, vantage.name),
                attempts: 1,
              },
            ),
          ),
        );
      } catch (error) {
        // Not accepted: the comparison goes too, and a part already added expires unrun with nobody to read it.
        await compareQueue.remove(id).catch(() => undefined);
        throw error;
      }
    },
    close: closeOnce(() => queues.close()),
  };
}

export interface CompareWorker {
  close(): Promise<void>;
}

/** How a part that finished reads in the report. */
function vantageResultOf(
  base: NamedVantage,
  part: PartOutcome | undefined,
  isAbsent: boolean,
): VantageResult {
  if (!part && isAbsent)
    return { ...base, status: 'lost', reason: 'not live (no heartbeat) when the probe was sent' };
  if (!part) return { ...base, status: 'lost', reason: "no result by the probe's deadline" };
  if (part.outcome === 'failed') return { ...base, status: 'failed', reason: 'the vantage failed to run it' };
  const { result } = part;
  if (result.outcome === 'report') return { ...base, status: 'completed', report: result.report };
  if (result.outcome === 'refused') return { ...base, status: 'refused', reason: result.reason };
  if (result.outcome === 'invalid') return { ...base, status: 'failed', reason: result.message };
  return { ...base, status: 'lost', reason: "no result by the probe's deadline" };
}

/** The compared report of a fan-out from the parts that arrived; a vantage without one is lost. */
export function comparedReport(
  data: CompareJobData,
  parts: ReadonlyMap<string, PartOutcome>,
): MultiVantageReport {
  const absent = new Set(data.absent ?? []);
  const vantages = data.vantages.map((vantage) =>
    vantageResultOf(vantage, parts.get(vantage.name), absent.has(vantage.name)),
  );
  return {
    schemaVersion: 1,
    url: data.url,
    startedAt: new Date(data.submittedAtMs).toISOString(),
    durationMs: Date.now() - data.submittedAtMs,
    vantages,
    verdict: compareVantages({ url: data.url, vantages }),
  };
}

/** Every worker process runs this: the comparison of fan-outs, when their last part arrives or at the deadline. */
export function startCompareWorker(options: {
  baseQueueName: string;
  /** A blocking connection and the queues' prefix (RedisConnector.bullBlocking). */
  bull: BullConnection;
  /** A command client for reading the parts and removing orphaned ones. */
  redis: RedisClient;
  logger: Logger;
}): CompareWorker {
  const { logger } = options;
  const queues = queueCache({ connection: options.redis, prefix: options.bull.prefix }, (error, queueName) =>
    logger.debug({ err: error, queueName }, 'compare queue error'),
  );
  const compareQueue = queues.of(compareQueueName(options.baseQueueName));

  /** Parts still queued or running at the deadline: removed when not running; one taken up later expires. */
  const removeOrphans = async (parentId: string, vantages: string[]) => {
    for (const vantage of vantages) {
      const queue = queues.of(vantageQueueName(options.baseQueueName, vantage));
      await queue.remove(childJobId(parentId, vantage)).catch(() => undefined);
      logger.info({ parentId, vantage }, 'vantage part missing at the deadline: marked lost');
    }
  };

  const compare = async (job: Job<CompareJobData>): Promise<ProbeJobResult> => {
    const id = String(job.id);
    const names = job.data.vantages.map((vantage) => vantage.name);
    const parts = await readParts(options.redis, compareQueue.toKey(id), names);
    const absent = new Set(job.data.absent ?? []);
    await removeOrphans(
      id,
      names.filter((name) => !parts.has(name) && !absent.has(name)),
    );
    return { outcome: 'vantages', report: comparedReport(job.data, parts) };
  };

  const worker = new Worker<CompareJobData, ProbeJobResult>(
    compareQueueName(options.baseQueueName),
    compare,
    { ...options.bull, concurrency: 16 },
  );
  worker.on('error', redisErrorLogger(logger, 'compare worker error'));
  brakeOnRefusedWrites(worker, logger, { worker: 'compare' });
  worker.on('failed', (job, error) => logger.warn({ jobId: job?.id, err: error }, 'compare job failed'));
  return {
    close: closeOnce(async () => {
      await worker.close();
      await queues.close();
    }),
  };
}
