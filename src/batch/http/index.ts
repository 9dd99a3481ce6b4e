// What the service wires for batches: the API side (routes, store, the batch lane's queue) and the worker side.
import { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import type { BatchSettings } from '../../config.js';
import { closeOnce } from '../../lifecycle.js';
import type { BullConnection, RedisClient } from '../../redis/connection.js';
import type { MemoryGauge } from '../../redis/memory.js';
import type { AddressPolicy } from '../../safety/address-policy.js';
import type { VantageRegistry } from '../../vantages/registry.js';
import { type BatchQueue, batchQueueName, itemJobOptions } from '../jobs.js';
import { batchMetricsOf } from '../metrics.js';
import { createItemRecorder } from '../recorder.js';
import { BatchStore } from '../store.js';
import { batchOpenApi } from './openapi.js';
import { createBatchRoutes } from './routes.js';

export { batchOpenApi };

export interface BatchApi {
  router: ReturnType<typeof createBatchRoutes>;
  /** Ends the streams that follow a batch, so the server can close; called first at shutdown. */
  release(): void;
  close(): Promise<void>;
}

export function createBatchApi(options: {
  redis: RedisClient;
  /** The batch queue's connection and key prefix (RedisConnector.bullOn): the batch workers read that queue. */
  bull: BullConnection;
  baseQueueName: string;
  settings: BatchSettings;
  policy: AddressPolicy;
  registry: Registry;
  memory: MemoryGauge;
  jobAttempts: number;
  jobBackoffMs: number;
  /** The live vantages a batch with `vantages` is probed from. */
  vantages?: { registry: VantageRegistry };
}): BatchApi {
  const { settings } = options;
  const store = new BatchStore(options.redis, options.baseQueueName, settings.resultTtlSeconds);
  const queue: BatchQueue = new Queue(batchQueueName(options.baseQueueName), options.bull);
  queue.on('error', () => undefined); // Redis away: routes answer 503 problems; the queue reconnects by itself.
  const metrics = batchMetricsOf(options.registry);
  const closing = new AbortController();
  const router = createBatchRoutes({
    store,
    queue,
    record: createItemRecorder(store, metrics),
    metrics,
    redis: options.redis,
    policy: options.policy,
    memory: options.memory,
    limits: settings,
    jobOptions: itemJobOptions({
      attempts: options.jobAttempts,
      backoffMs: options.jobBackoffMs,
      resultTtlSeconds: settings.resultTtlSeconds,
    }),
    closing: closing.signal,
    ...(options.vantages ? { vantages: options.vantages } : {}),
  });
  return {
    router,
    release: () => closing.abort(),
    close: closeOnce(async () => {
      closing.abort();
      await queue.close();
    }),
  };
}
