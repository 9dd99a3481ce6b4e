// A batch URL with vantages: fanned out to the batch's vantages as POST /probe with `vantages` is (a comparison
// delayed to the deadline, one part per vantage), and the comparison recorded as the URL's one result. The batch
// worker holds the URL's slot until its comparison has ended, so the fan-outs in flight are bounded by the batch
// lane's concurrency, and each part's deadline counts from when its URL was taken, not from the submission.
import type { ProbeJobData, ProbeJobResult } from '../requests/probe-job.js';
import {
  comparedReport,
  type FanOutSubmitter,
  fanOutGraceMs,
  type NamedVantage,
} from '../vantages/fan-out.js';
import { itemJobId } from './jobs.js';
import type { ItemRecorder } from './recorder.js';

/** How long past its deadline a comparison may still end: its retries (3, backoff from 500 ms) and queueing. */
const compareSlackMs = 30_000;
/** The longest pause between two looks at a comparison still waiting for its parts. */
const maxPollMs = 500;

export interface VantageItemSettings {
  fanOut: FanOutSubmitter;
  /** The names of the vantages live now (a recent read): one that is not gets no part, and is lost at once. */
  liveVantageNames: () => Promise<string[]>;
  defaultTimeoutMs: number;
  /** How long an ended comparison is kept should its worker die before recording it (the batch's result TTL). */
  keptSeconds: number;
}

export type VantageItemRunner = (
  data: ProbeJobData,
  batch: { id: string; index: number; vantages: NamedVantage[] },
  signal?: AbortSignal,
) => Promise<ProbeJobResult>;

/**
 * Runs one URL of a batch with vantages, and records its result. A retry (its worker died while waiting) finds the
 * comparison it had sent, and waits for it rather than probing again; the batch keeps one result per URL whoever
 * records first.
 */
export function createVantageItemRunner(
  settings: VantageItemSettings,
  record: ItemRecorder,
): VantageItemRunner {
  const { fanOut } = settings;
  const compareQueue = fanOut.compareQueue;
  return async (data, batch, signal) => {
    const id = itemJobId(batch.id, batch.index);
    const timeoutMs = data.timeoutMs ?? settings.defaultTimeoutMs;
    if ((await compareQueue.getJobState(id)) === 'unknown') {
      const live = new Set(await settings.liveVantageNames());
      const absent = batch.vantages
        .filter((vantage) => !live.has(vantage.name))
        .map((vantage) => vantage.name);
      if (absent.length === batch.vantages.length) {
        // No vantage to send a part to: compared at once, every vantage lost, rather than waiting a deadline.
        const report = comparedReport(
          { url: data.url, vantages: batch.vantages, submittedAtMs: Date.now(), absent },
          new Map(),
        );
        return recordCompared(record, batch, data.url, { outcome: 'vantages', report });
      }
      const { batch: _batch, ...request } = data;
      await fanOut.submit({
        id,
        request,
        vantages: batch.vantages,
        absent,
        timeoutMs,
        batchId: batch.id,
        jobOptions: {
          removeOnComplete: { age: settings.keptSeconds },
          removeOnFail: { age: settings.keptSeconds },
        },
      });
    }
    const giveUpAtMs = Date.now() + timeoutMs + fanOutGraceMs + compareSlackMs;
    for (let pauseMs = 20; ; pauseMs = Math.min(pauseMs * 2, maxPollMs)) {
      await pause(pauseMs, signal);
      const state = await compareQueue.getJobState(id);
      if (state === 'completed') {
        const job = await compareQueue.getJob(id);
        const result = job?.returnvalue as ProbeJobResult | undefined;
        if (result?.outcome !== 'vantages') break;
        await recordCompared(record, batch, data.url, result);
        // Recorded: the batch holds the report now, so the comparison's own copy goes.
        await compareQueue.remove(id).catch(() => undefined);
        return result;
      }
      if (state === 'failed') {
        const job = await compareQueue.getJob(id);
        await recordFailed(
          record,
          batch,
          data.url,
          `its comparison failed: ${job?.failedReason ?? 'unknown'}`,
        );
        return { outcome: 'expired' };
      }
      if (state === 'unknown' || Date.now() > giveUpAtMs) break;
    }
    await compareQueue.remove(id).catch(() => undefined);
    await recordFailed(record, batch, data.url, 'its comparison did not end by its deadline');
    return { outcome: 'expired' };
  };
}

async function recordCompared(
  record: ItemRecorder,
  batch: { id: string; index: number },
  url: string,
  result: Extract<ProbeJobResult, { outcome: 'vantages' }>,
): Promise<ProbeJobResult> {
  const { report } = result;
  await record(batch.id, {
    index: batch.index,
    url,
    status: 'completed',
    cause: report.verdict.cause,
    report,
  });
  return result;
}

async function recordFailed(
  record: ItemRecorder,
  batch: { id: string; index: number },
  url: string,
  reason: string,
): Promise<void> {
  await record(batch.id, { index: batch.index, url, status: 'failed', cause: 'failed', reason });
}

/** Waits; a worker shutting down aborts the wait, and the URL's job is retried (it finds its comparison). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new Error('the batch worker is shutting down'));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error('the batch worker is shutting down'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
