// Many monitors created at once (POST /monitors/bulk, the benches): records, shard memberships, shard job schedulers
// and first runs written in a few grouped Redis commands per chunk, not several round trips per monitor.
import type { MonitorRecord } from './records.js';
import type { OneOffRun } from './schedule/run-batcher.js';
import { memberDueAtMs, type Shard, shardIdOf, shardOf, spreadMs } from './schedule/shards.js';
import type { MonitorScheduler } from './scheduler.js';
import type { MonitorStore } from './store.js';

/** Monitors written together: one MULTI of records and memberships, one addBulk of first runs. */
export const bulkChunkSize = 1000;

export interface BulkCreation {
  /** How many of the records given (the first ones, in order) exist now; the rest were not written. */
  created: number;
  /**
   * The Redis error that stopped the creation, if one did. Records written before it stay: their memberships and
   * shard schedulers, when the error cut those short, are rebuilt by the workers' reconcile from the records.
   */
  error?: unknown;
}

export async function createMonitors(
  deps: { store: MonitorStore; scheduler: MonitorScheduler },
  records: readonly MonitorRecord[],
  options: {
    /**
     * Queue the first runs, within this long of the creation (MONITOR_BULK_FIRST_RUN_WITHIN_SECONDS); without
     * it, each monitor's first run is its first tick.
     */
    firstRunWithinMs?: number;
  },
): Promise<BulkCreation> {
  const ensured = new Set<string>();
  let created = 0;
  for (let start = 0; start < records.length; start += bulkChunkSize) {
    const chunk = records.slice(start, start + bulkChunkSize);
    let shards: Shard[] = [];
    try {
      // Records and memberships in one transaction: a monitor cannot exist outside its shard.
      await deps.store.putMonitors(chunk, (transaction) => {
        shards = deps.scheduler.placeManyIn(transaction, chunk);
      });
    } catch (error) {
      return { created, error };
    }
    created += chunk.length;
    try {
      await deps.scheduler.ensureShards(shards, ensured);
      if (options.firstRunWithinMs !== undefined)
        await deps.scheduler.runManyNow(
          firstRunsOf(chunk, await deps.scheduler.nextTicksByShard(), options.firstRunWithinMs, Date.now()),
        );
    } catch (error) {
      return { created, error };
    }
  }
  return { created };
}

/**
 * The one-off first runs of monitors created together. POST /monitors queues one at once; 100,000 created in bulk
 * would be 100,000 runs due at once, each run again by its first tick within the interval. Here a monitor whose
 * first tick comes within `withinMs` has that tick as its first run (no run of its own), and each of the others
 * (a long interval, a first-tick delay) a run at its own time in the window, drawn from its id: the first runs
 * of a bulk creation are spread as evenly as its ticks.
 */
export function firstRunsOf(
  records: readonly MonitorRecord[],
  nextTicks: ReadonlyMap<string, number>,
  withinMs: number,
  nowMs: number,
): OneOffRun[] {
  return records.flatMap((record): OneOffRun[] => {
    const shard = shardOf(record);
    const nextTickMs = nextTicks.get(shardIdOf(shard));
    if (nextTickMs !== undefined && memberDueAtMs(record.id, shard, nextTickMs) - nowMs <= withinMs)
      return [];
    const delayMs = spreadMs(record.id, withinMs);
    return [{ monitorId: record.id, trigger: 'manual', ...(delayMs > 0 ? { delayMs } : {}) }];
  });
}
