// The order a worker takes the monitor queue's jobs in, against a real redis-server: a one-off run (a re-check, a
// first run) queued behind shard ticks already waiting is taken before them, whether the ticks were delivered by
// hand or made by a shard's job scheduler; and a reconcile gives a scheduler of a release before this order (its
// ticks without the priority) the shard ticks' options, keeping its next tick.
import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reconcileSchedule } from '../../../src/monitor/schedule/reconcile.js';
import { ShardStore } from '../../../src/monitor/schedule/shard-store.js';
import { type Shard, shardIdOf, shardOf } from '../../../src/monitor/schedule/shards.js';
import {
  type MonitorJobData,
  type MonitorQueue,
  MonitorScheduler,
  monitorQueueName,
  monitorRunJobName,
  monitorShardJobName,
  runJobOptions,
  shardJobPriority,
} from '../../../src/monitor/scheduler.js';
import { MonitorStore } from '../../../src/monitor/store.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { eventually } from '../service/support.js';
import { monitorRecord } from './support.js';

let redis: TestRedis;
let client: Redis;
let queue: MonitorQueue;
let scheduler: MonitorScheduler;
let takerClient: Redis;
let taker: Worker<MonitorJobData>;

beforeEach(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  queue = new Queue(monitorQueueName('order'), { connection: client });
  scheduler = new MonitorScheduler(queue, new ShardStore(client, 'order:monitor'), 0);
  // A worker that takes one job when asked (no processor): the order of the queue, with nothing run.
  takerClient = new Redis(redis.url, { maxRetriesPerRequest: null });
  taker = new Worker<MonitorJobData>(queue.name, null, { connection: takerClient });
});

afterEach(async () => {
  await taker.close();
  await queue.close();
  takerClient.disconnect();
  client.disconnect();
  await redis.dispose();
});

/** Takes the next `count` jobs the way a worker does, completing each, and answers them in the order taken. */
async function takeJobs(count: number): Promise<Array<Job<MonitorJobData>>> {
  const taken: Array<Job<MonitorJobData>> = [];
  for (let index = 0; index < count; index += 1) {
    const job = (await taker.getNextJob('order-test')) as Job<MonitorJobData> | undefined;
    if (!job) throw new Error(`no job to take after ${taken.length}`);
    taken.push(job);
    await job.moveToCompleted('taken', 'order-test', false);
  }
  return taken;
}

const labelOf = (job: Job<MonitorJobData>) =>
  job.name === monitorShardJobName
    ? `tick ${(job.data as { shard: string }).shard}`
    : `${(job.data as { trigger: string }).trigger} ${(job.data as { monitorId: string }).monitorId}`;

describe('the monitor queue', () => {
  it('gives a re-check and a first run queued behind waiting shard ticks to a worker before the ticks', async () => {
    const shards: Shard[] = [0, 250, 500].map((offsetMs) => ({ everyMs: 60_000, offsetMs }));
    const tickMs = Date.now() - 60_000;
    for (const shard of shards) await scheduler.runTick(shard, tickMs + shard.offsetMs);
    // Queued after the ticks, as the re-checks of one tick's failures are (one addBulk) and a new monitor's first run.
    await scheduler.runSoon({ monitorId: 'failing', trigger: 'recheck', jobId: 'recheck-failing-1' });
    await scheduler.runNow('created', 'manual');
    expect(await queue.getJobCountByTypes('prioritized')).toBe(3);

    const taken = await takeJobs(5);
    expect(taken.map(labelOf)).toEqual([
      'recheck failing',
      'manual created',
      ...shards.map((shard) => `tick ${shardIdOf(shard)}`),
    ]);
  });

  it('gives the ticks a shard’s job scheduler makes the same place: after a one-off run queued later', async () => {
    // A 1 s shard, so its scheduler's first tick comes due within a second.
    const shard: Shard = { everyMs: 1000, offsetMs: 0 };
    await scheduler.startShard(shard, 0);
    const next = (await queue.getJobScheduler(shardIdOf(shard)))?.next ?? 0;
    const tickJobId = `repeat:${shardIdOf(shard)}:${next}`;
    // Once due, the tick is promoted to the shard ticks' place (BullMQ moves due jobs when a worker asks).
    await eventually(
      async () => {
        if (Date.now() < next) return undefined;
        await (await queue.getJob(tickJobId))?.promote().catch(() => undefined);
        return (await queue.getJobState(tickJobId)) === 'prioritized' ? true : undefined;
      },
      { what: 'the scheduler’s tick to be due and waiting', intervalMs: 50, attempts: 100 },
    );
    await scheduler.runSoon({ monitorId: 'failing', trigger: 'recheck' });

    const [first, second] = await takeJobs(2);
    expect(first && labelOf(first)).toBe('recheck failing');
    expect(second?.id).toBe(tickJobId);
    // The scheduler's next tick carries the priority as well.
    const following = (await queue.getJobScheduler(shardIdOf(shard)))?.next;
    expect((await queue.getJob(`repeat:${shardIdOf(shard)}:${following}`))?.opts.priority).toBe(
      shardJobPriority,
    );
    await scheduler.stopShard(shard);
  });

  it('gives a shard scheduler of a release before the priority the shard ticks’ options at a reconcile, keeping its next tick', async () => {
    const store = new MonitorStore(client, {
      keyPrefix: 'order:monitor',
      historyMaxAgeSeconds: 86_400,
      historyMaxEntries: 100,
    });
    const record = monitorRecord('5a0e0301-0000-4000-8000-000000000001', { url: 'http://127.0.0.1:9/' });
    await store.putMonitor(record);
    await scheduler.shards.place(record.id, shardOf(record));
    const shard = shardOf(record);
    const id = shardIdOf(shard);
    // What the release before wrote: the same schedule, its jobs with the run options alone.
    const startDate = Date.now() + 3_600_000;
    await queue.upsertJobScheduler(
      id,
      { every: shard.everyMs, startDate },
      { name: monitorShardJobName, data: { shard: id }, opts: runJobOptions },
    );
    const before = await queue.getJobScheduler(id);
    expect(before?.template?.opts?.priority).toBeUndefined();

    const outcome = await reconcileSchedule({ store, scheduler }, { isFull: true });
    expect(outcome.repairs).toEqual([{ shard: id, fault: 'options-outdated', staleTickMs: before?.next }]);
    const after = await queue.getJobScheduler(id);
    expect(after?.template?.opts?.priority).toBe(shardJobPriority);
    expect(after?.next).toBe(before?.next);
    const nextJob = await queue.getJob(`repeat:${id}:${after?.next}`);
    expect(nextJob?.opts.priority).toBe(shardJobPriority);
    expect(await queue.getJobState(`repeat:${id}:${after?.next}`)).toBe('delayed');
    // Nothing left to change: the next pass repairs nothing.
    expect((await reconcileSchedule({ store, scheduler }, { isFull: true })).repairs).toEqual([]);
  });

  it('keeps one-off runs off the prioritized set: they are plain waiting jobs', async () => {
    await scheduler.runNow('created', 'manual');
    const [job] = await queue.getJobs(['wait']);
    expect(job?.name).toBe(monitorRunJobName);
    expect(job?.opts.priority ?? 0).toBe(0);
  });
});
