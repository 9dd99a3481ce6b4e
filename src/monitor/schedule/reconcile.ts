// Rebuilds the schedule from the monitor records: shard memberships, the shards' job schedulers, and the removal
// of the per-monitor schedulers of releases before shards. Safe to run at any time, by any number of workers.
import type { MonitorScheduler } from '../scheduler.js';
import type { MonitorStore } from '../store.js';
import { parseShardId, type Shard, shardIdOf, shardOf } from './shards.js';

export interface ReconcileOutcome {
  monitors: number;
  shards: number;
  /** Memberships added (a monitor missing from its shard) and removed (deleted, or of another interval now). */
  membersAdded: number;
  membersRemoved: number;
  /** Shard job schedulers created or repaired (missing, or their next job lost). */
  schedulersStarted: number;
  /** Job schedulers removed: those of empty shards and the per-monitor ones of releases before shards. */
  schedulersRemoved: number;
}

/** Removals and repairs in flight at once: enough to clear 100,000 legacy schedulers in seconds. */
const parallel = 200;

export async function reconcileSchedule(deps: {
  store: MonitorStore;
  scheduler: MonitorScheduler;
}): Promise<ReconcileOutcome> {
  const { store, scheduler } = deps;
  const shardStore = scheduler.shards;
  const expected = new Map<string, { shard: Shard; ids: Set<string> }>();
  let monitors = 0;
  for await (const page of store.scanMonitors()) {
    for (const monitor of page) {
      monitors += 1;
      const shard = shardOf(monitor);
      const id = shardIdOf(shard);
      const entry = expected.get(id) ?? { shard, ids: new Set<string>() };
      entry.ids.add(monitor.id);
      expected.set(id, entry);
    }
  }
  const outcome: ReconcileOutcome = {
    monitors,
    shards: expected.size,
    membersAdded: 0,
    membersRemoved: 0,
    schedulersStarted: 0,
    schedulersRemoved: 0,
  };

  // Memberships: every monitor in its shard, nothing else in any shard.
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
    const entry = running.get(shardIdOf(shard));
    // A scheduler whose next job is gone (a failover lost the write that made it) would never tick again.
    const isHealthy =
      entry?.next !== undefined &&
      (await scheduler.queue.getJob(`repeat:${shardIdOf(shard)}:${entry.next}`)) !== undefined;
    if (isHealthy) return;
    // Resumed at the shard's next tick: a repair is not a new schedule, so the first-tick delay does not apply.
    await scheduler.startShard(shard, 0);
    outcome.schedulersStarted += 1;
  });
  return outcome;
}

async function inBatches<T>(items: T[], task: (item: T) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += parallel)
    await Promise.all(items.slice(start, start + parallel).map(task));
}
