// Many monitors created at once (POST /monitors/bulk, the benches): records, shard memberships, shard job schedulers
// and first runs written in a few grouped Redis commands per chunk, not several round trips per monitor.
import type { MonitorRecord } from './records.js';
import type { Shard } from './schedule/shards.js';
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
  options: { isFirstRunQueued: boolean },
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
      // The first check now, not at the first tick, as POST /monitors does.
      if (options.isFirstRunQueued)
        await deps.scheduler.runManyNow(chunk.map((record) => ({ monitorId: record.id, trigger: 'manual' })));
    } catch (error) {
      return { created, error };
    }
  }
  return { created };
}
