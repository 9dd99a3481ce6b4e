// The schedule: one BullMQ job scheduler per shard of monitors (see schedule/shards.ts), plus the one-off runs
// (first run, re-checks) on the same queue.
import type { JobsOptions, Queue } from 'bullmq';
import type { ChainableCommander } from 'ioredis';
import type { MonitorRecord } from './records.js';
import type { RunTrigger } from './run-result.js';
import { type OneOffRun, RunBatcher } from './schedule/run-batcher.js';
import type { ShardStore } from './schedule/shard-store.js';
import { memberDueAtMs, nextTickAtOrAfter, type Shard, shardIdOf, shardOf } from './schedule/shards.js';

export { spreadMs } from './schedule/shards.js';

/** One run of one monitor: the first run after create, a re-check, a test's run. */
export interface MonitorRunJobData {
  monitorId: string;
  trigger: RunTrigger;
}

/**
 * One tick of one shard: every member of the shard runs once for the tick. The scheduler's jobs carry the tick in
 * their id (repeat:<shard>:<millis>); a tick delivered by hand (`runTick`) carries it in `tickMs`.
 */
export interface MonitorShardJobData {
  shard: string;
  tickMs?: number;
}

export type MonitorJobData = MonitorRunJobData | MonitorShardJobData;

export const monitorRunJobName = 'monitor-run';
export const monitorShardJobName = 'monitor-shard';
export type MonitorQueue = Queue<MonitorJobData, unknown, string>;

export function monitorQueueName(baseQueueName: string): string {
  return `${baseQueueName}-monitors`;
}

/** The id of the per-monitor job scheduler of releases before shards; a worker removes these at start. */
export function legacySchedulerIdOf(monitorId: string): string {
  return `monitor:${monitorId}`;
}

// A run whose target is down is a result, not a failed job; only our own errors fail a job. The next tick
// comes anyway, so failed runs are not retried, and finished jobs are not kept.
export const runJobOptions: JobsOptions = {
  attempts: 1,
  removeOnComplete: true,
  removeOnFail: { count: 1000 },
};

/**
 * A shard tick's job has a BullMQ priority and a one-off run none: BullMQ takes jobs without one first, so a
 * re-check (or a first run) queued behind waiting ticks is taken before them, not after the ticks of every shard.
 * What it costs falls on the ticks, a few a second (4 at 100,000 monitors of 60 s): each goes through the
 * prioritized set (a ZADD, O(log n) in the ticks waiting) instead of the wait list, while the one-off runs, up to
 * one per failing monitor, stay on the list's O(1) push.
 */
export const shardJobPriority = 1;

export const shardJobOptions: JobsOptions = { ...runJobOptions, priority: shardJobPriority };

type Placed = Pick<MonitorRecord, 'id' | 'intervalSeconds'>;

export class MonitorScheduler {
  private readonly batcher = new RunBatcher((runs) => this.runManyNow(runs));

  constructor(
    readonly queue: MonitorQueue,
    readonly shards: ShardStore,
    private readonly firstTickDelayMs: number,
  ) {}

  /**
   * Puts the monitor in the shard of its interval and spread (out of its previous one, when its interval changed)
   * and makes sure that shard has its job scheduler. An unchanged shard keeps its ticks where they were.
   */
  async upsert(monitor: Placed, previous?: Placed): Promise<void> {
    const shard = shardOf(monitor);
    await this.shards.place(monitor.id, shard, previous ? shardOf(previous) : undefined);
    await this.ensureShard(shard);
  }

  /**
   * Puts many new monitors in their shards: the memberships are written into `transaction`, the caller's (the
   * one that writes their records, so records and memberships land together); answers the shards they fall in,
   * for ensureShards once the transaction is done.
   */
  placeManyIn(transaction: ChainableCommander, monitors: readonly Placed[]): Shard[] {
    const byShard = new Map<string, { shard: Shard; ids: string[] }>();
    for (const monitor of monitors) {
      const shard = shardOf(monitor);
      const entry = byShard.get(shardIdOf(shard)) ?? { shard, ids: [] };
      entry.ids.push(monitor.id);
      byShard.set(shardIdOf(shard), entry);
    }
    this.shards.placeManyIn(transaction, [...byShard.values()]);
    return [...byShard.values()].map(({ shard }) => shard);
  }

  /**
   * Makes sure each shard has its job scheduler, once per shard: `ensured` remembers those already checked across
   * calls of one bulk creation. Members first, then the scheduler, as upsert does: a reconcile that finds the
   * shard empty cannot drop it.
   */
  async ensureShards(shards: readonly Shard[], ensured = new Set<string>()): Promise<void> {
    const unchecked = shards.filter((shard) => !ensured.has(shardIdOf(shard)));
    await Promise.all(unchecked.map((shard) => this.ensureShard(shard)));
    for (const shard of unchecked) ensured.add(shardIdOf(shard));
  }

  /** Creates the shard's job scheduler unless it exists; its ticks fall at the shard's offset in its interval. */
  async ensureShard(shard: Shard): Promise<void> {
    if (await this.queue.getJobScheduler(shardIdOf(shard))) return;
    await this.startShard(shard);
  }

  /**
   * Creates (or repairs) the shard's job scheduler. A new one's first tick is the shard's first after `delayMs`
   * (the configured first-tick delay; a repair passes 0 to resume at once); an existing scheduler keeps its next
   * tick (BullMQ replaces its delayed job with one for the same time).
   */
  async startShard(shard: Shard, delayMs = this.firstTickDelayMs): Promise<void> {
    const id = shardIdOf(shard);
    await this.queue.upsertJobScheduler(
      id,
      { every: shard.everyMs, startDate: nextTickAtOrAfter(shard, Date.now() + delayMs) },
      { name: monitorShardJobName, data: { shard: id }, opts: shardJobOptions },
    );
  }

  async stopShard(shard: Shard): Promise<void> {
    await this.queue.removeJobScheduler(shardIdOf(shard));
  }

  /** Takes the monitor out of its shard: its next tick does not run it. */
  async remove(monitor: Placed): Promise<void> {
    await this.shards.remove(monitor.id, shardOf(monitor));
  }

  /**
   * Runs the monitor as soon as a worker is free, ahead of the shard ticks waiting (first run after create,
   * re-checks, tests). Returns the job id.
   * A `jobId` makes it idempotent: a second call with the same id adds nothing while the first job is kept.
   */
  async runNow(monitorId: string, trigger: RunTrigger, delayMs = 0, jobId?: string): Promise<string> {
    const job = await this.queue.add(
      monitorRunJobName,
      { monitorId, trigger },
      { ...runJobOptions, ...(delayMs > 0 ? { delay: delayMs } : {}), ...(jobId ? { jobId } : {}) },
    );
    return job.id ?? '';
  }

  /**
   * Runs the monitor soon, as runNow does, but queued with the other runs asked for at the same moment (the
   * re-checks of many failures of one tick): one addBulk for all of them. Resolves once it is queued.
   */
  runSoon(run: OneOffRun): Promise<void> {
    return this.batcher.add(run);
  }

  /**
   * Runs many monitors as soon as a worker is free, queued in one round trip (BullMQ addBulk). A `jobId` makes
   * each idempotent as in runNow.
   */
  async runManyNow(runs: readonly OneOffRun[]): Promise<void> {
    if (runs.length === 0) return;
    await this.queue.addBulk(
      runs.map((run) => ({
        name: monitorRunJobName,
        data: { monitorId: run.monitorId, trigger: run.trigger },
        opts: {
          ...runJobOptions,
          ...(run.delayMs && run.delayMs > 0 ? { delay: run.delayMs } : {}),
          ...(run.jobId ? { jobId: run.jobId } : {}),
        },
      })),
    );
  }

  /**
   * Delivers one tick of a shard now, as its job scheduler would: members that ran this tick (or a later one)
   * already are not run again. For tests and for an operator re-running a tick a worker could not finish.
   */
  async runTick(shard: Shard, tickMs: number, jobId?: string): Promise<string> {
    const job = await this.queue.add(
      monitorShardJobName,
      { shard: shardIdOf(shard), tickMs },
      { ...shardJobOptions, ...(jobId ? { jobId } : {}) },
    );
    return job.id ?? '';
  }

  /** When the monitor runs next (its shard's next tick and its own time in the slice), if it has a schedule. */
  async nextTickMs(monitor: Placed): Promise<number | undefined> {
    const shard = shardOf(monitor);
    const next = (await this.queue.getJobScheduler(shardIdOf(shard)))?.next;
    return next === undefined ? undefined : memberDueAtMs(monitor.id, shard, next);
  }

  /** The next tick of every shard with a job scheduler, by shard id: one read for a whole list of monitors. */
  async nextTicksByShard(): Promise<Map<string, number>> {
    const schedulers = await this.queue.getJobSchedulers(0, -1);
    return new Map(
      schedulers.flatMap((entry) => (entry.next !== undefined ? [[entry.key, entry.next] as const] : [])),
    );
  }
}

/** The time the scheduler meant a job to run, read from its id (repeat:<scheduler id>:<millis>). */
export function scheduledAtOf(jobId: string | undefined): number | undefined {
  if (!jobId?.startsWith('repeat:')) return undefined;
  const millis = Number(jobId.slice(jobId.lastIndexOf(':') + 1));
  return Number.isFinite(millis) ? millis : undefined;
}
