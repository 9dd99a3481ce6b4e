// A batch's URLs as jobs on the batch lane, a chunk of URLs each: added with addBulk, and taken back when cancelled.
// A batch queued before chunks has one probe job per URL; its jobs are still run and cancelled here.
import type { JobsOptions, Queue } from 'bullmq';
import { z } from 'zod';
import { type ProbeJobData, type ProbeJobResult, probeJobOptions } from '../requests/probe-job.js';
import type { BatchOptions } from './store.js';

/** A job of the batch lane: a chunk of a batch's URLs, or (queued before chunks) one URL as a probe job. */
export type BatchQueue = Queue<ProbeJobData | ChunkJobData, ProbeJobResult>;

/** The name of a chunk's job; a URL's job (before chunks) is named probeJobName. */
export const chunkJobName = 'chunk';

/**
 * A chunk: the URLs of places `start` to `start + urls.length - 1` of one batch, with the batch's options. Each
 * URL is run as the probe job `{ url, ...options, batch: { id, index, vantages } }`, checked again as any is.
 */
export interface ChunkJobData {
  batch: { id: string; start: number; vantages?: BatchOptions['vantages'] };
  urls: string[];
  options: Omit<BatchOptions, 'vantages'>;
}

/** The chunk's shape; each URL's job is checked by the probe job's schema when it runs. */
export const chunkJobSchema = z.strictObject({
  batch: z.strictObject({
    id: z.uuid(),
    start: z.number().int().min(0),
    vantages: z
      .array(z.strictObject({ name: z.string(), labels: z.record(z.string(), z.string()) }))
      .optional(),
  }),
  urls: z.array(z.string()).min(1).max(1024),
  options: z.record(z.string(), z.unknown()),
});

/** The probe job of the chunk's URL at `position`. */
export function chunkItemJob(chunk: ChunkJobData, position: number): ProbeJobData {
  const { vantages } = chunk.batch;
  return {
    url: chunk.urls[position] ?? '',
    ...chunk.options,
    batch: { id: chunk.batch.id, index: chunk.batch.start + position, ...(vantages ? { vantages } : {}) },
  };
}

/** A chunk's job id: the batch and the chunk's number; BullMQ ids may not hold a colon. */
export function chunkJobId(batchId: string, chunkNumber: number): string {
  return `${batchId}-c${chunkNumber}`;
}

/**
 * The batch lane: a queue of its own beside the probe queue, taken by the same probe processor, so a list of
 * 10,000 URLs never stands in front of an interactive POST /probe (nor counts toward its QUEUE_MAX_WAITING).
 */
export function batchQueueName(baseQueueName: string): string {
  return `${baseQueueName}-batch`;
}

/** The job of one item (a batch queued before chunks), named by the batch and the item's place. */
export function itemJobId(batchId: string, index: number): string {
  return `${batchId}-${index}`;
}

/** Jobs added or removed per call: one round trip each, and a bounded command for Redis to run. */
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

/**
 * Adds the batch's jobs, in the order of the list: chunk k holds places k * chunkSize to (k + 1) * chunkSize - 1.
 * Places recorded already (refused by the address policy) travel with their chunk and are skipped by its claim;
 * a chunk with none left to run is not queued.
 */
export async function addChunkJobs(
  queue: BatchQueue,
  batchId: string,
  urls: readonly string[],
  toRun: ReadonlySet<number>,
  options: BatchOptions,
  jobOptions: JobsOptions,
  chunkSize: number,
): Promise<void> {
  const { vantages, ...probeOptions } = options;
  const jobs: Parameters<BatchQueue['addBulk']>[0] = [];
  for (let start = 0; start < urls.length; start += chunkSize) {
    const end = Math.min(start + chunkSize, urls.length);
    let hasWork = false;
    for (let index = start; index < end && !hasWork; index++) hasWork = toRun.has(index);
    if (!hasWork) continue;
    const data: ChunkJobData = {
      batch: { id: batchId, start, ...(vantages ? { vantages } : {}) },
      urls: urls.slice(start, end),
      options: probeOptions,
    };
    jobs.push({
      name: chunkJobName,
      data,
      opts: { ...jobOptions, jobId: chunkJobId(batchId, start / chunkSize) },
    });
  }
  for (let first = 0; first < jobs.length; first += addChunkSize)
    await queue.addBulk(jobs.slice(first, first + addChunkSize));
}

/**
 * Removes the chunks' jobs no worker holds (waiting, delayed for a retry); answers the places of the URLs they held
 * (recorded or not). A chunk a worker holds is locked and stays: its worker sees the batch cancelled.
 */
export async function removeChunkJobs(
  queue: BatchQueue,
  batchId: string,
  total: number,
  chunkSize: number,
): Promise<number[]> {
  const removed: number[] = [];
  const chunkCount = Math.ceil(total / chunkSize);
  for (let first = 0; first < chunkCount; first += addChunkSize) {
    const numbers = Array.from({ length: Math.min(addChunkSize, chunkCount - first) }, (_, n) => first + n);
    const codes = await Promise.all(numbers.map((number) => queue.remove(chunkJobId(batchId, number))));
    numbers.forEach((number, position) => {
      if (codes[position] !== 1) return;
      for (let index = number * chunkSize; index < Math.min((number + 1) * chunkSize, total); index++)
        removed.push(index);
    });
  }
  return removed;
}

/**
 * A batch queued before chunks: removes the jobs of the given items that no worker holds (waiting, delayed for a retry); answers the indexes
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
