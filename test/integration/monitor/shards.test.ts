// Shard scheduling against a real redis-server: each shard tick runs each member once (however often and by however
// many workers it is delivered, and across a worker killed mid-shard), membership follows create, PATCH and DELETE,
// the schedule is rebuilt from the records when Redis loses it, and per-monitor schedulers of older releases go.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadMonitorConfig } from '../../../src/monitor/config.js';
import type { RunEvent } from '../../../src/monitor/runner.js';
import type { ScheduleFault, ScheduleRepair } from '../../../src/monitor/schedule/reconcile.js';
import type { ShardTickOutcome } from '../../../src/monitor/schedule/shard-run.js';
import { ShardStore } from '../../../src/monitor/schedule/shard-store.js';
import {
  memberDueAtMs,
  nextTickAtOrAfter,
  type Shard,
  shardIdOf,
  shardOf,
  spreadMs,
} from '../../../src/monitor/schedule/shards.js';
import {
  legacySchedulerIdOf,
  type MonitorQueue,
  MonitorScheduler,
  monitorQueueName,
  monitorRunJobName,
  monitorShardJobName,
} from '../../../src/monitor/scheduler.js';
import { MonitorStore } from '../../../src/monitor/store.js';
import { startMonitorWorkers } from '../../../src/monitor/workers.js';
import { connectorForUrl } from '../../../src/redis/connection.js';
import { cliPath } from '../../support/process.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { captureLog, eventually } from '../service/support.js';
import {
  idsOfOneShard,
  type MonitorHarness,
  monitorRecord,
  probeDefaults,
  type SwitchableSite,
  sendJson,
  startMonitorHarness,
  startSwitchableSite,
} from './support.js';

let redis: TestRedis;
let site: SwitchableSite;
let client: Redis;
let queue: MonitorQueue;
let queueEvents: QueueEvents;
const closers: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  redis = await startRedis();
  site = await startSwitchableSite();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  queue = new Queue(monitorQueueName('test'), { connection: client });
  queueEvents = new QueueEvents(monitorQueueName('test'), { connection: { url: redis.url } });
  await queueEvents.waitUntilReady();
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await queueEvents.close();
  await queue.close();
  client.disconnect();
  await site.close();
  await redis.dispose();
});

async function harnessWith(env: Record<string, string> = {}): Promise<MonitorHarness> {
  const harness = await startMonitorHarness({ redisUrl: redis.url, env });
  closers.push(() => harness.close());
  return harness;
}

/** Delivers one tick of a shard as its job scheduler would (the tick is read from the job id) and awaits its end. */
async function deliverTick(shard: Shard, tickMs: number, copy = 'tick') {
  const job = await queue.add(
    monitorShardJobName,
    { shard: shardIdOf(shard), tickMs },
    { jobId: `${copy}-${shardIdOf(shard).replaceAll(':', '-')}-${tickMs}`, removeOnComplete: { age: 3600 } },
  );
  return (await job.waitUntilFinished(queueEvents, 30_000)) as ShardTickOutcome;
}

/** The tick of the shard one interval before its next: a tick that has come and is due now. */
function dueTick(shard: Shard): number {
  return nextTickAtOrAfter(shard, Date.now()) - shard.everyMs;
}

/** Stores healthy monitors with these ids (one shard's) as POST /monitors does, and answers their shard. */
async function placeMonitors(harness: MonitorHarness, ids: string[]): Promise<Shard> {
  for (const id of ids) {
    const record = monitorRecord(id, { url: site.url });
    await harness.workers.store.putMonitor(record);
    await harness.api.scheduler.upsert(record);
  }
  return shardOf({ id: ids[0] as string, intervalSeconds: 60 });
}

/** `count` monitor ids whose `intervalSeconds` ticks fall in as many different shards. */
function idsOfDistinctShards(count: number, seed: string, intervalSeconds: number): string[] {
  const byShard = new Map<string, string>();
  for (let index = 0; byShard.size < count; index += 1) {
    const id = `${seed}-0000-4000-8000-${String(index).padStart(12, '0')}`;
    const key = shardIdOf(shardOf({ id, intervalSeconds }));
    if (!byShard.has(key)) byShard.set(key, id);
  }
  return [...byShard.values()];
}

/** The shard's next tick, once it is at least `marginMs` away (so a fault is not made while the tick fires). */
async function nextTickAtLeast(harness: MonitorHarness, shard: Shard, marginMs: number): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const next = (await harness.api.scheduler.queue.getJobScheduler(shardIdOf(shard)))?.next;
    if (next !== undefined && next - Date.now() >= marginMs) return next;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the scheduler of ${shardIdOf(shard)} never had a next tick ${marginMs} ms away`);
}

type ScheduleLoss =
  | 'membership'
  | 'scheduler'
  | 'scheduler-hash'
  | 'next-job'
  | 'next-job-taken-and-removed'
  | 'next-job-taken-and-failed'
  | 'next-job-taken-and-orphaned';

/**
 * The repair the reconcile names for each loss. A lost hash is dropped by BullMQ's listing (then the scheduler
 * is missing), unless the tick fired first and BullMQ made the next job from a bare hash (then the definition).
 */
const expectedRepairs: Record<ScheduleLoss, ScheduleFault[]> = {
  membership: [],
  scheduler: ['missing'],
  'scheduler-hash': ['missing', 'definition-lost'],
  'next-job': ['next-job-missing'],
  'next-job-taken-and-removed': ['next-job-missing'],
  'next-job-taken-and-failed': ['next-job-ended'],
  'next-job-taken-and-orphaned': ['next-job-orphaned'],
};

/**
 * Leaves the shard's schedule as a failover can: `tickMs` is its next tick (its job delayed). The "taken" losses
 * are what the old master had done and the new one lacks: a worker took the job of the tick before (moveToActive
 * kept) but the scheduler's update that makes the next job was lost, so the scheduler still names that tick.
 */
async function breakSchedule(harness: MonitorHarness, shard: Shard, tickMs: number, loss: ScheduleLoss) {
  const scheduler = harness.api.scheduler;
  const id = shardIdOf(shard);
  const keys = { queue: 'bull:test-monitors', job: `bull:test-monitors:repeat:${id}:${tickMs}` };
  const takenId = `repeat:${id}:${tickMs - shard.everyMs}`;
  const taken = `${keys.queue}:${takenId}`;
  switch (loss) {
    case 'membership':
      await client.multi().del(scheduler.shards.membersKey(shard)).srem('test:monitor:shards', id).exec();
      return;
    case 'scheduler':
      await scheduler.queue.removeJobScheduler(id);
      return;
    case 'scheduler-hash':
      await client.del(`${keys.queue}:repeat:${id}`);
      return;
  }
  // The rest leave the next job unmade: its delayed entry gone, its hash gone or become the taken job's.
  const unmade = client.multi().zrem(`${keys.queue}:delayed`, `repeat:${id}:${tickMs}`);
  if (loss === 'next-job') {
    await unmade.del(keys.job).exec();
    return;
  }
  // The scheduler still names the taken tick.
  unmade.zadd(`${keys.queue}:repeat`, tickMs - shard.everyMs, id);
  if (loss === 'next-job-taken-and-removed') await unmade.del(keys.job).exec();
  else if (loss === 'next-job-taken-and-failed')
    await unmade
      .rename(keys.job, taken)
      .hset(taken, 'failedReason', 'lost in a failover', 'finishedOn', String(Date.now()))
      .zadd(`${keys.queue}:failed`, Date.now(), takenId)
      .exec();
  else await unmade.rename(keys.job, taken).lpush(`${keys.queue}:active`, takenId).exec();
}

async function scheduledEntries(harness: MonitorHarness, id: string) {
  const entries = await harness.workers.store.history(id, { limit: 100 });
  return entries.filter((entry) => entry.trigger === 'schedule');
}

describe('a shard tick', () => {
  it('runs each member once, however often the tick is delivered', async () => {
    const harness = await harnessWith();
    const ids = idsOfOneShard(3, '5a0e0001');
    const shard = await placeMonitors(harness, ids);
    const tickMs = dueTick(shard);
    const first = await deliverTick(shard, tickMs);
    expect(first).toMatchObject({ members: 3, ran: 3, alreadyRun: 0, failed: 0, isInterrupted: false });
    // Delivered again (a stalled job handed to another worker): nothing runs twice.
    const again = await deliverTick(shard, tickMs, 'redelivered');
    expect(again).toMatchObject({ members: 3, ran: 0, alreadyRun: 3 });
    for (const id of ids) {
      const entries = await scheduledEntries(harness, id);
      // Due at its own time in the shard's slice of the tick.
      expect(entries.map((entry) => Date.parse(entry.scheduledAt ?? ''))).toEqual([
        memberDueAtMs(id, shard, tickMs),
      ]);
      expect(entries[0]).toMatchObject({ health: 'up', cause: 'ok', code: 'http.ok' });
    }
    // An older tick delivered late (after the newer one ran) runs nothing either.
    expect(await deliverTick(shard, tickMs - shard.everyMs)).toMatchObject({ ran: 0, alreadyRun: 3 });
  });

  it('starts each member at its own time in the slice, in that order, none before it', async () => {
    const harness = await harnessWith();
    const ids = idsOfOneShard(6, '5a0e0009');
    const shard = await placeMonitors(harness, ids);
    // Delivered as it comes due: most members' times in the slice are still ahead when the job is taken up.
    const tickMs = Date.now();
    expect(await deliverTick(shard, tickMs)).toMatchObject({ members: 6, ran: 6 });
    const runs = await Promise.all(
      ids.map(async (id) => {
        const [entry] = await scheduledEntries(harness, id);
        return { id, dueMs: Date.parse(entry?.scheduledAt ?? ''), startedMs: Date.parse(entry?.at ?? '') };
      }),
    );
    for (const run of runs) {
      expect(run.dueMs).toBe(memberDueAtMs(run.id, shard, tickMs));
      expect(run.startedMs).toBeGreaterThanOrEqual(run.dueMs);
    }
    const starts = runs.sort((a, b) => a.dueMs - b.dueMs).map((run) => run.startedMs);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
  });

  it('keeps the exact health and cause of each member, failing ones with their re-check', async () => {
    const harness = await harnessWith();
    const ids = idsOfOneShard(2, '5a0e0002');
    const refused = monitorRecord(ids[1] as string, { url: 'http://127.0.0.1:9/', confirmations: 2 });
    for (const record of [monitorRecord(ids[0] as string, { url: site.url }), refused]) {
      await harness.workers.store.putMonitor(record);
      await harness.api.scheduler.upsert(record);
    }
    const shard = shardOf(refused);
    const runs: RunEvent[] = [];
    const listener = (event: RunEvent) => runs.push(event);
    harness.workers.events.on('run', listener);
    // The failing member's first failure is not confirmed yet: a re-check (one job) confirms it.
    const confirmed = new Promise<RunEvent>((resolve) =>
      harness.workers.events.on('run', (event: RunEvent) => {
        if (event.result.entry.trigger === 'recheck') resolve(event);
      }),
    );
    await deliverTick(shard, dueTick(shard));
    const recheck = await confirmed;
    harness.workers.events.off('run', listener);
    const byId = new Map(runs.map((event) => [event.monitorId, event]));
    expect(byId.get(ids[0] as string)?.result.entry).toMatchObject({ health: 'up', code: 'http.ok' });
    expect(byId.get(ids[1] as string)?.result.entry).toMatchObject({
      health: 'down',
      cause: 'server_fault',
      code: 'tcp.refused',
    });
    expect(recheck.monitorId).toBe(ids[1]);
    expect(recheck.decision?.status.state).toBe('down');
  });

  it('skips a member deleted, or moved by a new interval, since it joined', async () => {
    const harness = await harnessWith();
    const created = await sendJson('POST', `${harness.url}/monitors`, {
      name: 'Mover',
      url: site.url,
      intervalSeconds: 60,
    });
    const id = created.body.id as string;
    const oldShard = shardOf({ id, intervalSeconds: 60 });
    const newShard = shardOf({ id, intervalSeconds: 120 });
    expect((await sendJson('PATCH', `${harness.url}/monitors/${id}`, { intervalSeconds: 120 })).status).toBe(
      200,
    );
    // Left behind in its old shard as a lost write would leave it: the record says it is not this shard's.
    await client.sadd(harness.api.scheduler.shards.membersKey(oldShard), id);
    expect(await deliverTick(oldShard, dueTick(oldShard))).toMatchObject({ ran: 0, notMembers: 1 });
    expect(await deliverTick(newShard, dueTick(newShard))).toMatchObject({ ran: 1 });
    expect((await sendJson('DELETE', `${harness.url}/monitors/${id}`)).status).toBe(204);
    expect(await deliverTick(newShard, dueTick(newShard) + newShard.everyMs)).toMatchObject({
      members: 0,
      ran: 0,
    });
  });

  it('is run by the shard job scheduler a new monitor joins, at the shard tick', async () => {
    const harness = await harnessWith({ MONITOR_FIRST_TICK_DELAY_SECONDS: '0' });
    const scheduled = new Promise<RunEvent>((resolve) =>
      harness.workers.events.on('run', (event: RunEvent) => {
        if (event.result.entry.trigger === 'schedule') resolve(event);
      }),
    );
    const created = await sendJson('POST', `${harness.url}/monitors`, {
      name: 'Ticking',
      url: site.url,
      intervalSeconds: 10,
    });
    const run = await scheduled;
    const shard = shardOf({ id: created.body.id, intervalSeconds: 10 });
    expect(run.monitorId).toBe(created.body.id);
    expect((run.result.scheduledAtMs ?? -1) % shard.everyMs).toBe(spreadMs(created.body.id, shard.everyMs));
    expect(await harness.api.scheduler.nextTickMs({ id: created.body.id, intervalSeconds: 10 })).toBe(
      (run.result.scheduledAtMs ?? 0) + shard.everyMs,
    );
  });
});

describe('several workers', () => {
  it('run a tick delivered to two of them at once once per member', async () => {
    const harness = await harnessWith();
    const second = startMonitorWorkers({
      redis: connectorForUrl(redis.url, 'test'),
      baseQueueName: 'test',
      config: harness.config,
      probeDefaults,
      policy: (address) => (address === '127.0.0.1' ? undefined : 'loopback only'),
      logger: pino({ level: 'silent' }),
    });
    closers.push(() => second.close(5000));
    const ids = idsOfOneShard(12, '5a0e0003');
    const shard = await placeMonitors(harness, ids);
    const tickMs = dueTick(shard);
    const outcomes = await Promise.all([
      deliverTick(shard, tickMs, 'copy-a'),
      deliverTick(shard, tickMs, 'copy-b'),
    ]);
    expect(outcomes.reduce((sum, outcome) => sum + outcome.ran, 0)).toBe(12);
    for (const id of ids) expect((await scheduledEntries(harness, id)).length).toBe(1);
  });

  it('lose no run and double none when a worker is killed mid-shard', async () => {
    const ids = idsOfOneShard(16, '5a0e0004');
    site.mode = 'slow';
    site.slowDelayMs = 300;
    const store = new MonitorStore(client, {
      keyPrefix: 'test:monitor',
      historyMaxAgeSeconds: 86_400,
      historyMaxEntries: 100,
    });
    const placing = new MonitorScheduler(queue, new ShardStore(client, 'test:monitor'), 7 * 86_400_000);
    for (const id of ids) {
      const record = monitorRecord(id, { url: site.url });
      await store.putMonitor(record);
      await placing.upsert(record);
    }
    const doomed: ChildProcess = spawn(process.execPath, [cliPath, 'worker'], {
      env: {
        ...process.env,
        REDIS_URL: redis.url,
        QUEUE_NAME: 'test',
        PROBE_ALLOW_PRIVATE: 'true',
        MONITOR_CONCURRENCY: '2',
        MONITOR_FIRST_TICK_DELAY_SECONDS: String(7 * 86_400),
        WORKER_LOCK_DURATION_MS: '5000',
        WORKER_STALLED_INTERVAL_MS: '1000',
        LOG_LEVEL: 'warn',
      },
      stdio: 'ignore',
    });
    closers.push(async () => {
      if (doomed.exitCode === null && doomed.signalCode === null) doomed.kill('SIGKILL');
    });
    const shard = shardOf({ id: ids[0] as string, intervalSeconds: 60 });
    const tickMs = dueTick(shard);
    const tickJob = await queue.add(
      monitorShardJobName,
      { shard: shardIdOf(shard), tickMs },
      { attempts: 1 },
    );
    const ranBefore = await eventually(
      async () => {
        const ran = (await client.hgetall('test:monitor:ticks')) as Record<string, string>;
        const count = Object.values(ran).filter((tick) => Number(tick) === tickMs).length;
        return count >= 3 ? count : undefined;
      },
      { what: 'a few runs of the shard by the doomed worker', intervalMs: 20, attempts: 1500 },
    );
    doomed.kill('SIGKILL');
    await once(doomed, 'exit');
    expect(ranBefore).toBeLessThan(16);
    // What the dead worker claimed is final now. A run it claimed but had not yet written is lost for this tick
    // (the bound: no run lost beyond the tick it was killed in); every other member is run by the rescuer.
    const claimedByDoomed = new Set(
      Object.entries((await client.hgetall('test:monitor:ticks')) as Record<string, string>)
        .filter(([, tick]) => Number(tick) === tickMs)
        .map(([id]) => id),
    );
    // Another worker takes the stalled shard job over and runs the members not run yet.
    const rescuer = startMonitorWorkers({
      redis: connectorForUrl(redis.url, 'test'),
      baseQueueName: 'test',
      config: loadMonitorConfig({ MONITOR_FIRST_TICK_DELAY_SECONDS: String(7 * 86_400) }),
      probeDefaults,
      policy: (address) => (address === '127.0.0.1' ? undefined : 'loopback only'),
      logger: pino({ level: 'silent' }),
      lockDurationMs: 5000,
      stalledIntervalMs: 1000,
    });
    closers.push(() => rescuer.close(5000));
    const scheduledRuns = async () =>
      Promise.all(
        ids.map(async (id) => ({
          id,
          ticks: (await store.history(id, { limit: 100 }))
            .filter((e) => e.trigger === 'schedule')
            .map((entry) => Date.parse(entry.scheduledAt ?? '')),
        })),
      );
    const counts = await eventually(
      async () => {
        const perMonitor = await scheduledRuns();
        if (perMonitor.every((runs) => runs.ticks.length >= 1 || claimedByDoomed.has(runs.id)))
          return perMonitor;
        // A job that failed will not run the members left: say why instead of waiting out the bound.
        const state = await queue.getJobState(tickJob.id ?? '');
        if (state === 'failed')
          throw new Error(`the shard job failed: ${(await queue.getJob(tickJob.id ?? ''))?.failedReason}`);
        return undefined;
      },
      {
        what: 'every member the dead worker had not claimed to have run the tick',
        intervalMs: 200,
        attempts: 400,
      },
    );
    // None doubled; the members lost in flight are among those the dead worker claimed, fewer than all of them.
    const lostInFlight = counts.filter((runs) => runs.ticks.length === 0).map((runs) => runs.id);
    for (const runs of counts)
      expect(runs.ticks).toEqual(runs.ticks.length === 0 ? [] : [memberDueAtMs(runs.id, shard, tickMs)]);
    for (const id of lostInFlight) expect(claimedByDoomed.has(id)).toBe(true);
    expect(lostInFlight.length).toBeLessThan(claimedByDoomed.size);
    // The next tick runs every member exactly once again: nothing is lost beyond the tick of the kill.
    const nextTickMs = tickMs + 60_000;
    await queue.add(monitorShardJobName, { shard: shardIdOf(shard), tickMs: nextTickMs }, { attempts: 1 });
    const after = await eventually(
      async () => {
        const perMonitor = await scheduledRuns();
        return perMonitor.every((runs) => runs.ticks.includes(memberDueAtMs(runs.id, shard, nextTickMs)))
          ? perMonitor
          : undefined;
      },
      { what: 'every member to have run the next tick', intervalMs: 200, attempts: 400 },
    );
    for (const runs of after) {
      const dueMs = memberDueAtMs(runs.id, shard, nextTickMs);
      expect(runs.ticks.filter((tick) => tick === dueMs)).toEqual([dueMs]);
    }
  }, 150_000);
});

describe('the schedule repairs itself from the monitor records', () => {
  it('puts back a shard membership and job scheduler deleted behind the service’s back', async () => {
    const harness = await harnessWith({ MONITOR_RECONCILE_SECONDS: '1' });
    const created = await sendJson('POST', `${harness.url}/monitors`, {
      name: 'Lost',
      url: site.url,
      intervalSeconds: 60,
    });
    const id = created.body.id as string;
    const shard = shardOf({ id, intervalSeconds: 60 });
    const scheduler = harness.api.scheduler;
    const nextBefore = (await scheduler.queue.getJobScheduler(shardIdOf(shard)))?.next;
    // What a failover that drops the last writes can leave: no membership and no scheduler.
    await client.del(scheduler.shards.membersKey(shard));
    await scheduler.queue.removeJobScheduler(shardIdOf(shard));
    await eventually(async () => ((await scheduler.shards.members(shard)).includes(id) ? true : undefined), {
      what: 'the membership to come back',
      intervalMs: 100,
    });
    const scheduled = await eventually(() => scheduler.queue.getJobScheduler(shardIdOf(shard)), {
      what: 'the job scheduler to come back',
      intervalMs: 100,
    });
    expect(scheduled.every).toBe(60_000);
    // Repaired, it resumes at the shard's next tick (the first-tick delay is for new schedules only).
    expect(scheduled.next).toBe(nextTickAtOrAfter(shard, (scheduled.next ?? 0) - shard.everyMs + 1));
    expect(scheduled.next).toBeLessThan((nextBefore ?? 0) - shard.everyMs);
    // A scheduler whose next job was lost is repaired too: its next job exists again.
    const lostJobId = `repeat:${shardIdOf(shard)}:${scheduled.next}`;
    await client
      .multi()
      .zrem('bull:test-monitors:delayed', lostJobId)
      .del(`bull:test-monitors:${lostJobId}`)
      .exec();
    expect(await scheduler.queue.getJob(lostJobId)).toBeUndefined();
    await eventually(
      async () => {
        const entry = await scheduler.queue.getJobScheduler(shardIdOf(shard));
        const job = entry?.next
          ? await scheduler.queue.getJob(`repeat:${shardIdOf(shard)}:${entry.next}`)
          : undefined;
        return job ? true : undefined;
      },
      { what: 'the next job to come back', intervalMs: 100 },
    );
  });

  it('runs every monitor by schedule again by its shard’s next tick after a reconcile, whatever a failover left', async () => {
    // What a promoted replica can lack of the old master's last writes, one kind per shard. BullMQ makes a shard's
    // next job in a second step after a worker takes the current one (moveToActive, then the scheduler's update):
    // losing the second step leaves the scheduler naming the taken job, which may be active with no worker left,
    // failed, or done and gone. A reconcile lease without expiry (a longer MONITOR_RECONCILE_SECONDS before) must
    // not hold off the repairs.
    const faults = [
      'membership',
      'scheduler',
      'scheduler-hash',
      'next-job',
      'next-job-taken-and-removed',
      'next-job-taken-and-failed',
      'next-job-taken-and-orphaned',
    ] as const;
    const log = captureLog('debug');
    const harness = await startMonitorHarness({
      redisUrl: redis.url,
      env: { MONITOR_FIRST_TICK_DELAY_SECONDS: '0', MONITOR_RECONCILE_SECONDS: '1' },
      logger: log.logger,
    });
    closers.push(() => harness.close());
    const runs: RunEvent[] = [];
    harness.workers.events.on('run', (event: RunEvent) => {
      if (event.result.entry.trigger === 'schedule') runs.push(event);
    });
    const ids = idsOfDistinctShards(faults.length, '5a0e0007', 10);
    for (const id of ids) {
      const record = monitorRecord(id, { url: site.url, intervalSeconds: 10 });
      await harness.workers.store.putMonitor(record);
      await harness.api.scheduler.upsert(record);
    }
    await eventually(
      async () => (ids.every((id) => runs.some((run) => run.monitorId === id)) ? true : undefined),
      { what: 'a scheduled run of every monitor before the faults', intervalMs: 200, attempts: 150 },
    );
    await client.set('test:monitor:reconcile-lease', '1');

    const faultAtMs = new Map<string, number>();
    for (const [index, fault] of faults.entries()) {
      const id = ids[index] as string;
      const shard = shardOf({ id, intervalSeconds: 10 });
      const tickMs = await nextTickAtLeast(harness, shard, 1000);
      faultAtMs.set(id, Date.now());
      await breakSchedule(harness, shard, tickMs, fault);
    }

    // Each monitor runs by schedule again, at a tick no later than its shard's first after the reconcile that
    // repaired it (a repaired scheduler resumes at the shard's next tick; a restored member joins the next tick).
    const firstRuns = await eventually(
      async () => {
        const first = ids.map((id) =>
          runs.find(
            (run) => run.monitorId === id && (run.result.scheduledAtMs ?? 0) > (faultAtMs.get(id) ?? 0),
          ),
        );
        return first.every(Boolean) ? (first as RunEvent[]) : undefined;
      },
      { what: 'a scheduled run of every monitor after its fault', intervalMs: 200, attempts: 200 },
    ).catch((error) => {
      const without = faults.filter(
        (_, index) =>
          !runs.some(
            (run) =>
              run.monitorId === ids[index] &&
              (run.result.scheduledAtMs ?? 0) > (faultAtMs.get(ids[index] as string) ?? 0),
          ),
      );
      throw new Error(`${(error as Error).message}: none after ${without.join(', ')}`);
    });
    const reconciles = log.lines.filter((line) => line.msg === 'monitor schedule reconciled');
    for (const [index, fault] of faults.entries()) {
      const id = ids[index] as string;
      const shard = shardOf({ id, intervalSeconds: 10 });
      const repair = reconciles.find(
        (line) =>
          Number(line.time) > (faultAtMs.get(id) ?? 0) &&
          (fault === 'membership'
            ? Number(line.membersAdded) > 0
            : (line.repairs as ScheduleRepair[]).some((each) => each.shard === shardIdOf(shard))),
      );
      expect(
        repair,
        `a reconcile that repaired ${fault}; the log:\n${log.matching(/reconcile/)}`,
      ).toBeDefined();
      const firstTickMs = firstRuns[index]?.result.scheduledAtMs ?? 0;
      expect(firstTickMs, fault).toBeLessThanOrEqual(
        memberDueAtMs(id, shard, nextTickAtOrAfter(shard, Number(repair?.time))),
      );
      const named = ((repair?.repairs ?? []) as ScheduleRepair[]).filter(
        (each) => each.shard === shardIdOf(shard),
      );
      if (fault === 'membership') expect(named, fault).toEqual([]);
      else expect(expectedRepairs[fault], fault).toContain(named[0]?.fault);
    }
    // Every scheduled run, before and after the repairs, at its own time in its shard's slice, no tick run twice.
    for (const run of runs)
      expect((run.result.scheduledAtMs ?? -1) % 10_000).toBe(spreadMs(run.monitorId, 10_000));
    const ticks = runs.map((run) => `${run.monitorId}@${run.result.scheduledAtMs}`);
    expect(new Set(ticks).size).toBe(ticks.length);
  }, 90_000);

  it('replaces the per-monitor job schedulers of a release before shards at start', async () => {
    const id = '5a0e0005-0000-4000-8000-000000000001';
    // What the previous release left: the record, a per-monitor scheduler and one of its ticks waiting.
    const legacy = monitorRecord(id, { url: site.url });
    await client.hset('test:monitor:monitors', id, JSON.stringify(legacy));
    await queue.upsertJobScheduler(
      legacySchedulerIdOf(id),
      { every: 60_000, startDate: Date.now() + 3_600_000 },
      { name: monitorRunJobName, data: { monitorId: id, trigger: 'schedule' } },
    );
    const waiting = await queue.add(
      monitorRunJobName,
      { monitorId: id, trigger: 'schedule' },
      { jobId: 'legacy-tick', removeOnComplete: { age: 3600 } },
    );
    const harness = await harnessWith();
    // The legacy tick is not run: the shard runs the monitor from now on.
    expect(await waiting.waitUntilFinished(queueEvents, 30_000)).toBe('superseded');
    const shard = shardOf(legacy);
    await eventually(
      async () => ((await queue.getJobScheduler(legacySchedulerIdOf(id))) ? undefined : true),
      { what: 'the legacy scheduler to go', intervalMs: 100 },
    );
    expect(await harness.api.scheduler.shards.members(shard)).toEqual([id]);
    expect((await queue.getJobSchedulers(0, -1)).map((entry) => entry.key)).toEqual([shardIdOf(shard)]);
    expect(await scheduledEntries(harness, id)).toEqual([]);
  });
});
