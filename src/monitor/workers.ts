// The worker side of monitoring: the run processor and the alert delivery processor, each on its BullMQ queue.
import { EventEmitter } from 'node:events';
import { DelayedError, type Job, Queue, QueueEvents, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import { z } from 'zod';
import { closeOnce, closeWithin, runCleanups, waitAtMost } from '../lifecycle.js';
import { closeRedisClient, type Keyspace, type RedisConnector } from '../redis/connection.js';
import { redisErrorLogger } from '../redis/errors.js';
import { brakeOnRefusedWrites } from '../redis/refusal-brake.js';
import type { ProbeDefaults } from '../requests/probe-options.js';
import type { AddressPolicy } from '../safety/address-policy.js';
import { createFanOutSubmitter } from '../vantages/fan-out.js';
import { compareQueueName, VantageRegistry } from '../vantages/registry.js';
import { startAlertWorker } from './alerting/alert-worker.js';
import { type AlertQueue, alertQueueName } from './alerting/alerts.js';
import { ChannelStore } from './alerting/channel-store.js';
import { channelPolicyOf } from './alerting/destination-policy.js';
import type { MonitorConfig } from './config.js';
import { type MonitorRunnerDeps, type RunEvent, runMonitor } from './runner.js';
import { Limiter } from './schedule/limiter.js';
import { type ReconcileOutcome, reconcileSchedule } from './schedule/reconcile.js';
import { runShardTick, type ShardTickOutcome } from './schedule/shard-run.js';
import { ShardStore } from './schedule/shard-store.js';
import { parseShardId } from './schedule/shards.js';
import {
  type MonitorJobData,
  type MonitorQueue,
  type MonitorRunJobData,
  MonitorScheduler,
  type MonitorShardJobData,
  monitorQueueName,
  monitorShardJobName,
  scheduledAtOf,
} from './scheduler.js';
import { isExplainedByShared } from './shared-cause/shared-incidents.js';
import { SharedStore } from './shared-cause/shared-store.js';
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
  /**
   * Rebuilds the schedule from every monitor record now. The one at start and every MONITOR_RECONCILE_SECONDS
   * reads the records only when they changed apart from their memberships (reconcileSchedule).
   */
  reconcile(): Promise<ReconcileOutcome>;
  /** Stops taking runs and deliveries, waits for those in flight up to the deadline, closes the connections. */
  close(deadlineMs?: number): Promise<void>;
}

/** The monitor store's keys: one group, since its scripts and MULTIs span monitors, statuses and incidents. */
export function monitorKeyPrefix(keys: Keyspace, baseQueueName: string): string {
  return keys.group(`${baseQueueName}:monitor`);
}

/** What a shard job may carry; anything else was not written by our scheduler and is not acted on. */
const shardJobSchema = z.strictObject({
  shard: z.string().max(40),
  tickMs: z.number().int().nonnegative().optional(),
});

export function startMonitorWorkers(deps: MonitorWorkersDeps): MonitorWorkers {
  const { config, logger } = deps;
  const redis = deps.redis.client('blocking');
  redis.on('error', (error) => logger.debug({ err: error }, 'monitor redis error'));
  const store = new MonitorStore(redis, {
    keyPrefix: monitorKeyPrefix(deps.redis.keys, deps.baseQueueName),
    historyMaxAgeSeconds: config.history.maxAgeSeconds,
    historyMaxEntries: config.history.maxEntries,
  });
  const shared = new SharedStore(redis, monitorKeyPrefix(deps.redis.keys, deps.baseQueueName));
  // The queues get a client of their own: BullMQ defines its ~60 scripts on the client it is given, and ioredis
  // copies every defined script into each MULTI, which made the store's per-run MULTI the worker's top cost.
  const queueRedis = deps.redis.client('blocking');
  queueRedis.on('error', (error) => logger.debug({ err: error }, 'monitor queue redis error'));
  const queueBull = deps.redis.bullOn(queueRedis);
  const runQueue: MonitorQueue = new Queue(monitorQueueName(deps.baseQueueName), queueBull);
  const alertQueue: AlertQueue = new Queue(alertQueueName(deps.baseQueueName), queueBull);
  runQueue.on('error', (error) => logger.debug({ err: error }, 'monitor queue error'));
  alertQueue.on('error', (error) => logger.debug({ err: error }, 'alert queue error'));
  const keyPrefix = monitorKeyPrefix(deps.redis.keys, deps.baseQueueName);
  const scheduler = new MonitorScheduler(runQueue, new ShardStore(redis, keyPrefix), config.firstTickDelayMs);
  const limiter = new Limiter(config.concurrency);
  const events = new EventEmitter();
  events.setMaxListeners(100);
  const metrics = deps.registry ? createWorkerMetrics(deps.registry) : undefined;

  // Monitors with vantages fan out like POST /probe and wait for the comparison. The events are read only by a
  // process that runs such a monitor: every reader of the stream is woken by every fan-out's events.
  let compareEvents: Promise<QueueEvents> | undefined;
  const fanOut = createFanOutSubmitter({ bull: queueBull, baseQueueName: deps.baseQueueName });
  const vantages: MonitorVantages = {
    registry: new VantageRegistry(
      queueRedis,
      deps.redis.keys,
      deps.baseQueueName,
      deps.vantageHeartbeatMs ?? 5000,
    ),
    fanOut,
    compareEvents() {
      compareEvents ??= (async () => {
        const events = new QueueEvents(compareQueueName(deps.baseQueueName), deps.redis.bullBlocking());
        events.on('error', (error) => logger.debug({ err: error }, 'compare queue events error'));
        await events.waitUntilReady();
        return events;
      })();
      return compareEvents;
    },
    close: async () => {
      await fanOut.close();
      const events = await compareEvents?.catch(() => undefined);
      await events?.close();
    },
  };

  const runnerDeps: MonitorRunnerDeps = {
    store,
    scheduler,
    alertQueue,
    config,
    probeDefaults: deps.probeDefaults,
    policy: deps.policy,
    logger,
    events,
    vantages,
    shared,
  };
  if (metrics) {
    events.on('run', ({ result }: RunEvent) => {
      if (result.scheduledAtMs !== undefined)
        metrics.scheduleLagSeconds.observe(Math.max(0, result.startedAtMs - result.scheduledAtMs) / 1000);
      metrics.runsTotal.inc({ trigger: result.entry.trigger, health: result.entry.health });
    });
  }

  const runWorker = new Worker<MonitorJobData>(
    monitorQueueName(deps.baseQueueName),
    async (job: Job<MonitorJobData>, token?: string, signal?: AbortSignal) => {
      if (job.name === monitorShardJobName) {
        const outcome = await runShard(job as Job<MonitorShardJobData>, signal);
        // The members not run yet are left for the worker that takes the tick up next.
        if (outcome.isInterrupted) await keepForAnotherWorker(job, token);
        return outcome;
      }
      // A one-off run (a re-check, a first run) goes ahead of the shard members waiting for a probe slot.
      const outcome = await limiter.run(
        () => runMonitor(runnerDeps, job.data as MonitorRunJobData, signal ? { signal } : {}),
        { isAhead: true },
      );
      // A one-off run has one attempt: failed, it would be lost, so it goes back whole, as a shard tick does.
      if (outcome.outcome === 'interrupted') await keepForAnotherWorker(job, token);
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

  async function runShard(job: Job<MonitorShardJobData>, signal?: AbortSignal): Promise<ShardTickOutcome> {
    const data = shardJobSchema.safeParse(job.data);
    const shard = data.success ? parseShardId(data.data.shard) : undefined;
    const tickMs = data.success ? (data.data.tickMs ?? scheduledAtOf(job.id)) : undefined;
    if (!shard || tickMs === undefined)
      throw new Error('shard job refused: its data or id is not a shard tick');
    // How late the tick was taken up and how many probes already waited for a slot: where schedule lag comes from.
    const startedAtMs = Date.now();
    const waitingBefore = limiter.waitingCount;
    const outcome = await runShardTick(
      { ...runnerDeps, shards: scheduler.shards, limiter },
      shard,
      tickMs,
      signal,
    );
    logger.debug(
      {
        jobId: job.id,
        shard: data.data?.shard,
        tickMs,
        ...outcome,
        startedAtMs,
        waitingBefore,
        durationMs: Date.now() - startedAtMs,
      },
      'shard tick run',
    );
    return outcome;
  }

  // The schedule is rebuilt from the records at start (which also removes the per-monitor schedulers of releases
  // before shards) and then every MONITOR_RECONCILE_SECONDS by one worker at a time: a lease in Redis, no more.
  const reconcileLeaseKey = `${keyPrefix}:reconcile-lease`;
  const reconcileLeaseMs = Math.max(1000, config.reconcileIntervalMs - 500);
  const reconcile = () => reconcileSchedule({ store, scheduler }, { isFull: true });
  const reconcileIfDue = async () => {
    if ((await redis.set(reconcileLeaseKey, '1', 'PX', reconcileLeaseMs, 'NX')) !== 'OK') {
      // A lease longer than ours (left by a longer MONITOR_RECONCILE_SECONDS, or without expiry) would hold off
      // every reconcile until it ends: it is cut to ours, and the next timer takes it.
      const leftMs = await redis.pttl(reconcileLeaseKey);
      if (leftMs === -1 || leftMs > reconcileLeaseMs)
        await redis.set(reconcileLeaseKey, '1', 'PX', reconcileLeaseMs, 'XX');
      return;
    }
    const startedAtMs = Date.now();
    // The memberships are rebuilt from every record only when a record changed apart from its membership since
    // the last pass that did, or the counts disagree: 100,000 unchanged monitors cost a count per shard, not a read
    // of every record each interval.
    const outcome = await reconcileSchedule({ store, scheduler });
    const durationMs = Date.now() - startedAtMs;
    const changes =
      outcome.membersAdded + outcome.membersRemoved + outcome.schedulersStarted + outcome.schedulersRemoved;
    if (changes > 0)
      logger.info(
        { ...outcome, repairs: outcome.repairs.slice(0, 20), startedAtMs, durationMs },
        'monitor schedule reconciled',
      );
    else
      logger.debug({ ...outcome, startedAtMs, durationMs }, 'monitor schedule reconciled: nothing to repair');
  };
  // A reconcile waiting on a Redis that does not answer (a client stuck reconnecting through a failover) is given
  // up after this long, so the next timer starts a fresh one instead of every later one waiting behind it.
  const reconcileDeadlineMs = Math.max(10_000, config.reconcileIntervalMs);
  let reconciling: Promise<void> | undefined;
  const reconcileInBackground = () => {
    if (reconciling) return;
    const attempt = reconcileIfDue().catch((error) =>
      logger.warn({ err: error }, 'monitor schedule reconcile failed'),
    );
    reconciling = waitAtMost(reconcileDeadlineMs, attempt)
      .then((ending) => {
        if (ending === 'gave up')
          logger.warn(
            { deadlineMs: reconcileDeadlineMs },
            'monitor schedule reconcile gave up: Redis did not answer',
          );
      })
      .finally(() => {
        reconciling = undefined;
      });
  };
  reconcileInBackground();
  const reconcileTimer = setInterval(reconcileInBackground, config.reconcileIntervalMs);
  reconcileTimer.unref();

  runWorker.on('error', redisErrorLogger(logger, 'monitor worker error'));
  const runBrake = brakeOnRefusedWrites(runWorker, logger, { worker: 'monitor' });
  runWorker.on('failed', (job, error) => logger.warn({ jobId: job?.id, err: error }, 'monitor run failed'));
  runWorker.on('stalled', (jobId) => logger.info({ jobId }, 'monitor job stalled: back to the queue'));

  const channels = new ChannelStore(redis, monitorKeyPrefix(deps.redis.keys, deps.baseQueueName));
  const alerts = startAlertWorker({
    redis: deps.redis,
    baseQueueName: deps.baseQueueName,
    config,
    policy: deps.policy,
    channelPolicy: channelPolicyOf(config, deps.policy),
    store,
    channels,
    logger,
    events,
    isExplainedByShared: (monitorId, incidentId) =>
      isExplainedByShared({ shared, store }, monitorId, incidentId),
    ...(metrics ? { attempts: metrics.alertsTotal } : {}),
  });
  const alertWorker = alerts.worker;

  let isClosing = false;
  return {
    events,
    store,
    scheduler,
    // A worker held while Redis refuses writes, its jobs finished, has no main loop until its wait is over.
    isRunning: () =>
      !isClosing &&
      (runWorker.isRunning() || runBrake.isHolding()) &&
      (alertWorker.isRunning() || alerts.isHeldByRefusedWrites()),
    reconcile,
    close: closeOnce(async (deadlineMs = 30_000) => {
      isClosing = true;
      clearInterval(reconcileTimer);
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
          ['monitor schedule reconcile', () => reconciling],
          ['alert delivery', () => alerts.close()],
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

/**
 * A job cut short by our shutdown goes back to the queue at once, no attempt spent, for a worker that is not
 * closing (or this one's next start).
 */
async function keepForAnotherWorker(job: Job<MonitorJobData>, token: string | undefined): Promise<never> {
  // BullMQ's worker always passes its lock token; without one the job cannot be moved and must not complete.
  if (!token) throw new Error('an interrupted monitor job has no lock token: it cannot go back to the queue');
  await job.moveToDelayed(Date.now(), token);
  throw new DelayedError();
}

function createWorkerMetrics(registry: Registry) {
  return {
    scheduleLagSeconds: new Histogram({
      name: 'reach_monitor_schedule_lag_seconds',
      help: 'Time from the tick a scheduled monitor run belongs to until its probe started.',
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
