// The batch store's grouped writes and chunk claims against a real redis-server: a group keeps each URL's first
// result only, tells the batch's finish once, answers the batch's state; a chunk's claim answers which of its URLs
// have a result; the recorder writes the items of one batch that end together with one script call; a chunk's URLs
// are each stopped through the job's one listener.
import { getEventListeners } from 'node:events';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChunkRunner } from '../../../src/batch/chunk-runner.js';
import type { BatchItem } from '../../../src/batch/item.js';
import { chunkJobSchema } from '../../../src/batch/jobs.js';
import { batchMetricsOf } from '../../../src/batch/metrics.js';
import { ProbeSlots } from '../../../src/batch/probe-slots.js';
import { createItemRecorder } from '../../../src/batch/recorder.js';
import { BatchStore } from '../../../src/batch/store.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { listenerLeakWarnings, warningsDuring } from '../../support/warnings.js';

let redis: TestRedis;
let client: Redis;
let store: BatchStore;
let nextId = 0;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { lazyConnect: false });
  store = new BatchStore(client, 'bstore', 3600);
});

afterAll(async () => {
  client?.disconnect();
  await redis?.dispose();
});

async function newBatch(total: number): Promise<string> {
  nextId += 1;
  const id = `00000000-0000-4000-8000-${String(nextId).padStart(12, '0')}`;
  await store.create({
    id,
    clientId: 'client-a',
    urls: Array.from({ length: total }, (_, index) => `http://127.0.0.1/${index}`),
    options: {},
    badLines: [],
    createdAtMs: Date.now(),
    chunkSize: 4,
  });
  return id;
}

function failed(index: number, reason = 'first'): BatchItem {
  return { index, url: `http://127.0.0.1/${index}`, status: 'failed', cause: 'failed', reason };
}

function cancelled(index: number): BatchItem {
  return { index, url: `http://127.0.0.1/${index}`, status: 'cancelled', cause: 'cancelled', reason: 'x' };
}

/** Calls of the batch scripts (EVALSHA, and EVAL the first time) since the last reset. */
async function scriptCalls(): Promise<number> {
  const stats = await client.info('commandstats');
  return [...stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce(
    (sum, match) => sum + Number(match[1]),
    0,
  );
}

describe('BatchStore.recordMany', () => {
  it('keeps the first result of each URL, also within one group, and counts only those', async () => {
    const id = await newBatch(4);
    const first = await store.recordMany(id, [failed(0), failed(1), failed(0, 'again')]);
    expect(first.map((outcome) => outcome.kind)).toEqual(['recorded', 'recorded', 'duplicate']);
    const second = await store.recordMany(id, [failed(1, 'late'), cancelled(2)]);
    expect(second.map((outcome) => outcome.kind)).toEqual(['duplicate', 'recorded']);
    const batch = await store.read(id);
    expect(batch).toMatchObject({
      done: 3,
      state: 'running',
      byStatus: { failed: 2, cancelled: 1 },
      byCause: { failed: 2, cancelled: 1 },
      chunkSize: 4,
    });
    const results = (await store.resultPage(id, 0, 10)).map((text) => JSON.parse(text));
    expect(results.map((item) => [item.index, item.reason])).toEqual([
      [0, 'first'],
      [1, 'first'],
      [2, 'x'],
    ]);
  });

  it('finishes the batch with its last URL, telling the finish once, with the state it leaves', async () => {
    const id = await newBatch(3);
    const outcomes = await store.recordMany(id, [failed(0), failed(1), failed(2), failed(1)]);
    expect(outcomes).toEqual([
      { kind: 'recorded', isBatchFinished: false, clientId: 'client-a', state: 'completed' },
      { kind: 'recorded', isBatchFinished: false, clientId: 'client-a', state: 'completed' },
      { kind: 'recorded', isBatchFinished: true, clientId: 'client-a', state: 'completed' },
      { kind: 'duplicate', state: 'completed' },
    ]);
    expect((await store.read(id))?.finishedAtMs).toBeGreaterThan(0);
  });

  it('answers a cancelled batch’s state with each write, and unknown for a batch that is gone', async () => {
    const id = await newBatch(3);
    await store.cancel(id);
    expect(await store.recordMany(id, [cancelled(0)])).toEqual([
      { kind: 'recorded', isBatchFinished: false, clientId: 'client-a', state: 'cancelled' },
    ]);
    expect(await store.stateOf(id)).toBe('cancelled');
    const gone = '00000000-0000-4000-8000-ffffffffffff';
    expect(await store.recordMany(gone, [failed(0)])).toEqual([{ kind: 'unknown' }]);
    expect(await store.stateOf(gone)).toBe('unknown');
  });
});

describe('BatchStore.claimChunk', () => {
  it('answers the batch’s state and which of the chunk’s URLs have a result, and marks the batch started', async () => {
    const id = await newBatch(10);
    await store.recordMany(id, [failed(4), failed(6)]);
    expect((await store.read(id))?.startedAtMs).toBeUndefined();
    expect(await store.claimChunk(id, 4, 4)).toEqual({
      state: 'running',
      isDone: [true, false, true, false],
    });
    expect((await store.read(id))?.startedAtMs).toBeGreaterThan(0);
    expect(await store.claimChunk('00000000-0000-4000-8000-fffffffffffe', 0, 2)).toEqual({
      state: 'unknown',
      isDone: [false, false],
    });
  });
});

describe('the item recorder', () => {
  it('writes the items of one batch that end together with one script call, each told its own outcome', async () => {
    const id = await newBatch(50);
    const record = createItemRecorder(store, batchMetricsOf(new Registry()));
    await record(id, failed(0)); // the script is loaded once, before the count starts
    await client.config('RESETSTAT');
    const outcomes = await Promise.all(
      Array.from({ length: 49 }, (_, position) => record(id, failed(position + 1))),
    );
    expect(await scriptCalls()).toBe(1);
    expect(outcomes.filter((outcome) => outcome.kind === 'recorded')).toHaveLength(49);
    expect(outcomes.filter((outcome) => outcome.kind === 'recorded' && outcome.isBatchFinished)).toHaveLength(
      1,
    );
    expect(await record(id, failed(3, 'again'))).toEqual({ kind: 'duplicate', state: 'completed' });
    expect(await store.read(id)).toMatchObject({ done: 50, state: 'completed' });
  });
});

describe('the chunk runner', () => {
  it('stops every URL’s probe through the job’s one listener, with no signal of their own and no listener warning', async () => {
    const total = 32;
    const id = await newBatch(total);
    const record = createItemRecorder(store, batchMetricsOf(new Registry()));
    const runChunk = createChunkRunner({ store, record, slots: new ProbeSlots(total) });
    const job = new AbortController();
    let registered = 0;
    let stopped = 0;
    let released = 0;
    let jobListenersSeen = 0;
    let allStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      allStarted = resolve;
    });
    const data = chunkJobSchema.parse({
      batch: { id, start: 0 },
      urls: Array.from({ length: total }, (_, index) => `http://127.0.0.1/${index}`),
      options: {},
    });
    const { value: end, warnings } = await warningsDuring(async () => {
      const ending = runChunk(data, {
        // A probe as the engine's: it registers its stop until it ends, and answers once stopped.
        run: (_job, signal, registerStop) =>
          new Promise((resolve) => {
            if (signal || !registerStop) throw new Error('a chunk’s URL ran with a signal of its own');
            const unregister = registerStop(() => {
              stopped += 1;
              unregister();
              released += 1;
              resolve({ outcome: 'invalid', field: 'url', message: 'stopped' });
            });
            registered += 1;
            jobListenersSeen = Math.max(jobListenersSeen, getEventListeners(job.signal, 'abort').length);
            if (registered === total) allStarted();
          }),
        measure: (run) => run,
        signal: job.signal,
        closing: new AbortController().signal,
      });
      await started;
      job.abort(new Error('shutdown deadline reached'));
      return ending;
    });
    expect(end).toEqual({ kind: 'finished', ran: total });
    expect({ registered, stopped, released }).toEqual({ registered: total, stopped: total, released: total });
    expect(jobListenersSeen).toBe(1);
    expect(getEventListeners(job.signal, 'abort')).toHaveLength(0);
    expect(listenerLeakWarnings(warnings)).toEqual([]);
    expect(await store.read(id)).toMatchObject({ done: total, state: 'completed' });
  });
});
