// The probe job: the request as queued for a worker, what a worker returns, and how BullMQ keeps and retries it.
import type { JobsOptions } from 'bullmq';
import type { ContentExpectations, MultiVantageReport, Report } from '../types.js';

/** The request as validated by the API; defaults are applied by the worker that runs it. */
export interface ProbeJobData {
  url: string;
  resolvers?: string[];
  controls?: string[];
  timeoutMs?: number;
  /** A vantage's part of a fan-out: not run after this time (epoch ms), when the comparison is over. */
  notAfterMs?: number;
  /**
   * A vantage's part of a fan-out: where it writes its result for the comparison (src/vantages/fan-out-parts), and
   * for a URL of a batch, the batch's id: the vantage probes the batch's controls once for all its parts.
   */
  fanOut?: { id: string; vantage: string; size: number; batchId?: string };
  /**
   * One URL of a batch (POST /batches): the batch's id and the URL's place in it, where its result goes; with
   * vantages, the URL is probed from each of them and their reports compared.
   */
  batch?: { id: string; index: number; vantages?: Array<{ name: string; labels: Record<string, string> }> };
  /** A monitor's content checks, judged by each vantage that probes it. */
  expect?: ContentExpectations;
  /** A monitor's absolute slowness threshold (see probeOptionsFrom), for each vantage too. */
  slowFirstByteMs?: number;
}

/**
 * A finished job always carries one of these. A target that fails is a `report` (the verdict says why);
 * `refused` and `invalid` are final answers too, never retried.
 */
export type ProbeJobResult =
  | { outcome: 'report'; report: Report }
  | { outcome: 'refused'; address: string; reason: string; field?: string }
  | { outcome: 'invalid'; field: string; message: string }
  /** A fan-out's part that a worker took up only after the comparison was over: not run. */
  | { outcome: 'expired' }
  /** A fan-out's parent: every vantage's part and the verdict that compares them. */
  | { outcome: 'vantages'; report: MultiVantageReport };

export const probeJobName = 'probe';

export function probeJobOptions(settings: {
  attempts: number;
  backoffMs: number;
  resultTtlSeconds: number;
  resultMaxCount: number;
}): JobsOptions {
  return {
    // Retries are for our own infrastructure failing (Redis blip, a worker crash); the engine never throws for
    // the target's failure, so these never repeat a probe whose answer was "the site is down".
    attempts: settings.attempts,
    backoff: { type: 'exponential', delay: settings.backoffMs },
    // Kept by age and by count, whichever comes first, so a flood of submissions cannot fill Redis.
    removeOnComplete: { age: settings.resultTtlSeconds, count: settings.resultMaxCount },
    removeOnFail: { age: settings.resultTtlSeconds, count: settings.resultMaxCount },
  };
}
