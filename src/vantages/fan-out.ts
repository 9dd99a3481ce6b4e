// A probe from several vantages: a BullMQ flow with one child per vantage queue and a parent that compares
// them, and a deadline job that releases the parent from vantages that never answer.
import { FlowProducer, Job, type JobsOptions, Queue, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { compareVantages } from '../diagnosis/compare.js';
import { closeOnce } from '../lifecycle.js';
import type { BullConnection, RedisClient } from '../redis/connection.js';
import { type ProbeJobData, type ProbeJobResult, probeJobName } from '../requests/probe-job.js';
import type { MultiVantageReport, VantageResult } from '../types.js';
import { compareQueueName, type LiveVantage, vantageQueueName } from './registry.js';

export const compareJobName = 'compare';
export const deadlineJobName = 'deadline';

/** How long after the probe's own deadline a vantage's part may still arrive (queueing, Redis round trips). */
export const fanOutGraceMs = 3000;

export interface CompareJobData {
  url: string;
  vantages: Array<{ name: string; labels: Record<string, string> }>;
  submittedAtMs: number;
}

export interface DeadlineJobData {
  parentId: string;
}

type CompareJob = Job<CompareJobData | DeadlineJobData, ProbeJobResult | string>;

export function childJobId(parentId: string, vantage: string): string {
  return `${parentId}--${vantage}`;
}

export interface FanOutSubmitter {
  /** The parent's queue: where the fan-out's result is read and waited for. */
  compareQueue: Queue<CompareJobData, ProbeJobResult>;
  submit(options: {
    id: string;
    request: ProbeJobData;
    vantages: LiveVantage[];
    timeoutMs: number;
    jobOptions: JobsOptions;
  }): Promise<void>;
  close(): Promise<void>;
}

/** The API's side: adds the flow and its deadline. */
export function createFanOutSubmitter(options: {
  /** A command client and the queues' prefix: a flow writes the parent's and the children's queues at once. */
  bull: BullConnection;
  baseQueueName: string;
}): FanOutSubmitter {
  const flow = new FlowProducer(options.bull);
  const compareQueue = new Queue<CompareJobData, ProbeJobResult>(
    compareQueueName(options.baseQueueName),
    options.bull,
  );
  const deadlineQueue = compareQueue as unknown as Queue<DeadlineJobData>;
  // A connection error reaches the caller of submit() as a rejected add; the events need a listener so BullMQ
  // does not print each reconnect attempt while Redis is away or failing over.
  flow.on('error', () => undefined);
  compareQueue.on('error', () => undefined);
  return {
    compareQueue,
    async submit({ id, request, vantages, timeoutMs, jobOptions }) {
      const submittedAtMs = Date.now();
      const notAfterMs = submittedAtMs + timeoutMs + fanOutGraceMs;
      const kept = { removeOnComplete: jobOptions.removeOnComplete, removeOnFail: jobOptions.removeOnFail };
      await flow.add({
        name: compareJobName,
        queueName: compareQueueName(options.baseQueueName),
        data: {
          url: request.url,
          vantages: vantages.map((vantage) => ({ name: vantage.name, labels: vantage.labels })),
          submittedAtMs,
        } satisfies CompareJobData,
        opts: { ...kept, jobId: id, attempts: 3, backoff: { type: 'exponential', delay: 500 } },
        children: vantages.map((vantage) => ({
          name: probeJobName,
          queueName: vantageQueueName(options.baseQueueName, vantage.name),
          data: { ...request, notAfterMs } satisfies ProbeJobData,
          opts: {
            ...kept,
            jobId: childJobId(id, vantage.name),
            // One vantage failing must not hold the others' comparison: its part is judged missing.
            ignoreDependencyOnFailure: true,
            attempts: 1,
          },
        })),
      });
      // The deadline releases the parent from vantages that never answer (dead, or never picking their job up).
      await deadlineQueue.add(
        deadlineJobName,
        { parentId: id },
        {
          jobId: `${id}--deadline`,
          delay: notAfterMs - Date.now(),
          removeOnComplete: true,
          removeOnFail: true,
        },
      );
    },
    close: closeOnce(async () => {
      await flow.close();
      await compareQueue.close();
    }),
  };
}

/** Where a child's key (<prefix>:<queue>:<id>, the prefix `bull` or `{name}`) says it lives. */
function parseJobKey(key: string): { queueName: string; id: string } | undefined {
  const match = /^[^:]+:(.+):([^:]+)$/.exec(key);
  return match ? { queueName: match[1] as string, id: match[2] as string } : undefined;
}

export interface CompareWorker {
  close(): Promise<void>;
}

/** Every worker process runs this: the comparison of finished fan-outs, and their deadlines. */
export function startCompareWorker(options: {
  baseQueueName: string;
  /** A blocking connection and the queues' prefix (RedisConnector.bullBlocking). */
  bull: BullConnection;
  /** A command client for reading and removing the children. */
  redis: RedisClient;
  logger: Logger;
}): CompareWorker {
  const { logger } = options;
  const queues = new Map<string, Queue>();
  const queueOf = (name: string): Queue => {
    let queue = queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: options.redis, prefix: options.bull.prefix });
      queue.on('error', (error) => logger.debug({ err: error, queueName: name }, 'compare queue error'));
      queues.set(name, queue);
    }
    return queue;
  };
  const compareQueue = queueOf(compareQueueName(options.baseQueueName));

  const releaseFromMissing = async (parentId: string): Promise<string> => {
    const parent = await Job.fromId(compareQueue, parentId);
    if (!parent || (await parent.getState()) !== 'waiting-children') return 'done';
    const { unprocessed = [] } = await parent.getDependencies({ unprocessed: { count: 100 } });
    for (const key of unprocessed) {
      const where = parseJobKey(key);
      if (!where) continue;
      const child = await Job.fromId(queueOf(where.queueName), where.id);
      if (!child) continue;
      // Released from the parent first, so the comparison runs whatever happens to the child next.
      await child.removeChildDependency();
      // Orphaned: removed when it is not running; a worker that takes it up later sees it expired.
      await child.remove().catch(() => undefined);
      logger.info({ parentId, child: where.id }, 'vantage part missing at the deadline: marked lost');
    }
    return 'released';
  };

  const compare = async (job: Job<CompareJobData>): Promise<ProbeJobResult> => {
    const values = await job.getChildrenValues<ProbeJobResult>();
    // Failed children are read only when some child has no value: the common case costs one read.
    const failures =
      Object.keys(values).length < job.data.vantages.length ? await job.getFailedChildrenValues() : {};
    const byChild = new Map<string, ProbeJobResult>();
    for (const [key, value] of Object.entries(values)) {
      const where = parseJobKey(key);
      if (where)
        byChild.set(where.id, typeof value === 'string' ? (JSON.parse(value) as ProbeJobResult) : value);
    }
    const failedChildren = new Set(
      Object.keys(failures)
        .map((key) => parseJobKey(key)?.id)
        .filter(Boolean),
    );
    const vantages: VantageResult[] = job.data.vantages.map((vantage) => {
      const id = childJobId(String(job.id), vantage.name);
      const result = byChild.get(id);
      const base = { name: vantage.name, labels: vantage.labels };
      if (result?.outcome === 'report') return { ...base, status: 'completed', report: result.report };
      if (result?.outcome === 'refused') return { ...base, status: 'refused', reason: result.reason };
      if (result?.outcome === 'invalid') return { ...base, status: 'failed', reason: result.message };
      if (failedChildren.has(id))
        return { ...base, status: 'failed', reason: 'the vantage failed to run it' };
      return { ...base, status: 'lost', reason: "no result by the probe's deadline" };
    });
    const report: MultiVantageReport = {
      schemaVersion: 1,
      url: job.data.url,
      startedAt: new Date(job.data.submittedAtMs).toISOString(),
      durationMs: Date.now() - job.data.submittedAtMs,
      vantages,
      verdict: compareVantages({ url: job.data.url, vantages }),
    };
    await compareQueue.remove(`${job.id}--deadline`).catch(() => undefined);
    return { outcome: 'vantages', report };
  };

  const worker = new Worker<CompareJobData | DeadlineJobData, ProbeJobResult | string>(
    compareQueueName(options.baseQueueName),
    async (job: CompareJob) => {
      if (job.name === deadlineJobName) return releaseFromMissing((job.data as DeadlineJobData).parentId);
      return compare(job as Job<CompareJobData>);
    },
    { ...options.bull, concurrency: 16 },
  );
  worker.on('error', (error) => logger.warn({ err: error }, 'compare worker connection error'));
  worker.on('failed', (job, error) => logger.warn({ jobId: job?.id, err: error }, 'compare job failed'));
  return {
    close: closeOnce(async () => {
      await worker.close();
      for (const queue of queues.values()) await queue.close();
    }),
  };
}
