// One tick of one shard: its members started each at its own time in the shard's slice and probed in parallel
// (bounded per process), their runs kept in batches, and each monitor's run for the tick kept at most once,
// whichever worker or redelivery of the job gets there first.
import { setTimeout as delay } from 'node:timers/promises';
import { runAsMember } from '../../abort-fan-out.js';
import { isInMaintenance } from '../maintenance.js';
import type { MonitorRecord } from '../records.js';
import type { RunResult } from '../run-result.js';
import { applyRun, type MonitorRunnerDeps, probeMonitor } from '../runner.js';
import type { Limiter } from './limiter.js';
import type { ShardStore } from './shard-store.js';
import { memberDueAtMs, type Shard, shardIdOf, shardOf } from './shards.js';

export interface ShardRunDeps extends MonitorRunnerDeps {
  shards: ShardStore;
  /** Probes in flight in this process, shared by every shard and one-off run (MONITOR_CONCURRENCY). */
  limiter: Limiter;
}

export interface ShardTickOutcome {
  members: number;
  /** Runs kept for this tick by this call. */
  ran: number;
  /** Members another worker (or an earlier delivery of the job) had already run for this tick. */
  alreadyRun: number;
  /** Members whose record is gone or whose interval moved them to another shard: not this shard's to run. */
  notMembers: number;
  /** Runs that failed on our side (Redis, the vantages' queue): logged, not retried; the next tick comes. */
  failed: number;
  /** The job was cut short (shutdown deadline): members not run yet are left for a redelivery. */
  isInterrupted: boolean;
}

/** Runs kept together in one batch at most; while one batch is written, the next gathers. */
const maxBatch = 256;

/** How long a batch waits for more runs after its first: about 30 of a 417-member shard, one write for them. */
const gatherMs = 20;

export async function runShardTick(
  deps: ShardRunDeps,
  shard: Shard,
  tickMs: number,
  signal?: AbortSignal,
): Promise<ShardTickOutcome> {
  const members = await deps.shards.members(shard);
  const due = await deps.shards.notYetRun(members, tickMs);
  const records = await deps.store.getMonitors(due);
  const writer = new RunWriter(deps, tickMs);
  const outcome: ShardTickOutcome = {
    members: members.length,
    ran: 0,
    alreadyRun: members.length - due.length,
    notMembers: 0,
    failed: 0,
    isInterrupted: false,
  };
  const shardId = shardIdOf(shard);
  const startedMs = Date.now();
  const timed: Array<{ monitor: MonitorRecord; dueMs: number }> = [];
  for (const monitor of records) {
    // Deleted, or moved by a new interval since the membership was read: the record is the truth.
    if (!monitor || shardIdOf(shardOf(monitor)) !== shardId) outcome.notMembers += 1;
    else timed.push({ monitor, dueMs: memberDueAtMs(monitor.id, shard, tickMs) });
  }
  // Each member in the order of its time in the slice, none before it: a tick taken up early (delivered by hand)
  // keeps the members' spacing from when it was taken.
  timed.sort((a, b) => a.dueMs - b.dueMs);
  const runOne = async (monitor: MonitorRecord, dueMs: number) => {
    try {
      const result = await deps.limiter.run(async () => {
        if (signal?.aborted) return undefined;
        const probed = await runAsMember(signal, (memberSignal) =>
          probeMonitor(monitor, deps, {
            trigger: 'schedule',
            isMaintenance: isInMaintenance(monitor, Date.now()),
            scheduledAtMs: dueMs,
            ...(memberSignal ? { signal: memberSignal } : {}),
          }),
        );
        // A probe cut short by our shutdown says nothing about the site: it is not kept.
        return signal?.aborted ? undefined : probed;
      });
      if (!result) {
        outcome.isInterrupted = true;
        return;
      }
      if ((await writer.keep(monitor, result)) === 'kept') outcome.ran += 1;
      else outcome.alreadyRun += 1;
    } catch (error) {
      outcome.failed += 1;
      deps.logger.warn({ err: error, monitorId: monitor.id, tickMs }, 'monitor run failed');
    }
  };
  const runs: Array<Promise<void>> = [];
  for (const { monitor, dueMs } of timed) {
    const startAtMs = Math.min(dueMs, startedMs + dueMs - tickMs);
    // A timer may fire a little before the wall clock reaches its time: waited again until it has.
    let isWaited = true;
    for (let waitMs = startAtMs - Date.now(); waitMs > 0 && isWaited; waitMs = startAtMs - Date.now())
      isWaited = await waitFor(waitMs, signal);
    if (!isWaited) {
      outcome.isInterrupted = true;
      break;
    }
    runs.push(runOne(monitor, dueMs));
  }
  await Promise.all(runs);
  return outcome;
}

/** Waits `ms`; answers false at once when the signal aborts. */
async function waitFor(ms: number, signal?: AbortSignal): Promise<boolean> {
  try {
    await delay(ms, undefined, signal ? { signal } : {});
    return true;
  } catch (error) {
    if (signal?.aborted) return false;
    throw error;
  }
}

interface Waiting {
  monitor: MonitorRecord;
  result: RunResult;
  resolve(outcome: 'kept' | 'alreadyRun'): void;
  reject(error: unknown): void;
}

/**
 * Keeps finished runs of one tick in batches: one claim of the tick and one read of the statuses for the whole
 * batch, then each run's history and state. A batch gathers the runs finishing within `gatherMs` of its first
 * (members start spread over the slice, so they finish spread too), or those finishing while the previous batch is
 * written, up to `maxBatch`. A run not written yet is not claimed either: a redelivery of the tick runs it.
 */
class RunWriter {
  private readonly waiting: Waiting[] = [];
  private isWriting = false;
  private gathering: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: ShardRunDeps,
    private readonly tickMs: number,
  ) {}

  keep(monitor: MonitorRecord, result: RunResult): Promise<'kept' | 'alreadyRun'> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ monitor, result, resolve, reject });
      if (this.isWriting) return;
      if (this.waiting.length >= maxBatch) {
        clearTimeout(this.gathering);
        this.gathering = undefined;
        void this.writeAll();
      } else
        this.gathering ??= setTimeout(() => {
          this.gathering = undefined;
          void this.writeAll();
        }, gatherMs);
    });
  }

  private async writeAll(): Promise<void> {
    this.isWriting = true;
    try {
      while (this.waiting.length > 0) await this.write(this.waiting.splice(0, maxBatch));
    } finally {
      this.isWriting = false;
    }
  }

  private async write(batch: Waiting[]): Promise<void> {
    const ids = batch.map((item) => item.monitor.id);
    let claimed: Set<string>;
    let statuses: Awaited<ReturnType<ShardRunDeps['store']['getStatusesOf']>>;
    try {
      [claimed, statuses] = await Promise.all([
        this.deps.shards.claim(ids, this.tickMs),
        this.deps.store.getStatusesOf(ids),
      ]);
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    await Promise.all(
      batch.map(async (item, index) => {
        if (!claimed.has(item.monitor.id)) return item.resolve('alreadyRun');
        try {
          await applyRun(this.deps, item.monitor, item.result, statuses[index]);
          item.resolve('kept');
        } catch (error) {
          item.reject(error);
        }
      }),
    );
  }
}
