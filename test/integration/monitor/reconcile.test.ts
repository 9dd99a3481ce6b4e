// The schedule's reconcile against a real redis-server: with every record in its shard and none changed apart
// from its membership since the last full pass it reads no record (a count per shard), and a record written
// apart from its membership (a crash between the two steps), a membership lost or one left behind by other means
// sends it back to the records, which it repairs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMonitors } from '../../../src/monitor/bulk-create.js';
import { reconcileSchedule } from '../../../src/monitor/schedule/reconcile.js';
import { shardOf } from '../../../src/monitor/schedule/shards.js';
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
