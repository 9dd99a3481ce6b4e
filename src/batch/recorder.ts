// Records an item's result once, counts it, and frees its client's slot when it was the batch's last.
import type { BatchItem } from './item.js';
import type { BatchMetrics } from './metrics.js';
import type { BatchStore, RecordOutcome } from './store.js';

export type ItemRecorder = (batchId: string, item: BatchItem) => Promise<RecordOutcome>;

export function createItemRecorder(store: BatchStore, metrics: BatchMetrics): ItemRecorder {
  return async (batchId, item) => {
    const outcome = await store.record(batchId, item);
    if (outcome.kind !== 'recorded') return outcome;
    metrics.itemsTotal.inc({ cause: item.cause });
    if (outcome.isBatchFinished) {
      metrics.batchesTotal.inc({ event: 'finished' });
      // Another key than the batch's: its own command. A failure here is mended by the next submission's check.
      await store.removeRunning(outcome.clientId, batchId).catch(() => undefined);
    }
    return outcome;
  };
}
