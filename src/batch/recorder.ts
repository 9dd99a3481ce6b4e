// Records items' results once, counts them, and frees the client's slot with a batch's last. The items of one
// batch that end close together are written by one script call (store.recordMany), not one call each.
import type { BatchItem } from './item.js';
import type { BatchMetrics } from './metrics.js';
import { type BatchStore, type RecordOutcome, recordGroupMax } from './store.js';

export type ItemRecorder = (batchId: string, item: BatchItem) => Promise<RecordOutcome>;

/** How long an item waits for others of its batch to share its write: short beside a probe, long beside a tick. */
const groupWindowMs = 5;

interface Waiting {
  item: BatchItem;
  resolve: (outcome: RecordOutcome) => void;
  reject: (error: unknown) => void;
}

/**
 * The recorder of a process: an item is written with the others of its batch that arrive within groupWindowMs
 * (or at once when recordGroupMax are waiting), and its promise settles with that write, so a caller that awaits
 * it knows its result is kept. A write that fails rejects every item it held.
 */
export function createItemRecorder(store: BatchStore, metrics: BatchMetrics): ItemRecorder {
  const waiting = new Map<string, { items: Waiting[]; timer: NodeJS.Timeout }>();

  /** Counts a write's kept items, by cause (one label lookup per cause met, not per item), and frees the slot. */
  const counted = async (batchId: string, group: readonly Waiting[], outcomes: readonly RecordOutcome[]) => {
    const byCause = new Map<string, number>();
    let finished: { clientId: string } | undefined;
    outcomes.forEach((outcome, position) => {
      if (outcome.kind !== 'recorded') return;
      const cause = (group[position] as Waiting).item.cause;
      byCause.set(cause, (byCause.get(cause) ?? 0) + 1);
      if (outcome.isBatchFinished) finished = outcome;
    });
    for (const [cause, count] of byCause) metrics.itemsTotal.inc({ cause }, count);
    if (!finished) return;
    metrics.batchesTotal.inc({ event: 'finished' });
    // Another key than the batch's: its own command. A failure here is mended by the next submission's check.
    await store.removeRunning(finished.clientId, batchId).catch(() => undefined);
  };

  const write = async (batchId: string, group: Waiting[]) => {
    try {
      const written = await store.recordMany(
        batchId,
        group.map((entry) => entry.item),
      );
      const outcomes = group.map(
        (_entry, position): RecordOutcome => written[position] ?? { kind: 'unknown' },
      );
      await counted(batchId, group, outcomes);
      group.forEach((entry, position) => {
        entry.resolve(outcomes[position] as RecordOutcome);
      });
    } catch (error) {
      for (const entry of group) entry.reject(error);
    }
  };

  const flush = (batchId: string) => {
    const pending = waiting.get(batchId);
    if (!pending) return;
    waiting.delete(batchId);
    clearTimeout(pending.timer);
    void write(batchId, pending.items);
  };

  return (batchId, item) =>
    new Promise<RecordOutcome>((resolve, reject) => {
      let pending = waiting.get(batchId);
      if (!pending) {
        pending = { items: [], timer: setTimeout(() => flush(batchId), groupWindowMs) };
        waiting.set(batchId, pending);
      }
      pending.items.push({ item, resolve, reject });
      if (pending.items.length >= recordGroupMax) flush(batchId);
    });
}
