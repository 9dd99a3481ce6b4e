// The worker side of monitoring: the run processor and the webhook delivery processor, each on its BullMQ queue.
import { EventEmitter } from 'node:events';
import { DelayedError, type Job, Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import { closeOnce, closeWithin, runCleanups } from '../lifecycle.js';
import { closeRedisClient, type Keyspace, type RedisConnector } from '../redis/connection.js';
import type { ProbeDefaults } from '../requests/probe-options.js';
import type { AddressPolicy } from '../safety/address-policy.js';
import { refuseTargets } from '../safety/target-check.js';
import { createFanOutSubmitter } from '../vantages/fan-out.js';
import { compareQueueName, VantageRegistry } from '../vantages/registry.js';
import {
  type AlertJobData,
  type AlertQueue,
  alertJobSchema,
  alertQueueName,
  createWebhookDelivery,
  WebhookRefusedError,
} from './alerting/alerts.js';
import { DeliveryLanes, destinationOf } from './alerting/delivery-lanes.js';
import type { MonitorConfig } from './config.js';
import { type RunEvent, runMonitor } from './runner.js';
import {
  type MonitorQueue,
  type MonitorRunJobData,
  MonitorScheduler,
  monitorQueueName,
  scheduledAtOf,
} from './scheduler.js';
import { MonitorStore } from './store.js';
import type { MonitorVantages } from './vantage-run.js';

export interface MonitorWorkersDeps {
  /** Makes every Redis client and BullMQ connection of the monitor workers. */
  redis: RedisConnector;
  /** The service's QUEUE_NAME: monitor runs and alerts use "<name>-monitors" and "<name>-alerts". */
  baseQueueName: string;
  config: MonitorConfig;
  probeDefaults: ProbeDefaults;
  policy: AddressPolicy;
  logger: Logger;
  registry?: Registry;
  lockDurationMs?: number;
  /** The vantages' heartbeat interval (VANTAGE_HEARTBEAT_SECONDS): how recent a live vantage's beat is. */
  vantageHeartbeatMs?: number;
  stalledIntervalMs?: number;
}

export interface MonitorWorkers {
  /**
   * 'run' (RunEvent) after each applied run; 'delivered' / 'deliveryFailed' ({ jobId, attempt, ... }) per webhook
   * attempt; 'deliveryRefused' ({ jobId, destination }) when the address policy refuses a webhook (final).
   */
  events: EventEmitter;
  store: MonitorStore;
  scheduler: MonitorScheduler;
  isRunning(): boolean;
  /** Stops taking runs and deliveries, waits for those in flight up to the deadline, closes the connections. */
  close(deadlineMs?: number): Promise<void>;
}

/** A destination whose last attempt failed takes the slow lane for this long. */
const suspectDestinationForMs = 5 * 60_000;
/** How long a delivery whose lane is full waits before it is tried again. */
const laneDeferMs = 250;

/** The monitor store's keys: one group, since its scripts and MULTIs span monitors, statuses and incidents. */
export function monitorKeyPrefix(keys: Keyspace, baseQueueName: string): string {
  return keys.group(`${baseQueueName}:monitor`);
}

export function startMonitorWorkers(deps: MonitorWorkersDeps): MonitorWorkers {
  const { config, logger } = deps;
  const redis = deps.redis.client('blocking');
  redis.on('error', (error) => logger.debug({ err: error }, 'monitor redis error'));
  const store = new MonitorStore(redis, {
    keyPrefix: monitorKeyPrefix(deps.redis.keys, deps.baseQueueName),
    historyMaxAgeSeconds: config.history.maxAgeSeconds,
    historyMaxEntries: config.history.maxEntries,
  });
  // The queues get a client of their own: BullMQ defines its ~60 scripts on the client it is given, and ioredis
  // copies every defined script into each MULTI, which made the store's per-run MULTI the worker's top cost.
  const queueRedis = deps.redis.client('blocking');
  queueRedis.on('error', (error) => logger.debug({ err: error }, 'monitor queue redis error'));
  const queueBull = deps.redis.bullOn(queueRedis);
  const runQueue: MonitorQueue = new Queue(monitorQueueName(deps.baseQueueName), queueBull);
  const alertQueue: AlertQueue = new Queue(alertQueueName(deps.baseQueueName), queueBull);
  runQueue.on('error', (error) => logger.debug({ err: error }, 'monitor queue error'));
  alertQueue.on('error', (error) => logger.debug({ err: error }, 'alert queue error'));
  const scheduler = new MonitorScheduler(runQueue, config.firstTickDelayMs);
  const events = new EventEmitter();
  events.setMaxListeners(100);
  const metrics = deps.registry ? createWorkerMetrics(deps.registry) : undefined;

  // Monitors with vantages fan out like POST /probe and wait for the comparison.
  const compareEvents = new QueueEvents(compareQueueName(deps.baseQueueName), deps.redis.bullBlocking());
  compareEvents.on('error', (error) => logger.debug({ err: error }, 'compare queue events error'));
  const fanOut = createFanOutSubmitter({ bull: queueBull, baseQueueName: deps.baseQueueName });
  const vantages: MonitorVantages = {
    registry: new VantageRegistry(
      queueRedis,
      deps.redis.keys,
      deps.baseQueueName,
      deps.vantageHeartbeatMs ?? 5000,
    ),
    fanOut,
    compareEvents,
    close: async () => {
      await fanOut.close();
      await compareEvents.close();
    },
  };

  const runWorker = new Worker<MonitorRunJobData>(
    monitorQueueName(deps.baseQueueName),
    async (job: Job<MonitorRunJobData>, _token?: string, signal?: AbortSignal) => {
      const scheduledAtMs = scheduledAtOf(job.id);
      if (scheduledAtMs !== undefined)
        metrics?.scheduleLagSeconds.observe(Math.max(0, Date.now() - scheduledAtMs) / 1000);
      const outcome = await runMonitor(
        {
          store,
          scheduler,
          alertQueue,
          config,
          probeDefaults: deps.probeDefaults,
          policy: deps.policy,
          logger,
          events,
          vantages,
        },
        job.data,
        { ...(scheduledAtMs !== undefined ? { scheduledAtMs } : {}), ...(signal ? { signal } : {}) },
      );
      if (outcome.outcome === 'applied') {
        metrics?.runsTotal.inc({ trigger: job.data.trigger, health: outcome.event.result.entry.health });
      }
      return outcome.outcome;
    },
    {
      ...deps.redis.bullBlocking(),
      concurrency: config.concurrency,
      lockDuration: deps.lockDurationMs ?? 30_000,
      stalledInterval: deps.stalledIntervalMs ?? 30_000,
      maxStalledCount: 1,
    },
  );
  runWorker.on('error', (error) => logger.warn({ err: error }, 'monitor worker connection error'));
  runWorker.on('failed', (job, error) => logger.warn({ jobId: job?.id, err: error }, 'monitor run failed'));

  const delivery = createWebhookDelivery({ policy: deps.policy, timeoutMs: config.alerts.timeoutMs });
  const lanes = new DeliveryLanes({
    concurrency: config.alerts.concurrency,
    perDestination: config.alerts.perDestinationConcurrency,
    suspectForMs: suspectDestinationForMs,
  });
  const alertWorker = new Worker<AlertJobData>(
    alertQueueName(deps.baseQueueName),
    async (job: Job<AlertJobData>, token?: string) => {
      const checked = alertJobSchema.safeParse(job.data);
      if (!checked.success) {
        metrics?.alertsTotal.inc({ outcome: 'refused' });
        throw new UnrecoverableError('the webhook job data is not valid');
      }
      const { webhook, payload } = checked.data;
      const destination = destinationOf(webhook.url);
      const refusal = refuseTargets({ webhookUrls: [webhook.url] }, deps.policy);
      if (refusal) {
        metrics?.alertsTotal.inc({ outcome: 'refused' });
        events.emit('deliveryRefused', { jobId: job.id, destination });
        throw new UnrecoverableError(`webhook to ${destination} refused: ${refusal.address} is not allowed`);
      }
      const secret = await secretOf(webhook, store, config);
      if (secret === undefined) {
        logger.info({ jobId: job.id, destination }, 'webhook no longer configured: alert dropped');
        return { outcome: 'dropped' };
      }
      const lease = lanes.acquire(destination, job.attemptsMade > 0);
      if (!lease) {
        // Its lane is full: back to the queue for a moment, without holding a slot or spending an attempt.
        // Spread over a window, so a burst for one destination does not come back all at once.
        await job.moveToDelayed(
          Date.now() + laneDeferMs + Math.floor(Math.random() * laneDeferMs * 3),
          token,
        );
        throw new DelayedError();
      }
      const attempt = job.attemptsMade + 1;
      try {
        const answer = await delivery.deliver(webhook.url, secret, payload, `${payload.id}:${job.id}`);
        lanes.recordOutcome(destination, true);
        metrics?.alertsTotal.inc({ outcome: 'delivered' });
        events.emit('delivered', { jobId: job.id, attempt, status: answer.status, payload });
        return { outcome: 'delivered', status: answer.status };
      } catch (error) {
        lanes.recordOutcome(destination, false);
        if (error instanceof WebhookRefusedError) {
          metrics?.alertsTotal.inc({ outcome: 'refused' });
          events.emit('deliveryRefused', { jobId: job.id, destination });
          throw new UnrecoverableError((error as Error).message);
        }
        metrics?.alertsTotal.inc({ outcome: 'failed_attempt' });
        events.emit('deliveryFailed', { jobId: job.id, attempt, message: (error as Error).message });
        throw error;
      } finally {
        lease.release();
      }
    },
    {
      ...deps.redis.bullBlocking(),
      concurrency: config.alerts.concurrency,
    },
  );
  alertWorker.on('error', (error) => logger.warn({ err: error }, 'alert worker connection error'));
  // Delivery errors name the destination only (scheme, host, port): a webhook's path carries its token.
  alertWorker.on('failed', (job, error) =>
    logger.warn(
      { jobId: job?.id, attempt: job?.attemptsMade, reason: error.message },
      'webhook delivery failed',
    ),
  );

  let isClosing = false;
  return {
    events,
    store,
    scheduler,
    isRunning: () => !isClosing && runWorker.isRunning() && alertWorker.isRunning(),
    close: closeOnce(async (deadlineMs = 30_000) => {
      isClosing = true;
      await closeWithin(
        deadlineMs,
        () => Promise.all([runWorker.close(), alertWorker.close()]),
        () => {
          runWorker.cancelAllJobs('shutdown deadline reached');
          alertWorker.cancelAllJobs('shutdown deadline reached');
        },
      ).catch((error) => logger.warn({ err: error }, 'monitor workers close failed'));
      await runCleanups(
        [
          ['webhook delivery', () => delivery.close()],
          ['monitor vantages', () => vantages.close()],
          ['monitor run queue', () => runQueue.close()],
          ['alert queue', () => alertQueue.close()],
          ['monitor queue redis', () => closeRedisClient(queueRedis)],
          ['monitor redis', () => closeRedisClient(redis)],
        ],
        (error, name) => logger.warn({ err: error, part: name }, 'monitor close failed'),
      );
    }),
  };
}

async function secretOf(
  webhook: AlertJobData['webhook'],
  store: MonitorStore,
  config: MonitorConfig,
): Promise<string | undefined> {
  if (webhook.scope === 'global') {
    const configured = config.alerts.globalWebhooks[webhook.index];
    return configured?.url === webhook.url ? configured.secret : undefined;
  }
  const monitor = await store.getMonitor(webhook.monitorId);
  const configured = monitor?.webhooks[webhook.index];
  return configured?.url === webhook.url ? configured.secret : undefined;
}

function createWorkerMetrics(registry: Registry) {
  return {
    scheduleLagSeconds: new Histogram({
      name: 'reach_monitor_schedule_lag_seconds',
      help: 'Time from when the scheduler meant a monitor run to start until a worker started it.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
    runsTotal: new Counter({
      name: 'reach_monitor_runs_total',
      help: 'Monitor runs applied by this worker, by trigger and health.',
      labelNames: ['trigger', 'health'],
      registers: [registry],
    }),
    alertsTotal: new Counter({
      name: 'reach_monitor_webhook_attempts_total',
      help: 'Webhook delivery attempts by outcome.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}

export type { RunEvent };
