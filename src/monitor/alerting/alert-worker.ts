// The alert worker: delivers webhook jobs and channel jobs from the alert queue, each through the delivery
// lanes, with retries that wait what the receiver's Retry-After asked.
import type { EventEmitter } from 'node:events';
import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { RedisConnector } from '../../redis/connection.js';
import { redisErrorLogger } from '../../redis/errors.js';
import { brakeOnRefusedWrites } from '../../redis/refusal-brake.js';
import type { AddressPolicy } from '../../safety/address-policy.js';
import { refuseTargets } from '../../safety/target-check.js';
import type { MonitorConfig } from '../config.js';
import type { MonitorStore } from '../store.js';
import {
  type AlertJobData,
  alertBackoffMs,
  alertJobSchema,
  alertQueueName,
  type ChannelJobData,
  channelJobName,
  channelJobSchema,
  createWebhookDelivery,
  DeliveryError,
  type WebhookJobData,
  WebhookRefusedError,
} from './alerts.js';
import { configuredChannelRecord } from './channel-file.js';
import type { ChannelStore } from './channel-store.js';
import { DeliveryLanes, destinationOf } from './delivery-lanes.js';
import { destinationRefusalOf } from './destination-policy.js';
import { createChannelSenders } from './senders.js';

export interface AlertWorkerDeps {
  /** Hands the worker its blocking connection and the queues' key prefix. */
  redis: RedisConnector;
  baseQueueName: string;
  config: MonitorConfig;
  /** The policy for webhooks (the service's); channels use `channelPolicy`. */
  policy: AddressPolicy;
  /** The policy for channel destinations: the service's, or one that allows private addresses. */
  channelPolicy: AddressPolicy;
  store: MonitorStore;
  channels: ChannelStore;
  logger: Logger;
  /** 'delivered' / 'deliveryFailed' per attempt, 'deliveryRefused' when a delivery is given up for good. */
  events: EventEmitter;
  /**
   * For an alert held for a shared incident (job data `isHeld`): true when one speaks for the monitor now, and the
   * alert is dropped ('heldDropped').
   */
  isExplainedByShared?: (monitorId: string, incidentId: string | undefined) => Promise<boolean>;
  /** Attempts by outcome: delivered, failed_attempt, refused. */
  attempts?: Counter<'outcome'>;
}

/** A destination whose last attempt failed takes the slow lane for this long. */
const suspectDestinationForMs = 5 * 60_000;
/** How long a delivery whose lane is full waits before it is tried again. */
const laneDeferMs = 250;

export interface AlertWorker {
  worker: Worker<AlertJobData>;
  /** True while the worker takes no jobs because Redis refuses writes. */
  isHeldByRefusedWrites(): boolean;
  close(): Promise<void>;
}

export function startAlertWorker(deps: AlertWorkerDeps): AlertWorker {
  const { config, events, logger } = deps;
  const webhookDelivery = createWebhookDelivery({ policy: deps.policy, timeoutMs: config.alerts.timeoutMs });
  const senders = createChannelSenders({ policy: deps.channelPolicy, timeoutMs: config.alerts.timeoutMs });
  const lanes = new DeliveryLanes({
    concurrency: config.alerts.concurrency,
    perDestination: config.alerts.perDestinationConcurrency,
    suspectForMs: suspectDestinationForMs,
  });
  // The channels of this process's CHANNELS_FILE are sent with as the file says, whether an API process wrote
  // them to Redis or not (workers deployed alone, or started before the API) and whatever older copy Redis holds.
  const startedAtIso = new Date().toISOString();
  const configured = new Map(
    config.alerts.configuredChannels.map((channel) => [
      channel.id,
      configuredChannelRecord(channel, startedAtIso),
    ]),
  );
  const refuse = (job: Job, destination: string, message: string): never => {
    deps.attempts?.inc({ outcome: 'refused' });
    events.emit('deliveryRefused', { jobId: job.id, destination, message });
    throw new UnrecoverableError(message);
  };

  /** Runs one attempt in its lane, or puts the job back (delayed) when the lane is full. */
  const inLane = async <T>(
    job: Job,
    token: string | undefined,
    destination: string,
    attempt: () => Promise<T>,
  ): Promise<T> => {
    const lease = lanes.acquire(destination, job.attemptsMade > 0);
    if (!lease) {
      // Back to the queue for a moment, without holding a slot or spending an attempt; spread over a window,
      // so a burst for one destination does not come back all at once.
      await job.moveToDelayed(Date.now() + laneDeferMs + Math.floor(Math.random() * laneDeferMs * 3), token);
      throw new DelayedError();
    }
    try {
      return await attempt();
    } finally {
      lease.release();
    }
  };

  /** A held alert a shared incident now speaks for is not sent: the shared incident's messages say it all. */
  const isDroppedForShared = async (
    job: Job,
    data: { payload: AlertJobData['payload']; isHeld?: boolean },
  ) => {
    if (!data.isHeld || !deps.isExplainedByShared) return false;
    if (!(await deps.isExplainedByShared(data.payload.monitor.id, data.payload.incident?.id ?? undefined)))
      return false;
    logger.info(
      { jobId: job.id, monitorId: data.payload.monitor.id },
      'held alert dropped: a shared incident explains it',
    );
    events.emit('heldDropped', { jobId: job.id, payload: data.payload });
    return true;
  };

  const processWebhook = async (job: Job<AlertJobData>, token: string | undefined) => {
    const checked = alertJobSchema.safeParse(job.data);
    if (!checked.success) return refuse(job, 'unknown', 'the webhook job data is not valid');
    const { webhook, payload } = checked.data as WebhookJobData;
    if (await isDroppedForShared(job, checked.data)) return { outcome: 'dropped' };
    const destination = destinationOf(webhook.url);
    const refusal = refuseTargets({ webhookUrls: [webhook.url] }, deps.policy);
    if (refusal)
      refuse(job, destination, `webhook to ${destination} refused: ${refusal.address} is not allowed`);
    const secret = await webhookSecretOf(webhook, deps.store, config);
    if (secret === undefined) {
      logger.info({ jobId: job.id, destination }, 'webhook no longer configured: alert dropped');
      return { outcome: 'dropped' };
    }
    return inLane(job, token, destination, async () => {
      const attempt = job.attemptsMade + 1;
      try {
        const answer = await webhookDelivery.deliver(webhook.url, secret, payload, `${payload.id}:${job.id}`);
        lanes.recordOutcome(destination, true);
        deps.attempts?.inc({ outcome: 'delivered' });
        events.emit('delivered', { jobId: job.id, attempt, status: answer.status, payload });
        return { outcome: 'delivered', status: answer.status };
      } catch (error) {
        lanes.recordOutcome(destination, false);
        if (error instanceof WebhookRefusedError) return refuse(job, destination, error.message);
        deps.attempts?.inc({ outcome: 'failed_attempt' });
        events.emit('deliveryFailed', { jobId: job.id, attempt, message: (error as Error).message });
        throw error;
      }
    });
  };

  const processChannel = async (job: Job<AlertJobData>, token: string | undefined) => {
    const checked = channelJobSchema.safeParse(job.data);
    if (!checked.success) return refuse(job, 'unknown', 'the channel job data is not valid');
    const { channelId, payload } = checked.data as ChannelJobData;
    if (await isDroppedForShared(job, checked.data)) return { outcome: 'dropped' };
    const channel = configured.get(channelId) ?? (await deps.channels.get(channelId));
    if (!channel) {
      logger.info({ jobId: job.id, channelId }, 'channel no longer configured: alert dropped');
      return { outcome: 'dropped' };
    }
    const sender = senders.senderFor(channel);
    const { destination } = sender;
    // Checked again at every attempt: the policy may have changed since the channel was written.
    const refusal = destinationRefusalOf(channel, deps.channelPolicy, 'url');
    if (refusal)
      refuse(
        job,
        destination,
        `${channel.type} channel to ${destination} refused: ${refusal.address} is not allowed`,
      );
    return inLane(job, token, destination, async () => {
      const attempt = job.attemptsMade + 1;
      const outcome = await sender.send(payload);
      lanes.recordOutcome(destination, outcome.kind === 'delivered');
      const common = { jobId: job.id, attempt, channelId, type: channel.type };
      if (outcome.kind === 'delivered') {
        deps.attempts?.inc({ outcome: 'delivered' });
        events.emit('delivered', { ...common, status: outcome.status, payload });
        return { outcome: 'delivered', status: outcome.status };
      }
      if (outcome.kind === 'retry') {
        deps.attempts?.inc({ outcome: 'failed_attempt' });
        events.emit('deliveryFailed', {
          ...common,
          message: outcome.reason,
          retryAfterMs: outcome.retryAfterMs,
        });
        throw new DeliveryError(outcome.reason, outcome.retryAfterMs);
      }
      return refuse(job, destination, outcome.reason);
    });
  };

  const worker = new Worker<AlertJobData>(
    alertQueueName(deps.baseQueueName),
    (job, token) => (job.name === channelJobName ? processChannel(job, token) : processWebhook(job, token)),
    {
      ...deps.redis.bullBlocking(),
      concurrency: config.alerts.concurrency,
      settings: {
        backoffStrategy: (attemptsMade, _type, error) =>
          alertBackoffMs(attemptsMade, config.alerts.backoffMs, error),
      },
    },
  );
  worker.on('error', redisErrorLogger(logger, 'alert worker error'));
  const brake = brakeOnRefusedWrites(worker, logger, { worker: 'alert' });
  // Delivery errors name the destination only (scheme, host, port): a webhook's path carries its token.
  worker.on('failed', (job, error) =>
    logger.warn(
      { jobId: job?.id, attempt: job?.attemptsMade, reason: error.message },
      'alert delivery failed',
    ),
  );
  return {
    worker,
    isHeldByRefusedWrites: brake.isHolding,
    close: async () => {
      await Promise.allSettled([webhookDelivery.close(), senders.close()]);
    },
  };
}

async function webhookSecretOf(
  webhook: WebhookJobData['webhook'],
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
