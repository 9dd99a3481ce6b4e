// The BullMQ processor: a job's data in, the engine's report (or a final refusal) out.
import { InputError, type ProbeOptions, probe, TargetRefusedError } from '../engine.js';
import { fieldErrorsOf } from '../requests/field-errors.js';
import type { ProbeJobData, ProbeJobResult } from '../requests/probe-job.js';
import { type ProbeDefaults, probeOptionsFrom } from '../requests/probe-options.js';
import { probeJobSchema } from '../requests/schemas.js';
import type { AddressPolicy } from '../safety/address-policy.js';
import { checkTargetUrl, refuseTargets } from '../safety/target-check.js';
import type { ControlResult } from '../types.js';

/**
 * How a caller with many probes in flight stops them without an AbortSignal each (AbortFanOut.register): called
 * with the probe's abort, it answers what to call when the probe ends. The engine's `registerStop`.
 */
export type StopRegistration = (abort: (reason: unknown) => void) => () => void;

/** Runs one job; stopped by `signal`, or through `registerStop` (a chunk's URLs, which share one stop). */
export type ProbeRunner = (
  data: ProbeJobData,
  signal?: AbortSignal,
  registerStop?: StopRegistration,
) => Promise<ProbeJobResult>;

/** A probe aborted by our side (the worker closing) before it ended: it has no answer, and is run again. */
export class ProbeInterruptedError extends Error {
  override name = 'ProbeInterruptedError';
  constructor() {
    super('the probe was cut short by the worker closing');
  }
}

/**
 * Runs one probe. The target failing is a report; a refused address or bad input is a final answer.
 * Anything else thrown is our own failure and propagates, so BullMQ retries the job with backoff.
 */
export function createProbeRunner(options: {
  defaults: ProbeDefaults;
  isAddressAllowed: AddressPolicy;
  /**
   * Controls already probed for this job (a batch's, probed once for all its URLs), or undefined to let the
   * engine probe the job's controls itself.
   */
  controlResultsFor?: (data: ProbeJobData, options: ProbeOptions) => Promise<ControlResult[] | undefined>;
}): ProbeRunner {
  const { defaults, isAddressAllowed, controlResultsFor } = options;
  return async (data, signal, registerStop) => {
    // A chunk's URL checked with its chunk (markCheckedChunk) under this policy is not parsed a second time.
    const refusal =
      checkedJobs.get(data) === isAddressAllowed ? undefined : refuseJob(data, isAddressAllowed);
    if (refusal) return refusal;
    // A vantage that took its part up after the comparison gave up on it (it was down): the answer is no
    // longer wanted, and probing now would only send the target a stray request.
    if (data.notAfterMs !== undefined && Date.now() > data.notAfterMs) return { outcome: 'expired' };
    // Stopped through registerStop: the caller's one stop for its probes (the chunk's job signal) reached this one.
    let isStopped = false;
    try {
      const probeOptions: ProbeOptions = {
        ...probeOptionsFrom(data, defaults),
        isAddressAllowed,
        ...(signal ? { signal } : {}),
        ...(registerStop
          ? {
              registerStop: (abort: (reason: unknown) => void) =>
                registerStop((reason) => {
                  isStopped = true;
                  abort(reason);
                }),
            }
          : {}),
      };
      const controlResults = await controlResultsFor?.(data, probeOptions);
      const report = await probe(controlResults ? { ...probeOptions, controlResults } : probeOptions);
      // Cut short by the job's signal (the worker's shutdown deadline), the report tells of our abort, not of the
      // target (a timeout it never had): our own failure, so the probe runs again on a worker that is not closing.
      if (signal?.aborted || isStopped) throw new ProbeInterruptedError();
      return { outcome: 'report', report };
    } catch (error) {
      if (error instanceof TargetRefusedError) {
        return { outcome: 'refused', address: error.address, reason: error.reason };
      }
      if (error instanceof InputError)
        return { outcome: 'invalid', field: error.field, message: error.message };
      throw error;
    }
  };
}

/** Jobs of a chunk that passed markCheckedChunk, with the policy they passed under. */
const checkedJobs = new WeakMap<ProbeJobData, AddressPolicy>();
/** A job's URL alone, checked as the whole job's schema checks it (same fields, same messages). */
const jobUrlSchema = probeJobSchema.pick({ url: true });

/**
 * The jobs of one chunk of a batch (built by its chunk from the same options and batch, one URL each), checked at
 * the cost of about one: the first job that passes the whole schema and the address policy vouches for the options
 * it shares with the jobs after it, and a job after it that is its twin (isTwinOf: every field but its URL and its
 * place in the batch the very same value) has only its URL checked; a job that is not its twin is checked whole.
 * The jobs that pass are marked, so the runner, given one of these very objects under the same policy, does not
 * parse it again (each URL's whole job parsed again was about 2 % of a batch's CPU). A job that does not pass is
 * left unmarked: the runner checks it in full and answers as it always has.
 */
export function markCheckedChunk(jobs: readonly ProbeJobData[], policy: AddressPolicy): void {
  let model: { job: ProbeJobData; fieldCount: number; batchFieldCount: number } | undefined;
  for (const job of jobs) {
    const isPassed =
      model && isTwinOf(job, model)
        ? jobUrlSchema.safeParse({ url: job.url }).success && !checkTargetUrl(job.url, policy, 'url')
        : !refuseJob(job, policy);
    if (!isPassed) continue;
    checkedJobs.set(job, policy);
    model ??= { job, fieldCount: fieldCountOf(job), batchFieldCount: fieldCountOf(job.batch) };
  }
}

/**
 * Whether `job` holds what the model job vouched for: the same fields, each the very same value (by identity: a
 * chunk's jobs share its options object's arrays), its URL and its place in the batch apart, and that place a
 * whole number. A loop over a handful of fields, no parse.
 */
function isTwinOf(
  job: ProbeJobData,
  model: { job: ProbeJobData; fieldCount: number; batchFieldCount: number },
): boolean {
  const { batch } = job;
  const modelBatch = model.job.batch;
  if (!batch || !modelBatch || batch.id !== modelBatch.id || batch.vantages !== modelBatch.vantages)
    return false;
  if (!Number.isSafeInteger(batch.index) || batch.index < 0) return false;
  if (fieldCountOf(batch) !== model.batchFieldCount || fieldCountOf(job) !== model.fieldCount) return false;
  const fields = job as unknown as Record<string, unknown>;
  const modelFields = model.job as unknown as Record<string, unknown>;
  for (const field in fields) {
    if (field === 'url' || field === 'batch') continue;
    if (fields[field] !== modelFields[field] || !Object.hasOwn(modelFields, field)) return false;
  }
  return true;
}

function fieldCountOf(value: object | undefined): number {
  let count = 0;
  for (const _field in value) count += 1;
  return count;
}

/**
 * Job data is checked again here with the API's schema and address policy: the API is not the only writer of
 * the queue (the dashboard can add jobs, and so can anything holding the Redis password). A job refused here
 * ends with that answer and is not retried.
 */
export function refuseJob(data: unknown, policy: AddressPolicy): ProbeJobResult | undefined {
  const parsed = probeJobSchema.safeParse(data);
  if (!parsed.success) {
    const [first] = fieldErrorsOf(parsed.error);
    return {
      outcome: 'invalid',
      field: first?.field ?? 'body',
      message: first?.message ?? 'invalid job data',
    };
  }
  const refusal = refuseTargets(parsed.data, policy);
  if (!refusal) return undefined;
  return { outcome: 'refused', field: refusal.field, address: refusal.address, reason: refusal.reason };
}
