// A batch's URLs as probe jobs on the batch lane: added in chunks with addBulk, and taken back when cancelled.
import type { JobsOptions, Queue } from 'bullmq';
import {
  type ProbeJobData,
  type ProbeJobResult,
  probeJobName,
  probeJobOptions,
} from '../requests/probe-job.js';
import type { BatchOptions } from './store.js';

export type BatchQueue = Queue<ProbeJobData, ProbeJobResult>;

/**
 * The batch lane: a queue of its own beside the probe queue, taken by the same probe processor, so a list of
 * 10,000 URLs never stands in front of an interactive POST /probe (nor counts toward its QUEUE_MAX_WAITING).
 */
export function batchQueueName(baseQueueName: string): string {
  return `${baseQueueName}-batch`;
}

/** One job per item, named by the batch and the item's place; BullMQ ids may not hold a colon. */
export function itemJobId(batchId: string, index: number): string {
  return `${batchId}-${index}`;
}

/** Jobs added per addBulk call: one round trip each, and a bounded command for Redis to run. */
export const addChunkSize = 500;

/**
 * The job options of a batch item: retried like a probe job on our own failures; its result lives in the batch's
 * store, so the job itself is dropped once completed, and kept as long as the batch once failed.
 */
export function itemJobOptions(settings: {
  attempts: number;
  backoffMs: number;
  resultTtlSeconds: number;
}): JobsOptions {
  return {
    ...probeJobOptions({ ...settings, resultMaxCount: Number.MAX_SAFE_INTEGER }),
    removeOnComplete: true,
    removeOnFail: { age: settings.resultTtlSeconds },
  };
}

/** Adds a job for each item, in chunks, in the order of the list. */
export async function addItemJobs(
  queue: BatchQueue,
  batchId: string,
  items: ReadonlyArray<{ index: number; url: string }>,
  options: BatchOptions,
  jobOptions: JobsOptions,
): Promise<void> {
  const { vantages, ...probeOptions } = options;
  for (let start = 0; start < items.length; start += addChunkSize) {
    await queue.addBulk(
      items.slice(start, start + addChunkSize).map((item) => ({
        name: probeJobName,
        data: {
          url: item.url,
          ...probeOptions,
          batch: { id: batchId, index: item.index, ...(vantages ? { vantages } : {}) },
        },
        opts: { ...jobOptions, jobId: itemJobId(batchId, item.index) },
      })),
    );
  }
}

/**
 * Removes the jobs of the given items that no worker holds (waiting, delayed for a retry); answers the indexes
 * removed. A job a worker holds is locked and stays: it finishes, or its worker sees the batch cancelled.
 */
export async function removeItemJobs(
  queue: BatchQueue,
  batchId: string,
  indexes: readonly number[],
): Promise<number[]> {
  const removed: number[] = [];
  for (let start = 0; start < indexes.length; start += addChunkSize) {
    const chunk = indexes.slice(start, start + addChunkSize);
    const codes = await Promise.all(chunk.map((index) => queue.remove(itemJobId(batchId, index))));
    chunk.forEach((index, position) => {
      if (codes[position] === 1) removed.push(index);
    });
  }
  return removed;
}
