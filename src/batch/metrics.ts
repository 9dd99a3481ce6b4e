// Prometheus metrics of batches: batches submitted, cancelled and finished, and their items by cause.
import { Counter, type Registry } from 'prom-client';

export interface BatchMetrics {
  batchesTotal: Counter<'event'>;
  itemsTotal: Counter<'cause'>;
}

// The API and the workers of one process share a registry (reach serve): the metrics are made once per registry.
const byRegistry = new WeakMap<Registry, BatchMetrics>();

export function batchMetricsOf(registry: Registry): BatchMetrics {
  let metrics = byRegistry.get(registry);
  if (!metrics) {
    metrics = {
      batchesTotal: new Counter({
        name: 'reach_batches_total',
        help: 'Batches by event: submitted, cancelled, finished (its last URL recorded).',
        labelNames: ['event'],
        registers: [registry],
      }),
      itemsTotal: new Counter({
        name: 'reach_batch_items_total',
        help: "Batch URLs recorded, by the verdict's cause, or refused, cancelled or failed when there is no report.",
        labelNames: ['cause'],
        registers: [registry],
      }),
    };
    byRegistry.set(registry, metrics);
  }
  return metrics;
}
