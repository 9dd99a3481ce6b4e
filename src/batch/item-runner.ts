// The worker's side of a batch: before a URL is probed, its batch is asked whether it is still wanted; after, its
// result is recorded once; the batch's controls are probed once for the batch (shared-controls.ts), not per URL.
import type { ProbeJobData, ProbeJobResult } from '../requests/probe-job.js';
import type { BatchItem } from './item.js';
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
 * Wraps the probe runner of the batch lane. An item whose batch was cancelled is recorded cancelled without a
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
      await record(batch.id, {
        index: batch.index,
        url: data.url,
        status: 'failed',
        cause: 'failed',
        reason: 'this worker cannot fan out to vantages',
      });
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

/** A batch item whose job failed for good (retries spent, or its workers kept dying): recorded failed. */
export function recordFinalFailure(record: ItemRecorder) {
  return async (data: ProbeJobData, reason: string): Promise<void> => {
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

/** The worker side of batches as the service wires it: the runner's wrapper, the controls, the failure hook. */
export function createBatchWork(options: {
  store: BatchStore;
  record: ItemRecorder;
  /** Where the batches' controls are kept, probed once for each batch. */
  controls: SharedControlSettings;
  /** Where the URLs of a batch with vantages fan out. */
  vantages?: VantageItemSettings;
}) {
  const controls = createSharedControls(options.controls);
  const { store, record } = options;
  const vantageRunner = options.vantages ? createVantageItemRunner(options.vantages, record) : undefined;
  return {
    controlResultsFor: controls.controlResultsFor,
    wrap: (runner: Runner) =>
      createBatchItemRunner({ runner, store, record, ...(vantageRunner ? { vantageRunner } : {}) }),
    onFinalFailure: recordFinalFailure(options.record),
    close: () => controls.close(),
  };
}
