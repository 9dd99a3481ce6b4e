// Rebuilds the schedule from the monitor records: shard memberships, the shards' job schedulers, and the removal
// of the per-monitor schedulers of releases before shards. Safe to run at any time, by any number of workers.
import { type MonitorScheduler, shardJobPriority } from '../scheduler.js';
import type { MonitorStore } from '../store.js';
import { parseShardId, type Shard, shardIdOf, shardOf } from './shards.js';

/**
 * What was wrong with a shard's job scheduler that the reconcile repaired: each is a state a failover (the new
 * master lacks the old one's last writes) or a worker dying between BullMQ's steps can leave, and in each no
 * tick of the shard would come again (or not before BullMQ's stalled check, minutes on default settings).
 * - `missing`: the shard has members but no job scheduler.
 * - `next-job-missing`: the scheduler names a next job that does not exist.
 * - `next-job-ended`: its next job has completed or failed: the job after it was never made (BullMQ makes it
 *   when a worker takes the job, and that write was lost), so nothing would make another.
 * - `next-job-orphaned`: its next job is active, but no worker holds its lock.
 * - `definition-lost`: the scheduler's interval or job data is not the shard's (its hash was lost and BullMQ
 *   re-made a bare one): its jobs would carry no shard and be refused.
 * - `options-outdated`: its jobs lack the shard ticks' priority (a scheduler of a release before it): one-off
 *   runs would wait behind its ticks instead of going ahead of them. Named only for a scheduler with no other
 *   fault (one with another is replaced, and the new one has the options).
 */
export type ScheduleFault =
  | 'missing'
  | 'next-job-missing'
  | 'next-job-ended'
  | 'next-job-orphaned'
  | 'definition-lost'
  | 'options-outdated';

export interface ScheduleRepair {
  shard: string;
  fault: ScheduleFault;
  /** The tick the broken scheduler named, if any. */
  staleTickMs?: number;
}

export interface ReconcileOutcome {
  monitors: number;
  shards: number;
  /**
   * Whether the memberships were rebuilt from every record. They are not when no record changed since the last
   * pass that did (MonitorStore.recordsVersion) and the shards hold as many members as there are records: then
   * the pass reads a count per shard instead of every record, and checks the job schedulers alone.
   */
  isMembershipRebuilt: boolean;
  /** Memberships added (a monitor missing from its shard) and removed (deleted, or of another interval now). */
  membersAdded: number;
  membersRemoved: number;
  /** Shard job schedulers created or repaired (missing, or their next job lost). */
  schedulersStarted: number;
  /** Job schedulers removed: those of empty shards and the per-monitor ones of releases before shards. */
  schedulersRemoved: number;
  /** Each shard scheduler repaired, and what was wrong with it. */
  repairs: ScheduleRepair[];
}

/** Removals and repairs in flight at once: enough to clear 100,000 legacy schedulers in seconds. */
const parallel = 200;

export async function reconcileSchedule(
  deps: { store: MonitorStore; scheduler: MonitorScheduler },
  options: { isFull?: boolean } = {},
): Promise<ReconcileOutcome> {
  const { store, scheduler } = deps;
  const shardStore = scheduler.shards;
  // Read before the records: a record written while they are read moves it past what this pass marks as done.
  const version = await store.recordsVersion();
  const inStep = options.isFull ? undefined : await membershipsInStep(deps, version);
  const expected = inStep?.shards ?? (await membershipsFromRecords(deps));
  const outcome: ReconcileOutcome = {
    monitors: inStep ? inStep.monitors : [...expected.values()].reduce((sum, e) => sum + e.ids.size, 0),
    shards: expected.size,
    isMembershipRebuilt: !inStep,
    membersAdded: 0,
    membersRemoved: 0,
    schedulersStarted: 0,
    schedulersRemoved: 0,
    repairs: [],
  };

  // Memberships: every monitor in its shard, nothing else in any shard.
  if (!inStep) {
    const known = new Set([...expected.keys(), ...(await shardStore.registered())]);
    await inBatches([...known], async (id) => {
      const shard = expected.get(id)?.shard ?? parseShardId(id);
      if (!shard) return;
      const wanted = expected.get(id)?.ids ?? new Set<string>();
      const present = new Set(await shardStore.members(shard));
      const added = [...wanted].filter((member) => !present.has(member));
      // A monitor created or moved here since the records were read is not in `wanted`: its record decides.
      const strays = [...present].filter((member) => !wanted.has(member));
      const records = await store.getMonitors(strays);
      const removed = strays.filter((_, index) => {
        const record = records[index];
        return !record || shardIdOf(shardOf(record)) !== id;
      });
      if (added.length + removed.length > 0) await shardStore.amend(shard, added, removed);
      outcome.membersAdded += added.length;
      outcome.membersRemoved += removed.length;
    });
    await shardStore.setReconciledVersion(version);
  }

  // Job schedulers: one per shard with members, each with its next job; none for empty shards or single monitors.
  const schedulers = await scheduler.queue.getJobSchedulers(0, -1);
  const running = new Map(schedulers.map((entry) => [entry.key, entry]));
  await inBatches([...running.keys()], async (key) => {
    const shard = parseShardId(key);
    if (shard && expected.has(key)) return;
    if (shard) {
      // Empty now: forget it (atomically with the check), then look again in case a monitor joined meanwhile.
      if (!(await shardStore.forgetIfEmpty(shard))) return;
      await scheduler.stopShard(shard);
      outcome.schedulersRemoved += 1;
      if ((await shardStore.memberCount(shard)) > 0) {
        await shardStore.register(shard);
        await scheduler.startShard(shard, 0);
        outcome.schedulersStarted += 1;
      }
      return;
    }
    // Not a shard: a per-monitor scheduler of a release before shards (or anything else on this queue).
    await scheduler.queue.removeJobScheduler(key);
    outcome.schedulersRemoved += 1;
  });
  await inBatches([...expected.values()], async ({ shard }) => {
    const id = shardIdOf(shard);
    const entry = running.get(id);
    const staleTickMs = entry?.next;
    // Outdated options are named only when nothing else is wrong: a scheduler both outdated and broken is
    // replaced as a broken one, not upserted with its stale tick.
    const fault =
      entry && (entry.every !== shard.everyMs || shardOfTemplate(entry.template?.data) !== id)
        ? 'definition-lost'
        : ((await faultOf(scheduler, id, staleTickMs)) ??
          (entry?.template?.opts?.priority !== shardJobPriority ? 'options-outdated' : undefined));
    if (!fault) return;
    // Read again: a worker may have moved the schedule on since the list was read (then it is not broken).
    if (fault !== 'missing' && (await scheduler.queue.getJobScheduler(id))?.next !== staleTickMs) return;
    // A broken scheduler is replaced rather than upserted: BullMQ would carry its stale tick forward and, past a
    // missed tick, align the next to the interval without the shard's offset. A new one resumes at the shard's
    // next tick (a repair is not a new schedule, so the first-tick delay does not apply). A scheduler that only
    // lacks the options is sound: upserted, it keeps its next tick, whose job BullMQ makes again with them.
    if (fault !== 'missing' && fault !== 'options-outdated') await scheduler.stopShard(shard);
    await scheduler.startShard(shard, 0);
    outcome.schedulersStarted += 1;
    outcome.repairs.push({ shard: id, fault, ...(staleTickMs === undefined ? {} : { staleTickMs }) });
  });
  return outcome;
}

type ExpectedShards = Map<string, { shard: Shard; ids: Set<string> }>;

/** Every monitor's shard, from every record. */
async function membershipsFromRecords(deps: { store: MonitorStore }): Promise<ExpectedShards> {
  const expected: ExpectedShards = new Map();
  for await (const page of deps.store.scanMonitors()) {
    for (const monitor of page) {
      const shard = shardOf(monitor);
      const id = shardIdOf(shard);
      const entry = expected.get(id) ?? { shard, ids: new Set<string>() };
      entry.ids.add(monitor.id);
      expected.set(id, entry);
    }
  }
  return expected;
}

/**
 * The shards with members, without reading a record, when the memberships are known to follow the records: no
 * record written or deleted apart from its membership since the last full pass (the change count it marked),
 * and as many memberships as records (a membership lost or left behind by other means shows in the count).
 * Undefined when either fails: the records are read. Only the shards are answered (their ids unread), with the
 * count of records the check read.
 */
async function membershipsInStep(
  deps: { store: MonitorStore; scheduler: MonitorScheduler },
  version: string,
): Promise<{ shards: ExpectedShards; monitors: number } | undefined> {
  const shardStore = deps.scheduler.shards;
  if ((await shardStore.reconciledVersion()) !== version) return undefined;
  const [records, counts] = await Promise.all([deps.store.countMonitors(), shardStore.memberCounts()]);
  let memberships = 0;
  const expected: ExpectedShards = new Map();
  for (const [id, count] of counts) {
    memberships += count;
    const shard = parseShardId(id);
    if (shard && count > 0) expected.set(id, { shard, ids: new Set() });
  }
  return memberships === records ? { shards: expected, monitors: records } : undefined;
}

function shardOfTemplate(data: unknown): unknown {
  return typeof data === 'object' && data !== null ? (data as { shard?: unknown }).shard : undefined;
}

/** What stops the shard's scheduler from ticking again, or undefined when its next job is on its way. */
async function faultOf(
  scheduler: MonitorScheduler,
  shardId: string,
  nextTickMs: number | undefined,
): Promise<ScheduleFault | undefined> {
  if (nextTickMs === undefined) return 'missing';
  const jobId = `repeat:${shardId}:${nextTickMs}`;
  const state = await scheduler.queue.getJobState(jobId);
  switch (state) {
    case 'delayed':
    case 'waiting':
    case 'prioritized':
    case 'waiting-children':
      return undefined;
    case 'active': {
      // Taken by a worker that still holds it: it ends, and then the job is gone or ended (repaired next time).
      const lockKey = `${scheduler.queue.toKey(jobId)}:lock`;
      return (await scheduler.shards.redis.exists(lockKey)) === 1 ? undefined : 'next-job-orphaned';
    }
    case 'completed':
    case 'failed':
      return 'next-job-ended';
    default:
      return 'next-job-missing';
  }
}

async function inBatches<T>(items: T[], task: (item: T) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += parallel)
    await Promise.all(items.slice(start, start + parallel).map(task));
}
