// The worker's side of a chunk of a batch's URLs: one claim for all of them, then each URL without a result run in
// one of the process's probe slots and its result recorded (grouped with others by the recorder). A cancel, learnt
// from a write's answer or a look at the batch, stops the chunk taking new URLs; those left are recorded cancelled.
import { UnrecoverableError } from 'bullmq';
import { AbortFanOut } from '../abort-fan-out.js';
import type { ProbeJobData, ProbeJobResult } from '../requests/probe-job.js';
import type { ProbeRunner } from '../worker/processor.js';
import type { ChunkEnd } from '../worker/worker.js';
import type { BatchItem } from './item.js';
import { cancelledItem, itemOf } from './item-runner.js';
import { type ChunkJobData, chunkItemJob, chunkJobSchema } from './jobs.js';
import type { ProbeSlots } from './probe-slots.js';
import type { ItemRecorder } from './recorder.js';
import type { BatchState, BatchStore } from './store.js';
import type { VantageItemRunner } from './vantage-items.js';

type Runner = (data: ProbeJobData, signal?: AbortSignal) => Promise<ProbeJobResult>;

export interface ChunkRunContext {
  /** Runs one URL (the probe runner, measured by the worker), stopped through its `registerStop`. */
  run: ProbeRunner;
  /** Measures another runner of one URL as `run` is (a URL fanned out to vantages). */
  measure: (run: Runner) => Runner;
  /** BullMQ's abort of the job: the worker's shutdown deadline. */
  signal?: AbortSignal;
  /** Aborted when the worker starts closing: no new URL starts. */
  closing: AbortSignal;
}

/** How old the last look at a batch's state may be when a URL of it starts; a write's answer is a look too. */
const stateMaxAgeMs = 500;
/** Batches whose last looked-at state a process keeps. */
const statesKept = 64;

/**
 * The batch states a worker process has seen, with when: a chunk asks before each URL, and Redis is asked only
 * when the last answer (a claim's, a write's or a look's) is older than stateMaxAgeMs.
 */
class BatchStates {
  readonly #seen = new Map<string, { state: BatchState | 'unknown'; atMs: number }>();
  readonly #looking = new Map<string, Promise<BatchState | 'unknown'>>();

  constructor(private readonly store: BatchStore) {}

  note(id: string, state: BatchState | 'unknown'): void {
    this.#seen.delete(id);
    this.#seen.set(id, { state, atMs: Date.now() });
    for (const oldId of this.#seen.keys()) {
      if (this.#seen.size <= statesKept) break;
      this.#seen.delete(oldId);
    }
  }

  /** The state last seen, however old: a cancel seen once is final. */
  last(id: string): BatchState | 'unknown' | undefined {
    return this.#seen.get(id)?.state;
  }

  current(id: string): Promise<BatchState | 'unknown'> {
    const seen = this.#seen.get(id);
    if (seen && Date.now() - seen.atMs < stateMaxAgeMs) return Promise.resolve(seen.state);
    let looking = this.#looking.get(id);
    if (!looking) {
      looking = this.store
        .stateOf(id)
        .then((state) => {
          this.note(id, state);
          return state;
        })
        .finally(() => this.#looking.delete(id));
      this.#looking.set(id, looking);
    }
    return looking;
  }
}

export type ChunkRunner = (data: unknown, context: ChunkRunContext) => Promise<ChunkEnd>;

/**
 * Runs a chunk. A URL that has a result already (its chunk ran before, on a worker that died) is not probed again;
 * the batch keeps one result per URL whoever records first. A URL whose run throws (our own failure) leaves the
 * chunk to throw once the others have ended, so BullMQ retries it, and the retry runs only the URLs still without
 * a result. With vantages, a URL fans out and its comparison is recorded by the vantage runner.
 */
export function createChunkRunner(options: {
  store: BatchStore;
  record: ItemRecorder;
  slots: ProbeSlots;
  vantageRunner?: VantageItemRunner;
  /**
   * Checks the chunk's URL jobs before they run, all at once (the worker's markCheckedChunk: their shared options
   * once, then each URL), so the runner need not check each whole job again. Without it, the runner checks each.
   */
  checkJobs?: (jobs: readonly ProbeJobData[]) => void;
}): ChunkRunner {
  const { store, record, slots, vantageRunner, checkJobs } = options;
  const states = new BatchStates(store);
  return async (data, context) => {
    const parsed = chunkJobSchema.safeParse(data);
    // Not written by the API (the API is not the queue's only writer): nothing to run, no batch to tell.
    if (!parsed.success) throw new UnrecoverableError('malformed chunk job data');
    const chunk = parsed.data as ChunkJobData;
    const { id, start } = chunk.batch;
    const claim = await store.claimChunk(id, start, chunk.urls.length);
    if (claim.state === 'unknown') return { kind: 'finished', ran: 0 };
    states.note(id, claim.state);
    const jobs = chunk.urls.map((_url, position) => chunkItemJob(chunk, position));
    checkJobs?.(jobs.filter((_job, position) => !claim.isDone[position]));
    const recordItem = async (item: BatchItem) => {
      const outcome = await record(id, item);
      states.note(id, outcome.kind === 'unknown' ? 'unknown' : outcome.state);
    };
    let ran = 0;
    let isInterrupted = false;
    let failure: { error: unknown } | undefined;
    // URLs waiting for a slot behind slow probes see no write of their batch for as long: a look every
    // stateMaxAgeMs (one per batch and process, shared by its chunks) lets a cancel reach them without a slot.
    const isOver = new AbortController();
    const stopWaiting = AbortSignal.any([context.closing, isOver.signal]);
    // The job's signal carries one listener for all the chunk's probes, which each register their stop with it
    // (the engine's registerStop): 32 probes listening on it themselves warned of a listener leak once per chunk
    // and made every add and remove a walk of the others, and a signal of their own each (an AbortController,
    // itself listened to) was 155-171 ms of serve's main thread per 10,000 URLs.
    const inFlight = context.signal ? AbortFanOut.of(context.signal) : undefined;
    const watch = setInterval(() => {
      states.current(id).then(
        (state) => {
          if (state !== 'running') isOver.abort();
        },
        () => undefined,
      );
    }, stateMaxAgeMs);

    const runItem = async (position: number) => {
      const job = jobs[position] as ProbeJobData;
      const index = start + position;
      // Cancelled already: recorded without waiting for a slot.
      if (states.last(id) === 'cancelled') return recordItem(cancelledItem(index, job.url));
      if (!(await slots.acquire(stopWaiting))) {
        if (context.closing.aborted) isInterrupted = true;
        else if (states.last(id) === 'cancelled') await recordItem(cancelledItem(index, job.url));
        return;
      }
      let item: BatchItem | undefined;
      try {
        const state = await states.current(id);
        if (state === 'unknown') return;
        if (state === 'cancelled') item = cancelledItem(index, job.url);
        else if (chunk.batch.vantages) {
          ran += 1;
          const batch = { id, index, vantages: chunk.batch.vantages };
          if (vantageRunner) {
            // A fan-out waits on a signal (its parts' results): one of its own, stopped with the job's.
            const fanOut = context.measure((data, signal) => vantageRunner(data, batch, signal));
            await (inFlight ? inFlight.run((signal) => fanOut(job, signal)) : fanOut(job));
          } else item = noFanOutItem(index, job.url);
        } else {
          ran += 1;
          item = itemOf(index, job.url, await context.run(job, undefined, inFlight?.register));
        }
      } finally {
        slots.release();
      }
      if (item) await recordItem(item);
    };

    try {
      await Promise.all(
        chunk.urls.map(async (_url, position) => {
          if (claim.isDone[position]) return;
          try {
            await runItem(position);
          } catch (error) {
            failure ??= { error };
          }
        }),
      );
    } finally {
      clearInterval(watch);
    }
    // Closing: probes cut short at the deadline throw too; the chunk goes back to wait, not toward failing.
    if (isInterrupted || (failure && context.closing.aborted)) return { kind: 'interrupted' };
    if (failure) throw failure.error;
    return { kind: 'finished', ran };
  };
}

/** A chunk that failed for good (retries spent, or its workers kept dying): its URLs without a result, failed. */
export async function recordChunkFailure(record: ItemRecorder, data: unknown, reason: string): Promise<void> {
  const parsed = chunkJobSchema.safeParse(data);
  if (!parsed.success) return;
  const chunk = parsed.data as ChunkJobData;
  // The URLs recorded already keep their result: the batch's bitmap drops these.
  await Promise.all(
    chunk.urls.map((url, position) =>
      record(chunk.batch.id, {
        index: chunk.batch.start + position,
        url,
        status: 'failed',
        cause: 'failed',
        reason: `could not be probed: ${reason}`,
      }),
    ),
  );
}

export function noFanOutItem(index: number, url: string): BatchItem {
  return { index, url, status: 'failed', cause: 'failed', reason: 'this worker cannot fan out to vantages' };
}
