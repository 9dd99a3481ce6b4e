// The worker's side of a batch: its chunks (chunk-runner.ts) and, for a batch queued before chunks, its URLs' own
// jobs: before such a URL is probed, its batch is asked whether it is still wanted; after, its result is recorded
// once. The batch's controls are probed once for the batch (shared-controls.ts), not per URL.
import type { ProbeJobData, ProbeJobResult } from '../requests/probe-job.js';
import { createChunkRunner, noFanOutItem, recordChunkFailure } from './chunk-runner.js';
import type { BatchItem } from './item.js';
import { chunkJobName } from './jobs.js';
import { ProbeSlots } from './probe-slots.js';
import type { ItemRecorder } from './recorder.js';
import { createSharedControls, type SharedControlSettings } from './shared-controls.js';
import type { BatchStore } from './store.js';
import {
  createVantageItemRunner,
  type VantageItemRunner,
  type VantageItemSettings,
} from './vantage-items.js';

type Runner = (data: ProbeJobData, signal?: AbortSignal) => Promise<ProbeJobResult>;

/**
 * Wraps the probe runner of the batch lane for a URL's own job (a batch queued before chunks). An item whose batch was cancelled is recorded cancelled without a
 * probe; one that has a result already (its job ran again after a crash between recording and completing) is
 * not probed twice; a batch that expired is dropped. The job's own result is returned as it was.
 */
export function createBatchItemRunner(options: {
  runner: Runner;
  store: BatchStore;
  record: ItemRecorder;
  /** Runs the URLs of a batch with vantages; without it (no fan-out wired), such a URL is recorded failed. */
  vantageRunner?: VantageItemRunner;
}): Runner {
  const { runner, store, record, vantageRunner } = options;
  return async (data, signal) => {
    const batch = data.batch;
    if (!batch) return runner(data, signal);
    const claim = await store.claim(batch.id, batch.index);
    if (claim.state === 'unknown' || claim.isDone) return { outcome: 'expired' };
    if (claim.state === 'cancelled') {
      await record(batch.id, cancelledItem(batch.index, data.url));
      return { outcome: 'expired' };
    }
    const { vantages } = batch;
    if (vantages) {
      if (vantageRunner) return vantageRunner(data, { id: batch.id, index: batch.index, vantages }, signal);
      await record(batch.id, noFanOutItem(batch.index, data.url));
      return { outcome: 'expired' };
    }
    const result = await runner(data, signal);
    await record(batch.id, itemOf(batch.index, data.url, result));
    return result;
  };
}

export function cancelledItem(index: number, url: string): BatchItem {
  return {
    index,
    url,
    status: 'cancelled',
    cause: 'cancelled',
    reason: 'the batch was cancelled before it ran',
  };
}

export function itemOf(index: number, url: string, result: ProbeJobResult): BatchItem {
  switch (result.outcome) {
    case 'report':
      return { index, url, status: 'completed', cause: result.report.verdict.cause, report: result.report };
    case 'refused':
      return {
        index,
        url,
        status: 'refused',
        cause: 'refused',
        reason: result.reason,
        address: result.address,
      };
    case 'invalid':
      return { index, url, status: 'failed', cause: 'failed', reason: result.message };
    default:
      return {
        index,
        url,
        status: 'failed',
        cause: 'failed',
        reason: `unexpected outcome ${result.outcome}`,
      };
  }
}

/**
 * A batch job that failed for good (retries spent, or its workers kept dying): its URLs without a result are
 * recorded failed, a chunk's as a URL's own job's.
 */
export function recordFinalFailure(record: ItemRecorder) {
  return async (job: { name: string; data: unknown }, reason: string): Promise<void> => {
    if (job.name === chunkJobName) return recordChunkFailure(record, job.data, reason);
    const data = job.data as ProbeJobData;
    if (!data.batch) return;
    await record(data.batch.id, {
      index: data.batch.index,
      url: data.url,
      status: 'failed',
      cause: 'failed',
      reason: `could not be probed: ${reason}`,
    });
  };
}

/**
 * The worker side of batches as the service wires it: the chunks' runner, the wrapper of a URL's own job, the
 * controls, the failure hook. Every probe of the lane, a chunk's or a URL job's, takes one of `concurrency` slots.
 */
export function createBatchWork(options: {
  store: BatchStore;
  record: ItemRecorder;
  /** The batch lane's probes at once in this process (BATCH_WORKER_CONCURRENCY). */
  concurrency: number;
  /** Where the batches' controls are kept, probed once for each batch. */
  controls: SharedControlSettings;
  /** Where the URLs of a batch with vantages fan out. */
  vantages?: VantageItemSettings;
  /** Checks a chunk's URL jobs at once before they run (the worker's markCheckedChunk under its policy). */
  checkJobs?: (jobs: readonly ProbeJobData[]) => void;
}) {
  const controls = createSharedControls(options.controls);
  const { store, record } = options;
  const vantageRunner = options.vantages ? createVantageItemRunner(options.vantages, record) : undefined;
  const slots = new ProbeSlots(options.concurrency);
  /** A URL's own job holds a slot like a chunk's URL; it is never refused one (its worker's close waits for it). */
  const never = new AbortController().signal;
  return {
    controlResultsFor: controls.controlResultsFor,
    chunkJobName,
    runChunk: createChunkRunner({
      store,
      record,
      slots,
      ...(vantageRunner ? { vantageRunner } : {}),
      ...(options.checkJobs ? { checkJobs: options.checkJobs } : {}),
    }),
    wrap: (runner: Runner): Runner => {
      const itemRunner = createBatchItemRunner({
        runner,
        store,
        record,
        ...(vantageRunner ? { vantageRunner } : {}),
      });
      return async (data, signal) => {
        await slots.acquire(never);
        try {
          return await itemRunner(data, signal);
        } finally {
          slots.release();
        }
      };
    },
    onFinalFailure: recordFinalFailure(options.record),
    close: () => controls.close(),
  };
}
