// Waits for probe jobs to finish, fed by one BullMQ QueueEvents stream shared by all waiting requests.
import type { Job, Queue, QueueEvents } from 'bullmq';
import type { ProbeJobData, ProbeJobResult } from '../requests/probe-job.js';

export type FinishedJob =
  | { state: 'completed'; result: ProbeJobResult; finishedOn: number }
  | { state: 'failed'; failedReason: string; finishedOn: number };

export interface PendingJob {
  /** Resolves with the finished job, or undefined when the deadline passes first. */
  result(timeoutMs: number): Promise<FinishedJob | undefined>;
  /** Stops listening (the job was never added, or nobody waits any more). */
  cancel(): void;
}

export interface JobWaiter {
  /**
   * Starts listening for a job's end. Called before the job is added, so its "completed" event cannot slip by
   * between the add and the listening: no extra read of the job is needed on the fast path.
   */
  expect(jobId: string): PendingJob;
  /**
   * Shutdown: every waiting request gets its answer now (undefined: "not finished", so the route answers 202
   * with the id, and the durable job runs on), and requests that arrive later do not wait.
   */
  release(): void;
  close(): void;
}

export function createJobWaiter(queue: Queue<ProbeJobData, ProbeJobResult>, events: QueueEvents): JobWaiter {
  const waiting = new Map<string, (job: FinishedJob | 'released') => void>();
  let isReleased = false;
  const onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => {
    const settle = waiting.get(jobId);
    if (!settle) return;
    const result = (
      typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue
    ) as ProbeJobResult;
    settle({ state: 'completed', result, finishedOn: Date.now() });
  };
  const onFailed = ({ jobId }: { jobId: string }) => {
    const settle = waiting.get(jobId);
    if (!settle) return;
    // A failed attempt that will be retried also emits "failed": read the job to know if it is final.
    void readFinished(queue, jobId)
      .then((job) => {
        if (job) settle(job);
      })
      .catch(() => undefined);
  };
  events.on('completed', onCompleted);
  events.on('failed', onFailed);

  return {
    expect(jobId) {
      let settle: (job: FinishedJob | 'released') => void = () => undefined;
      const finished = new Promise<FinishedJob | 'released'>((resolve) => {
        settle = resolve;
      });
      if (isReleased) settle('released');
      else {
        waiting.set(jobId, (job) => {
          waiting.delete(jobId);
          settle(job);
        });
      }
      return {
        async result(timeoutMs) {
          let timer: NodeJS.Timeout | undefined;
          const deadline = new Promise<undefined>((resolve) => {
            timer = setTimeout(() => resolve(undefined), timeoutMs);
          });
          const outcome = await Promise.race([finished, deadline]);
          clearTimeout(timer);
          waiting.delete(jobId);
          if (outcome === 'released') return undefined;
          if (outcome) return outcome;
          // The event stream may have been reconnecting (Redis restart) when the job ended: ask once.
          return readFinished(queue, jobId).catch(() => undefined);
        },
        cancel() {
          waiting.delete(jobId);
        },
      };
    },
    release() {
      isReleased = true;
      for (const settle of [...waiting.values()]) settle('released');
      waiting.clear();
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
