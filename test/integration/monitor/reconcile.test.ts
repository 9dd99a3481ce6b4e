// The schedule's reconcile against a real redis-server: with every record in its shard and none changed apart
// from its membership since the last full pass it reads no record (a count per shard), and a record written
// apart from its membership (a crash between the two steps), a membership lost or one left behind by other means
// sends it back to the records, which it repairs. A shard scheduler of a release before the ticks' priority
// that is broken as well is replaced as a broken one, not upserted with its stale tick.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMonitors } from '../../../src/monitor/bulk-create.js';
import { reconcileSchedule, type ScheduleFault } from '../../../src/monitor/schedule/reconcile.js';
import { ShardStore } from '../../../src/monitor/schedule/shard-store.js';
import { nextTickAtOrAfter, shardIdOf, shardOf } from '../../../src/monitor/schedule/shards.js';
import {
  type MonitorQueue,
  MonitorScheduler,
  monitorQueueName,
  monitorShardJobName,
  runJobOptions,
  shardJobPriority,
} from '../../../src/monitor/scheduler.js';
import { MonitorStore } from '../../../src/monitor/store.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { type MonitorHarness, monitorRecord, startMonitorHarness } from './support.js';

let redis: TestRedis;
let harness: MonitorHarness;

beforeAll(async () => {
  redis = await startRedis();
  // The workers' own reconcile waits an hour: the test runs every pass itself.
  harness = await startMonitorHarness({ redisUrl: redis.url, env: { MONITOR_RECONCILE_SECONDS: '3600' } });
});

afterAll(async () => {
  await harness?.close();
  await redis?.dispose();
});

const idOf = (index: number) => `5a0e0101-0000-4000-8000-${String(index).padStart(12, '0')}`;

describe('the schedule reconcile', () => {
  it('reads no record while the shards hold every record and none changed apart from its membership, and repairs what did', async () => {
    const deps = { store: harness.workers.store, scheduler: harness.workers.scheduler };
    const { store, scheduler } = deps;
    const records = Array.from({ length: 300 }, (_, index) =>
      monitorRecord(idOf(index), { intervalSeconds: 60 }),
    );
    // A full pass (as a worker's first) reads every record, none yet, and marks the change count it read.
    expect(await reconcileSchedule(deps, { isFull: true })).toMatchObject({ monitors: 0 });
    const creation = await createMonitors(deps, records, {});
    expect(creation).toEqual({ created: 300 });

    // A bulk creation writes records and memberships together: nothing to rebuild, from the first pass on.
    const first = await reconcileSchedule(deps);
    expect(first).toMatchObject({
      monitors: 300,
      isMembershipRebuilt: false,
      membersAdded: 0,
      membersRemoved: 0,
    });
    expect(first.shards).toBe(new Set(records.map((record) => JSON.stringify(shardOf(record)))).size);

    // A record changed apart from its membership (its interval, the process gone before the membership moved):
    // the counts still agree, the change count does not.
    const moved = { ...(records[0] as (typeof records)[0]), intervalSeconds: 120 };
    await store.putMonitor(moved);
    const afterMove = await reconcileSchedule(deps);
    expect(afterMove).toMatchObject({ isMembershipRebuilt: true, membersAdded: 1, membersRemoved: 1 });
    expect(await scheduler.shards.members(shardOf(moved))).toContain(moved.id);
    expect(await scheduler.shards.members(shardOf(records[0] as (typeof records)[0]))).not.toContain(
      moved.id,
    );
    expect(await reconcileSchedule(deps)).toMatchObject({ isMembershipRebuilt: false, monitors: 300 });

    // A membership lost behind the service's back: the count shows it.
    const lost = records[1] as (typeof records)[0];
    await store.redis.srem(scheduler.shards.membersKey(shardOf(lost)), lost.id);
    expect(await reconcileSchedule(deps)).toMatchObject({ isMembershipRebuilt: true, membersAdded: 1 });
    expect(await scheduler.shards.members(shardOf(lost))).toContain(lost.id);

    // A monitor deleted with its membership left behind (the process gone between the two steps).
    const deleted = records[2] as (typeof records)[0];
    await store.deleteMonitor(deleted.id);
    expect(await reconcileSchedule(deps)).toMatchObject({
      isMembershipRebuilt: true,
      membersRemoved: 1,
      monitors: 299,
    });
    expect(await scheduler.shards.members(shardOf(deleted))).not.toContain(deleted.id);

    // A monitor created one at a time (record, then membership), as POST /monitors does: read once, then not.
    const single = monitorRecord(idOf(300), { intervalSeconds: 60 });
    await store.putMonitor(single);
    await scheduler.upsert(single);
    expect(await reconcileSchedule(deps)).toMatchObject({ isMembershipRebuilt: true, membersAdded: 0 });
    expect(await reconcileSchedule(deps)).toMatchObject({ isMembershipRebuilt: false, monitors: 300 });

    // Asked for a full pass, it reads every record whatever the counts say.
    expect(await reconcileSchedule(deps, { isFull: true })).toMatchObject({ isMembershipRebuilt: true });
  });
});

describe('the schedule reconcile of a scheduler both outdated and broken', () => {
  /** How each scheduler is broken: its next job gone, or (the scheduler naming the tick a worker took) ended or orphaned. */
  const faults = ['next-job-missing', 'next-job-ended', 'next-job-orphaned'] as const;

  it('replaces it as broken, its next tick the shard’s next and made exactly once, with the ticks’ priority', async () => {
    // A queue of its own with no worker on it: nothing takes a tick while the test looks at the schedule.
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue: MonitorQueue = new Queue(monitorQueueName('outdated'), { connection: client });
    try {
      const scheduler = new MonitorScheduler(queue, new ShardStore(client, 'outdated:monitor'), 0);
      const store = new MonitorStore(client, {
        keyPrefix: 'outdated:monitor',
        historyMaxAgeSeconds: 86_400,
        historyMaxEntries: 100,
      });
      const deps = { store, scheduler };
      // Hourly monitors of distinct shards whose next tick is at least a minute away: no tick comes due meanwhile.
      const records = Array.from({ length: 40 }, (_, index) =>
        monitorRecord(`5a0e0102-0000-4000-8000-${String(index).padStart(12, '0')}`, {
          intervalSeconds: 3600,
        }),
      )
        .filter((record) => nextTickAtOrAfter(shardOf(record), Date.now()) - Date.now() >= 60_000)
        .filter(
          (record, index, all) =>
            all.findIndex((other) => shardIdOf(shardOf(other)) === shardIdOf(shardOf(record))) === index,
        )
        .slice(0, faults.length);
      expect(records).toHaveLength(faults.length);

      const broken = new Map<string, { fault: ScheduleFault; staleTickMs: number }>();
      for (const [index, fault] of faults.entries()) {
        const record = records[index] as (typeof records)[0];
        await store.putMonitor(record);
        await scheduler.shards.place(record.id, shardOf(record));
        const shard = shardOf(record);
        const id = shardIdOf(shard);
        // What the release before wrote: the shard's schedule, its jobs with the run options alone.
        const tickMs = nextTickAtOrAfter(shard, Date.now());
        await queue.upsertJobScheduler(
          id,
          { every: shard.everyMs, startDate: tickMs },
          { name: monitorShardJobName, data: { shard: id }, opts: runJobOptions },
        );
        expect((await queue.getJobScheduler(id))?.next).toBe(tickMs);
        // Then broken as a failover leaves it: the next job's delayed entry gone, and its hash gone or become
        // the job of the tick before, taken by a worker (the scheduler naming that tick still).
        const jobKey = queue.toKey(`repeat:${id}:${tickMs}`);
        const takenId = `repeat:${id}:${tickMs - shard.everyMs}`;
        const unmade = client.multi().zrem(queue.toKey('delayed'), `repeat:${id}:${tickMs}`);
        if (fault === 'next-job-missing') await unmade.del(jobKey).exec();
        else {
          unmade.zadd(queue.toKey('repeat'), tickMs - shard.everyMs, id).rename(jobKey, queue.toKey(takenId));
          if (fault === 'next-job-ended')
            await unmade
              .hset(
                queue.toKey(takenId),
                'failedReason',
                'lost in a failover',
                'finishedOn',
                String(Date.now()),
              )
              .zadd(queue.toKey('failed'), Date.now(), takenId)
              .exec();
          else await unmade.lpush(queue.toKey('active'), takenId).exec();
        }
        const staleTickMs = (await queue.getJobScheduler(id))?.next;
        expect(staleTickMs).toBe(fault === 'next-job-missing' ? tickMs : tickMs - shard.everyMs);
        broken.set(id, { fault, staleTickMs: staleTickMs as number });
      }

      const outcome = await reconcileSchedule(deps, { isFull: true });
      expect(new Map(outcome.repairs.map(({ shard, ...rest }) => [shard, rest]))).toEqual(broken);
      const pending = await queue.getJobs(['delayed', 'prioritized', 'wait']);
      for (const record of records) {
        const shard = shardOf(record);
        const id = shardIdOf(shard);
        const after = await queue.getJobScheduler(id);
        expect(after?.template?.opts?.priority).toBe(shardJobPriority);
        // Resumed at the shard's next tick (an upsert carries the stale tick forward: one past a lost job is skipped).
        expect(after?.next).toBe(nextTickAtOrAfter(shard, Date.now()));
        const nextJobId = `repeat:${id}:${after?.next}`;
        expect(pending.filter((job) => job.id?.startsWith(`repeat:${id}:`)).map((job) => job.id)).toEqual([
          nextJobId,
        ]);
        expect(await queue.getJobState(nextJobId)).toBe('delayed');
        expect((await queue.getJob(nextJobId))?.opts.priority).toBe(shardJobPriority);
      }
      // Nothing left to repair.
      expect((await reconcileSchedule(deps, { isFull: true })).repairs).toEqual([]);
    } finally {
      await queue.close();
      client.disconnect();
    }
  });
});
