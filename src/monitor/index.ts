// Scheduled monitoring: what the service wires in (API routes, the status page, metrics, worker processors).
import { Queue } from 'bullmq';
import { Counter, type Registry } from 'prom-client';
import type { Keyspace, RedisClient } from '../redis/connection.js';
import type { AddressPolicy } from '../safety/address-policy.js';
import { ChannelStore } from './alerting/channel-store.js';
import { channelPolicyOf } from './alerting/destination-policy.js';
import { createChannelSenders } from './alerting/senders.js';
import type { MonitorConfig } from './config.js';
import type { MonitorBulkDeps } from './http/bulk-routes.js';
import type { ChannelApiDeps } from './http/channel-routes.js';
import { registerMonitorMetrics } from './metrics.js';
import { ShardStore } from './schedule/shard-store.js';
import { type MonitorQueue, MonitorScheduler, monitorQueueName } from './scheduler.js';
import { MonitorStore } from './store.js';
import { monitorKeyPrefix } from './workers.js';

export { checkConfiguredDestinations, syncConfiguredChannels } from './alerting/channel-file.js';
export { channelPolicyOf } from './alerting/destination-policy.js';
export { loadMonitorConfig, type MonitorConfig } from './config.js';
export { createMonitorBulkRouter } from './http/bulk-routes.js';
export { channelOpenApi } from './http/channel-openapi.js';
export { createChannelRouter } from './http/channel-routes.js';
export { monitorOpenApi } from './http/openapi.js';
export {
  createMonitorRouter,
  createStatusRouter,
  type MonitorApiDeps,
  type StatusRouterDeps,
} from './http/routes.js';
export {
  type MonitorWorkers,
  type MonitorWorkersDeps,
  type RunEvent,
  startMonitorWorkers,
} from './workers.js';

export interface MonitorApi extends MonitorBulkDeps, ChannelApiDeps {
  close(): Promise<void>;
}

/**
 * The API side: the store, the channels and the scheduler queue on the API's (fail-fast) Redis client, the
 * senders POST /channels/:id/test uses, and the per-monitor gauges on its registry. `close()` closes the queue
 * and the senders' connections; the client stays its owner's.
 */
export function createMonitorApi(options: {
  redis: RedisClient;
  /** Where the store's keys and the queue's prefix are (hash-tagged on a Cluster). */
  keys: Keyspace;
  baseQueueName: string;
  config: MonitorConfig;
  policy: AddressPolicy;
  registry?: Registry;
}): MonitorApi {
  const { config } = options;
  const store = new MonitorStore(options.redis, {
    keyPrefix: monitorKeyPrefix(options.keys, options.baseQueueName),
    historyMaxAgeSeconds: config.history.maxAgeSeconds,
    historyMaxEntries: config.history.maxEntries,
  });
  const queue: MonitorQueue = new Queue(monitorQueueName(options.baseQueueName), {
    connection: options.redis,
    prefix: options.keys.bullPrefix,
  });
  queue.on('error', () => undefined); // Redis away: routes answer 503 problems; the queue reconnects by itself.
  const scheduler = new MonitorScheduler(
    queue,
    new ShardStore(options.redis, monitorKeyPrefix(options.keys, options.baseQueueName)),
    config.firstTickDelayMs,
  );
  if (options.registry) registerMonitorMetrics(options.registry, store);
  const bulkItems = options.registry
    ? new Counter({
        name: 'reach_monitor_bulk_items_total',
        help: 'Items of POST /monitors/bulk, by outcome (created, invalid, refused, unavailable).',
        labelNames: ['outcome'] as const,
        registers: [options.registry],
      })
    : undefined;
  const channelPolicy = channelPolicyOf(config, options.policy);
  const senders = createChannelSenders({ policy: channelPolicy, timeoutMs: config.alerts.timeoutMs });
  return {
    store,
    channels: new ChannelStore(options.redis, monitorKeyPrefix(options.keys, options.baseQueueName)),
    senders,
    channelPolicy,
    publicBaseUrl: config.publicBaseUrl,
    configuredChannelIds: new Set(config.alerts.configuredChannels.map((channel) => channel.id)),
    scheduler,
    policy: options.policy,
    config,
    ...(bulkItems ? { bulkItems } : {}),
    close: async () => {
      await Promise.allSettled([queue.close(), senders.close()]);
    },
  };
}
