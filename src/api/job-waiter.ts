// Waits for probe jobs to finish, fed by one BullMQ QueueEvents stream shared by all waiting requests.
import type { Job, Queue, QueueEvents } from 'bullmq';
import type { ProbeJobData, ProbeJobResult } from '../worker/job.js';

export type FinishedJob =
  | { state: 'completed'; result: ProbeJobResult; finishedOn: number }
  | { state: 'failed'; failedReason: string; finishedOn: number };

export interface JobWaiter {
  /** Resolves with the finished job, or undefined when the deadline passes first. */
  wait(jobId: string, timeoutMs: number): Promise<FinishedJob | undefined>;
  close(): void;
}

export function createJobWaiter(queue: Queue<ProbeJobData, ProbeJobResult>, events: QueueEvents): JobWaiter {
  const waiting = new Map<string, Set<(job: FinishedJob) => void>>();
  const settle = (jobId: string, job: FinishedJob) => {
    const resolvers = waiting.get(jobId);
    if (!resolvers) return;
    waiting.delete(jobId);
    for (const resolve of resolvers) resolve(job);
  };
  const onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => {
    if (!waiting.has(jobId)) return;
    const result = (
      typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue
    ) as ProbeJobResult;
    settle(jobId, { state: 'completed', result, finishedOn: Date.now() });
  };
  const onFailed = ({ jobId }: { jobId: string }) => {
    if (!waiting.has(jobId)) return;
    // A failed attempt that will be retried also emits "failed": read the job to know if it is final.
    void readFinished(queue, jobId)
      .then((job) => {
        if (job) settle(jobId, job);
      })
      .catch(() => undefined);
  };
  events.on('completed', onCompleted);
  events.on('failed', onFailed);

  return {
    async wait(jobId, timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      let resolver: ((job: FinishedJob) => void) | undefined;
      const finished = new Promise<FinishedJob | undefined>((resolve) => {
        resolver = resolve;
        const resolvers = waiting.get(jobId) ?? new Set();
        resolvers.add(resolve);
        waiting.set(jobId, resolvers);
        timer = setTimeout(() => resolve(undefined), timeoutMs);
      });
      // The job may have finished before we listened: ask Redis once, after registering.
      void readFinished(queue, jobId)
        .then((job) => {
          if (job) settle(jobId, job);
        })
        .catch(() => undefined);
      const outcome = await finished;
      clearTimeout(timer);
      const resolvers = waiting.get(jobId);
      if (resolver && resolvers) {
        resolvers.delete(resolver);
        if (resolvers.size === 0) waiting.delete(jobId);
      }
      return outcome;
    },
    close() {
      events.off('completed', onCompleted);
      events.off('failed', onFailed);
      waiting.clear();
    },
  };
}

export async function readFinished(
  queue: Queue<ProbeJobData, ProbeJobResult>,
  jobId: string,
): Promise<FinishedJob | undefined> {
  const job = await queue.getJob(jobId);
  return job ? finishedFromJob(job) : undefined;
}

export async function finishedFromJob(
  job: Job<ProbeJobData, ProbeJobResult>,
): Promise<FinishedJob | undefined> {
  if (!job.finishedOn) return undefined;
  if (job.returnvalue) return { state: 'completed', result: job.returnvalue, finishedOn: job.finishedOn };
  // failedReason is also set on an attempt that will be retried; only the state says if it is final.
  if (job.failedReason && (await job.getState()) === 'failed') {
    return { state: 'failed', failedReason: job.failedReason, finishedOn: job.finishedOn };
  }
  return undefined;
}
