// Wires the service: Redis (embedded or given), the API, the worker, metrics, and shutdown on SIGTERM.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { Queue, QueueEvents } from 'bullmq';
import express from 'express';
import { type Logger, pino } from 'pino';
import { AggregatorRegistry, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { createApp, type WorkerState } from './api/app.js';
import { createJobWaiter, type JobWaiter } from './api/job-waiter.js';
import { registerQueueDepth } from './api/metrics.js';
import { readStatus } from './api/probe-routes.js';
import { type BatchApi, batchOpenApi, createBatchApi } from './batch/http/index.js';
import { createBatchWork } from './batch/item-runner.js';
import { batchQueueName } from './batch/jobs.js';
import { batchMetricsOf } from './batch/metrics.js';
import { createItemRecorder } from './batch/recorder.js';
import { createSharedControls } from './batch/shared-controls.js';
import { BatchStore } from './batch/store.js';
import { ConfigError, type ServiceConfig } from './config.js';
import { type Cleanup, closeOnce, closeWithin, runCleanups, waitAtMost } from './lifecycle.js';
import {
  channelOpenApi,
  channelPolicyOf,
  checkConfiguredDestinations,
  createChannelRouter,
  createMonitorApi,
  createMonitorBulkRouter,
  createMonitorRouter,
  createStatusRouter,
  loadMonitorConfig,
  type MonitorConfig,
  type MonitorWorkers,
  monitorOpenApi,
  startMonitorWorkers,
  syncConfiguredChannels,
} from './monitor/index.js';
import { filesBesideProbes, openFileLimit, socketsPerProbe } from './open-files.js';
import { createPageRouters, type ProbeLookup } from './pages/routes.js';
import {
  closeRedisClient,
  connectorForUrl,
  createRedisConnector,
  type RedisClient,
  type RedisConnector,
} from './redis/connection.js';
import {
  DataDirInUseError,
  type EmbeddedRedis,
  EmbeddedRedisError,
  RedisMissingError,
  startEmbeddedRedis,
} from './redis/embedded.js';
import { isNotRedisReply, isRedisCredentialsRefusal, notRedisReplyOf } from './redis/errors.js';
import { createMemoryGauge } from './redis/memory.js';
import type { ProbeJobData, ProbeJobResult } from './requests/probe-job.js';
import { type AddressPolicy, createAddressPolicy } from './safety/address-policy.js';
import { releaseHungUpTerminal, serviceLogDestination } from './standard-output.js';
import { type CompareWorker, createFanOutSubmitter, startCompareWorker } from './vantages/fan-out.js';
import {
  compareQueueName,
  startVantageHeartbeat,
  type VantageHeartbeat,
  VantageRegistry,
  vantageQueueName,
} from './vantages/registry.js';
import { createProbeMetrics } from './worker/metrics.js';
import { createProbeRunner, markCheckedChunk, type ProbeRunner } from './worker/processor.js';
import { type ProbeWorker, startProbeWorker } from './worker/worker.js';
import { answerServe, environmentFromServe, isServeWorker, WorkerProcesses } from './worker-processes.js';

/** The version a vantage advertises: package.json's, read once (it sits beside dist/ and src/ alike). */
const serviceVersion = (() => {
  try {
    return (
      JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version;
  } catch {
    return 'unknown';
  }
})();

export interface ServiceRoles {
  api: boolean;
  worker: boolean;
}

export interface StartServiceOptions {
  config: ServiceConfig;
  roles: ServiceRoles;
  /** Replaces the policy made from PROBE_ALLOW_PRIVATE (tests use one that allows 127.0.0.1 only). */
  policy?: AddressPolicy;
  logger?: Logger;
  /** Monitoring settings; default: the MONITOR_*, ALERT_* and STATUS_* variables of the environment. */
  monitorConfig?: MonitorConfig;
  /**
   * Wraps the worker's probe runner (the engine call). Tests inject our own infrastructure failing here, at
   * the seam between BullMQ and the engine, to see the retry path run against a real Redis.
   */
  wrapRunner?: (runner: ProbeRunner) => ProbeRunner;
  /**
   * serve's further worker processes (WORKER_PROCESSES): counted into /metrics, their metrics summed into it, and
   * stopped by close() beside this process's workers, before its Redis.
   */
  workerProcesses?: Pick<WorkerProcesses, 'metrics' | 'running' | 'stop'>;
}

export interface RunningService {
  /** The API's base URL (http://host:port) when the API role runs. */
  apiUrl: string | undefined;
  /** Where Redis is (REDIS_URL, Sentinels, Cluster, or the embedded server), without its password. */
  redisDescription: string;
  /** The embedded redis-server's URL, password included, for serve's own worker processes; undefined without one. */
  embeddedRedisUrl: string | undefined;
  /** This process's metrics. */
  registry: Registry;
  /** Stops taking requests and jobs, finishes active probes up to the deadline, closes Redis. Idempotent. */
  close(): Promise<void>;
}

/** A startup failure with a one-line message for the operator (no stack trace). */
export class StartupError extends Error {
  override name = 'StartupError';
}

export function createLogger(config: ServiceConfig): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { service: 'reach' },
      // Belt and braces: no code logs request headers, but keys must never reach a log if one ever does.
      redact: {
        paths: ['authorization', '*.authorization', 'headers.authorization', '*.headers.authorization'],
        remove: true,
      },
    },
    // Not pino's own destination: it stops on a closed pipe only, and a hung-up terminal's EIO kept serve from
    // ever exiting (standard-output.ts). Standard output writes synchronously to a pipe, a file and a terminal on
    // Linux, so no line waits in a buffer at exit; the service logs a few lines per start, stop and failure.
    serviceLogDestination(process.stdout),
  );
}

/** What startService has started so far: what a failed start undoes and what close() stops, in order. */
interface ServiceParts {
  embedded?: EmbeddedRedis;
  connector?: RedisConnector;
  worker?: ProbeWorker;
  /** The same probe processor on the batch lane (POST /batches), with its own concurrency. */
  batchWorker?: ProbeWorker;
  /** The batch routes: their followed result streams end first at shutdown. */
  batchApi?: BatchApi;
  monitorWorkers?: MonitorWorkers;
  server?: Server;
  apiUrl?: string;
  /** Every waiter of wait-mode requests (single probes and fan-out comparisons), released first at shutdown. */
  waiters: JobWaiter[];
  /** The vantage's heartbeat: withdrawn first at shutdown, so no new fan-out names this process. */
  heartbeat?: VantageHeartbeat;
  compareWorker?: CompareWorker;
  /** serve's further worker processes: stopped with the workers, before the Redis they drain into. */
  workerProcesses?: Pick<WorkerProcesses, 'stop'>;
  /**
   * The API's Redis client, queue, events, job waiter and monitor queue, pushed as each is made and closed in the
   * reverse order (the client last), after the server and the workers have drained.
   */
  closers: Cleanup[];
}

/** What every part of the service is built with. */
interface ServiceContext {
  config: ServiceConfig;
  logger: Logger;
  policy: AddressPolicy;
  monitorConfig: MonitorConfig;
  registry: Registry;
  /** Every Redis client and BullMQ connection of the service is made by this one connector. */
  redis: RedisConnector;
  /** This process's vantage name: VANTAGE_NAME, or "local" for `reach serve`; none for a plain worker. */
  vantageName: string | undefined;
  /** /metrics's text when serve has worker processes: this process's metrics summed with theirs. */
  metricsText?: () => Promise<string>;
}

export async function startService(options: StartServiceOptions): Promise<RunningService> {
  const { config, roles } = options;
  const logger = options.logger ?? createLogger(config);
  // Settings are read before anything starts, so a bad one leaves nothing running.
  const settings = contextOf(options, logger);
  const parts: ServiceParts = {
    closers: [],
    waiters: [],
    ...(options.workerProcesses ? { workerProcesses: options.workerProcesses } : {}),
  };
  const redis = await redisConnectorFor(config, logger, parts);
  const vantageName = config.vantage.name ?? (roles.api && roles.worker ? 'local' : undefined);
  const context: ServiceContext = {
    ...settings,
    redis,
    vantageName,
    ...(options.workerProcesses && roles.api
      ? { metricsText: metricsWithWorkerProcesses(settings.registry, options.workerProcesses) }
      : {}),
  };
  try {
    if (roles.worker) await startWorkers(context, parts, options.wrapRunner);
    if (roles.api) await startApi(context, parts);
    else if (parts.worker && config.workerMetricsPort > 0)
      await startWorkerMetrics(context, parts.worker, parts);
  } catch (error) {
    await undoStart(parts, logger);
    throw error;
  }
  return {
    apiUrl: parts.apiUrl,
    redisDescription: redis.description,
    embeddedRedisUrl: parts.embedded?.url,
    registry: context.registry,
    close: closeOnce(() => shutDown(parts, config, logger)),
  };
}

function contextOf(
  options: StartServiceOptions,
  logger: Logger,
): Omit<ServiceContext, 'redis' | 'vantageName'> {
  const { config } = options;
  const policy = options.policy ?? createAddressPolicy({ isPrivateAllowed: config.isPrivateAllowed });
  if (!config.isPrivateAllowed && !options.policy) logger.info('targets limited to global unicast addresses');
  const monitorConfig = options.monitorConfig ?? loadMonitorConfig(process.env);
  // Workers send with CHANNELS_FILE's settings as the API does: either refuses a destination before it starts.
  checkConfiguredDestinations(
    monitorConfig.alerts.configuredChannels,
    channelPolicyOf(monitorConfig, policy),
  );
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return { config, logger, policy, monitorConfig, registry };
}

/**
 * The connector for the configured Redis, or for a private redis-server started here (kept in parts, so close()
 * stops it). The connector is closed after every part that holds its connections.
 */
async function redisConnectorFor(
  config: ServiceConfig,
  logger: Logger,
  parts: ServiceParts,
): Promise<RedisConnector> {
  if (config.redis !== undefined) {
    const connector = createRedisConnector(config.redis, config.queueName);
    parts.connector = connector;
    logger.info({ redis: connector.description }, 'using Redis');
    const refusal = await settingsRefusal(connector);
    if (refusal !== undefined) {
      await connector.close();
      const at = `Redis at ${connector.description}`;
      throw new StartupError(
        refusal.kind === 'not_redis'
          ? `${at} answered, but not as Redis (${refusal.message}): check the host and port in REDIS_URL`
          : /^NOAUTH\b/.test(refusal.message)
            ? `${at} needs a password: set REDIS_PASSWORD (and REDIS_USERNAME for an ACL user), or put it in REDIS_URL`
            : `${at} refused our credentials (${refusal.message}): check REDIS_PASSWORD and REDIS_USERNAME, or the password in REDIS_URL`,
      );
    }
    return connector;
  }
  const embedded = await startEmbeddedRedis({
    dataDir: config.redisDataDir,
    maxMemoryMb: config.redisMaxMemoryMb,
    onLog: (line) => logger.debug({ redis: line }, 'redis-server'),
    onWarning: (message) => logger.warn(message),
  });
  parts.embedded = embedded;
  logger.info(
    { port: embedded.port, dataDir: config.redisDataDir, pid: embedded.pid },
    'started embedded redis-server',
  );
  parts.connector = connectorForUrl(embedded.url, config.queueName);
  return parts.connector;
}

/**
 * Warns at start when `ulimit -n` is below what the probes this process may run at once could hold (single, batch
 * and monitor probes): past it their sockets fail with EMFILE, and those probes answer local.resources_exhausted
 * instead of a finding about their site. systemd's default soft limit is 1,024.
 */
function warnIfTooFewOpenFiles(context: ServiceContext): void {
  const { config, monitorConfig, logger } = context;
  const probesAtOnce = config.workerConcurrency + config.batch.workerConcurrency + monitorConfig.concurrency;
  const mayUse = probesAtOnce * socketsPerProbe + filesBesideProbes;
  const limit = openFileLimit();
  if (limit === undefined || limit >= mayUse) return;
  logger.warn(
    { openFileLimit: limit, probesAtOnce, mayUse },
    `ulimit -n is ${limit}, below the ${mayUse} open files ${probesAtOnce} probes at once may hold (WORKER_CONCURRENCY, BATCH_WORKER_CONCURRENCY, MONITOR_CONCURRENCY): probes past it fail on this machine (local.resources_exhausted); raise the limit (systemd LimitNOFILE=, docker --ulimit nofile=) or lower the concurrency`,
  );
}

/** How long the start waits for Redis's first answer to our credentials before it goes on without it. */
const credentialsCheckMs = 3000;

/**
 * What the first connection says of settings that no wait will mend: Redis refusing our credentials, or a server
 * on that port that is not Redis at all (an HTTP server's "HTTP/1.1 400" read as a reply of unknown type); the
 * message, or undefined once the client is ready, when the connection is refused (Redis away: the service starts
 * and waits for it, as through any outage), or when nothing else came within the time. Before this check a refusal made
 * the service start half its parts, then hang undoing them, logging every 30 s and never listening; a server that
 * was not Redis gave a warning a second, "Please report this", for good.
 */
async function settingsRefusal(
  connector: RedisConnector,
): Promise<{ kind: 'credentials' | 'not_redis'; message: string } | undefined> {
  const client = connector.client('commands');
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise((resolveCheck) => {
      timer = setTimeout(() => resolveCheck(undefined), credentialsCheckMs);
      client.once('ready', () => resolveCheck(undefined));
      client.on('error', (clientError: Error) => {
        // A Cluster's client fails as a whole ("Failed to refresh slots cache") and keeps each node's own error.
        const error = (clientError as { lastNodeError?: Error }).lastNodeError ?? clientError;
        if (isRedisCredentialsRefusal(error))
          resolveCheck({ kind: 'credentials', message: error.message.trim() });
        else if (isNotRedisReply(error)) resolveCheck({ kind: 'not_redis', message: notRedisReplyOf(error) });
        // Nothing listening: Redis away, waited for as through any outage. Another error (a reset, a closed pipe,
        // as a server that is not Redis gives before or after its answer) waits for what comes next.
        else if ((error as NodeJS.ErrnoException).code === 'ECONNREFUSED') resolveCheck(undefined);
      });
    });
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/**
 * The probe worker (on the shared queue, and on its vantage's own queue when it is one), the comparison of
 * fan-outs, the vantage's heartbeat, and the monitor workers (runs and webhook deliveries).
 */
async function startWorkers(
  context: ServiceContext,
  parts: ServiceParts,
  wrapRunner: (runner: ProbeRunner) => ProbeRunner = (runner) => runner,
): Promise<void> {
  const { config, logger, policy, registry, redis, vantageName } = context;
  const probeMetrics = createProbeMetrics(registry);
  const vantageRedis = redis.client('blocking');
  vantageRedis.on('error', (error) => logger.debug({ err: error }, 'vantage redis client error'));
  parts.closers.push(['vantage redis client', () => closeRedisClient(vantageRedis)]);
  // A vantage's parts of a batch share the controls it probed for that batch, kept beside it under its name.
  const batchControls = vantageName
    ? createSharedControls({
        redis: vantageRedis,
        prefix: config.queueName,
        ttlSeconds: config.batch.resultTtlSeconds,
        vantage: vantageName,
      })
    : undefined;
  if (batchControls) parts.closers.push(['vantage batch controls', () => batchControls.close()]);
  const runner = createProbeRunner({
    defaults: config.probeDefaults,
    isAddressAllowed: policy,
    ...(batchControls ? { controlResultsFor: batchControls.controlResultsFor } : {}),
  });
  parts.worker = startProbeWorker({
    queueName: config.queueName,
    ...(vantageName ? { extraQueueNames: [vantageQueueName(config.queueName, vantageName)] } : {}),
    redis,
    concurrency: config.workerConcurrency,
    lockDurationMs: config.workerLockDurationMs,
    stalledIntervalMs: config.workerStalledIntervalMs,
    runner: wrapRunner(runner),
    metrics: probeMetrics,
    logger: logger.child({ role: 'worker' }),
  });
  startBatchWorker(context, parts, probeMetrics, wrapRunner);
  logger.info({ concurrency: config.workerConcurrency, vantage: vantageName }, 'worker started');
  warnIfTooFewOpenFiles(context);
  parts.compareWorker = startCompareWorker({
    baseQueueName: config.queueName,
    bull: redis.bullBlocking(),
    redis: vantageRedis,
    logger: logger.child({ role: 'compare' }),
  });
  if (vantageName) {
    parts.heartbeat = await startVantageHeartbeat({
      registry: new VantageRegistry(vantageRedis, redis.keys, config.queueName, config.vantage.heartbeatMs),
      info: {
        name: vantageName,
        labels: config.vantage.labels,
        version: serviceVersion,
        concurrency: config.workerConcurrency,
      },
      heartbeatMs: config.vantage.heartbeatMs,
      onError: (error: unknown) => logger.warn({ err: error }, 'vantage heartbeat failed'),
    });
    logger.info({ vantage: vantageName, labels: config.vantage.labels }, 'vantage advertised');
  }
  parts.monitorWorkers = startMonitorWorkers({
    redis,
    baseQueueName: config.queueName,
    config: context.monitorConfig,
    probeDefaults: config.probeDefaults,
    policy,
    logger: logger.child({ role: 'monitor' }),
    registry,
    lockDurationMs: config.workerLockDurationMs,
    stalledIntervalMs: config.workerStalledIntervalMs,
    vantageHeartbeatMs: config.vantage.heartbeatMs,
  });
}

/** The batch lane's worker: the probe processor, told to record each URL's result in its batch. */
function startBatchWorker(
  context: ServiceContext,
  parts: ServiceParts,
  metrics: ReturnType<typeof createProbeMetrics>,
  wrapRunner: (runner: ProbeRunner) => ProbeRunner,
): void {
  const { config, logger, policy, registry } = context;
  // Blocking-style: a result recorded while Redis restarts waits for it rather than failing the probe.
  const redis = context.redis.client('blocking');
  redis.on('error', (error) => logger.debug({ err: error }, 'batch redis client error'));
  parts.closers.push(['batch redis client', () => closeRedisClient(redis)]);
  const store = new BatchStore(redis, config.queueName, config.batch.resultTtlSeconds);
  // A batch with vantages: its URLs fan out from here, to the vantages the registry says are live.
  const fanOut = createFanOutSubmitter({
    bull: context.redis.bullOn(redis),
    baseQueueName: config.queueName,
  });
  parts.closers.push(['batch fan-out submitter', () => fanOut.close()]);
  const vantages = new VantageRegistry(
    redis,
    context.redis.keys,
    config.queueName,
    config.vantage.heartbeatMs,
  );
  const work = createBatchWork({
    store,
    record: createItemRecorder(store, batchMetricsOf(registry)),
    concurrency: config.batch.workerConcurrency,
    controls: {
      redis,
      prefix: config.queueName,
      ttlSeconds: config.batch.resultTtlSeconds,
      refreshMs: config.batch.controlRefreshMs,
    },
    vantages: {
      fanOut,
      liveVantageNames: async () => (await vantages.recentList()).map((vantage) => vantage.name),
      defaultTimeoutMs: config.probeDefaults.timeoutMs,
      keptSeconds: config.batch.resultTtlSeconds,
    },
    checkJobs: (jobs) => markCheckedChunk(jobs, policy),
  });
  parts.closers.push(['batch controls', () => work.close()]);
  const runner = createProbeRunner({
    defaults: config.probeDefaults,
    isAddressAllowed: policy,
    controlResultsFor: work.controlResultsFor,
  });
  parts.batchWorker = startProbeWorker({
    queueName: batchQueueName(config.queueName),
    redis: context.redis,
    concurrency: config.batch.workerConcurrency,
    lockDurationMs: config.workerLockDurationMs,
    stalledIntervalMs: config.workerStalledIntervalMs,
    runner: work.wrap(wrapRunner(runner)),
    chunks: { jobName: work.chunkJobName, runner: wrapRunner(runner), runChunk: work.runChunk },
    metrics,
    logger: logger.child({ role: 'batch-worker' }),
    onFinalFailure: work.onFinalFailure,
    isBatchLane: true,
  });
}

/** The API: its Redis client, the probe queue and its events, the monitors' routes, and the listening server. */
async function startApi(context: ServiceContext, parts: ServiceParts): Promise<void> {
  const { config, logger, policy, registry, redis } = context;
  const commands = redis.client('commands');
  commands.on('error', (error) => logger.debug({ err: error }, 'redis command client error'));
  await waitForReady(commands, 10_000);
  parts.closers.push(['redis command client', () => closeRedisClient(commands)]);
  const queue = new Queue<ProbeJobData, ProbeJobResult>(config.queueName, redis.bullOn(commands));
  queue.on('error', (error) => logger.debug({ err: error }, 'queue error'));
  const events = new QueueEvents(config.queueName, redis.bullBlocking());
  events.on('error', (error) => logger.debug({ err: error }, 'queue events error'));
  parts.closers.push(['probe queue', () => queue.close()], ['queue events', () => events.close()]);
  await events.waitUntilReady();
  const waiter = createJobWaiter(queue, events);
  parts.waiters.push(waiter);
  parts.closers.push(['job waiter', () => waiter.close()]);
  const vantages = await startFanOut(context, commands, parts);
  registerQueueDepth(registry, queue);
  const monitors = createMonitorApi({
    redis: commands,
    keys: redis.keys,
    baseQueueName: config.queueName,
    config: context.monitorConfig,
    policy,
    registry,
  });
  parts.closers.push(['monitor API', () => monitors.close()]);
  // Histories and counters kept in the format before the run ring move over in the background; until a
  // monitor's turn (or its next run) its old history still reads.
  void monitors.store.migrateOldFormat().then(
    (migrated) => {
      if (migrated > 0) logger.info({ migrated }, 'monitor histories migrated to the run ring');
    },
    (error: unknown) =>
      logger.warn({ err: error }, 'monitor history migration stopped; each monitor migrates at its next run'),
  );
  const configuredChannels = context.monitorConfig.alerts.configuredChannels;
  if (configuredChannels.length > 0) {
    const { stale } = await syncConfiguredChannels(
      monitors.channels,
      configuredChannels,
      monitors.channelPolicy,
    );
    logger.info({ channels: configuredChannels.length }, 'channels from CHANNELS_FILE written');
    if (stale.length > 0) {
      logger.warn(
        { stale },
        'channels an earlier CHANNELS_FILE named are no longer in it: delete them through the API',
      );
    }
  }
  const batches = createBatchApi({
    redis: commands,
    bull: redis.bullOn(commands),
    baseQueueName: config.queueName,
    settings: config.batch,
    policy,
    registry,
    memory: createMemoryGauge(commands, config.redisMemoryHighWaterPercent),
    jobAttempts: config.jobAttempts,
    jobBackoffMs: config.jobBackoffMs,
    vantages: { registry: vantages.registry },
  });
  parts.batchApi = batches;
  parts.closers.push(['batch API', () => batches.close()]);
  const app = createApp({
    config,
    queue,
    waiter,
    redis: commands,
    registry,
    ...(context.metricsText ? { metricsText: context.metricsText } : {}),
    logger: logger.child({ role: 'api' }),
    policy,
    routers: [
      // Before /monitors: its body is larger than the JSON parser of the other routes takes.
      {
        keyedRouter: {
          path: '/monitors/bulk',
          router: createMonitorBulkRouter(monitors),
          parsesOwnBody: true,
        },
      },
      {
        publicRouter: createStatusRouter(monitors),
        keyedRouter: { path: '/monitors', router: createMonitorRouter(monitors) },
        openApi: monitorOpenApi,
      },
      {
        keyedRouter: {
          path: '/batches',
          router: batches.router,
          parsesOwnBody: true,
          readsSpendReadBudget: true,
        },
        openApi: batchOpenApi,
      },
      {
        adminRouter: { path: '/channels', router: createChannelRouter(monitors) },
        openApi: channelOpenApi,
      },
      createPageRouters({
        fetchProbe: probeLookup(queue, vantages?.fanOut.compareQueue),
        isKeyRequired: config.apiKeys.length > 0,
      }),
    ],
    ...(parts.worker ? { workerState: workerStateOf(parts.worker) } : {}),
    vantages,
  });
  parts.server = await listen(app, config.port, config.host, config.http);
  parts.apiUrl = urlOf(parts.server);
  logger.info({ url: parts.apiUrl }, 'API listening');
}

/** What the pages read of a probe: GET /probe/:id's answer, from the probe queue or the comparisons'. */
function probeLookup(
  queue: Queue<ProbeJobData, ProbeJobResult>,
  compareQueue: Queue | undefined,
): (id: string) => Promise<ProbeLookup | undefined> {
  return async (id) => {
    const status =
      (await readStatus(queue, id)) ??
      (compareQueue ? await readStatus(compareQueue as unknown as typeof queue, id) : undefined);
    if (!status) return undefined;
    if (status.status === 'completed' && status.report)
      return {
        status: 'completed',
        report: status.report as unknown as Extract<ProbeLookup, { report: unknown }>['report'],
      };
    if (status.status === 'failed')
      return { status: 'failed', error: status.error ?? { kind: 'error', reason: 'the probe failed' } };
    return { status: status.status === 'active' ? 'active' : 'queued' };
  };
}

/** The API's side of vantages: the registry it reads, the flows it adds, and a waiter on their comparisons. */
async function startFanOut(context: ServiceContext, commands: RedisClient, parts: ServiceParts) {
  const { config, logger, redis } = context;
  const fanOut = createFanOutSubmitter({ bull: redis.bullOn(commands), baseQueueName: config.queueName });
  parts.closers.push(['fan-out submitter', () => fanOut.close()]);
  const events = new QueueEvents(compareQueueName(config.queueName), redis.bullBlocking());
  events.on('error', (error) => logger.debug({ err: error }, 'compare queue events error'));
  parts.closers.push(['compare queue events', () => events.close()]);
  await events.waitUntilReady();
  const waiter = createJobWaiter(
    fanOut.compareQueue as unknown as Queue<ProbeJobData, ProbeJobResult>,
    events,
  );
  parts.waiters.push(waiter);
  parts.closers.push(['compare waiter', () => waiter.close()]);
  return {
    registry: new VantageRegistry(commands, redis.keys, config.queueName, config.vantage.heartbeatMs),
    fanOut,
    waiter,
    defaultTimeoutMs: config.probeDefaults.timeoutMs,
  };
}

/** A worker on its own serves health, readiness and metrics on WORKER_METRICS_PORT. */
async function startWorkerMetrics(context: ServiceContext, worker: ProbeWorker, parts: ServiceParts) {
  const { config, logger, registry } = context;
  parts.server = await listen(workerMetricsApp(registry, worker), config.workerMetricsPort, config.host);
  logger.info({ url: urlOf(parts.server) }, 'worker metrics listening');
}

/** A start that failed half-way: everything already started is closed at once, each close guarded. */
async function undoStart(parts: ServiceParts, logger: Logger): Promise<void> {
  const { worker, batchWorker, monitorWorkers, server, embedded, heartbeat, compareWorker, connector } =
    parts;
  await runCleanups(
    [
      heartbeat && ['vantage heartbeat', () => heartbeat.close()],
      worker && ['probe worker', () => worker.close(0)],
      batchWorker && ['batch worker', () => batchWorker.close(0)],
      compareWorker && ['compare worker', () => compareWorker.close()],
      monitorWorkers && ['monitor workers', () => monitorWorkers.close(0)],
      server && ['server', () => server.close()],
      ...parts.closers.toReversed(),
      connector && ['redis connector', () => connector.close()],
      embedded && ['embedded redis', () => embedded.stop()],
    ],
    (error, name) => logger.warn({ err: error, part: name }, 'cleanup after a failed start failed'),
  );
}

/** How long past the deadline a part may go on closing before its Redis connections are ended under it. */
const closeGraceMs = 3000;

/** Stops taking requests and jobs, lets those in flight finish up to the deadline, then closes the rest. */
async function shutDown(parts: ServiceParts, config: ServiceConfig, logger: Logger): Promise<void> {
  const deadlineMs = config.shutdownDeadlineMs;
  logger.info({ deadlineMs }, 'shutting down: no new requests or jobs');
  // Clients waiting for a result (POST /probe?wait) learn their probe's id now, not at the deadline: the job
  // is in Redis and runs on after the restart.
  for (const waiter of parts.waiters) waiter.release();
  parts.batchApi?.release();
  await parts.heartbeat?.close();
  // The server and the workers drain in parallel, under one deadline; one failing must not skip the cleanups.
  let outcomes: PromiseSettledResult<unknown>[] = [];
  const drained = Promise.allSettled([
    stopServer(parts.server, deadlineMs, logger),
    parts.worker?.close(deadlineMs),
    parts.batchWorker?.close(deadlineMs),
    parts.monitorWorkers?.close(deadlineMs),
    parts.compareWorker?.close(),
    // serve's worker processes drain into this process's Redis (the embedded one), which closes after them.
    parts.workerProcesses?.stop(),
  ]).then((settled) => {
    outcomes = settled;
  });
  const { embedded, connector } = parts;
  // Past the deadline the workers have aborted their jobs; a part still closing then waits on a Redis that is
  // away (its commands queued for a reconnect). Ending the connections fails those commands, so it finishes.
  if ((await waitAtMost(deadlineMs + closeGraceMs, drained)) === 'gave up') {
    logger.warn(
      { graceMs: closeGraceMs },
      'parts still closing past the deadline: ending their Redis connections',
    );
    await connector?.close();
    if ((await waitAtMost(closeGraceMs, drained)) === 'gave up')
      logger.warn('parts did not close after their Redis connections ended; shutting down without them');
  }
  for (const outcome of outcomes)
    if (outcome.status === 'rejected') logger.warn({ err: outcome.reason }, 'close failed');
  await runCleanups(
    [
      ...parts.closers.toReversed(),
      connector && ['redis connector', () => connector.close()],
      embedded && ['embedded redis', () => embedded.stop()],
    ],
    (error, name) => logger.warn({ err: error, part: name }, 'close failed'),
  );
  logger.info('shut down');
}

/**
 * /metrics of a serve with worker processes: this process's metrics and each child's that answers, summed by
 * prom-client's cluster aggregation (counters and histograms added, its own rule for each default metric), and the
 * worker processes running.
 */
function metricsWithWorkerProcesses(
  registry: Registry,
  processes: NonNullable<StartServiceOptions['workerProcesses']>,
): () => Promise<string> {
  new Gauge({
    name: 'reach_worker_processes',
    help: "Worker processes running: serve's own and its WORKER_PROCESSES children alive now.",
    registers: [registry],
    collect() {
      this.set(1 + processes.running);
    },
  });
  return async () => {
    const [own, children] = await Promise.all([registry.getMetricsAsJSON(), processes.metrics()]);
    return AggregatorRegistry.aggregate([own, ...children]).metrics();
  };
}

/** What /readyz says of a worker: held while Redis refuses writes, whatever its main loop is doing. */
function workerStateOf(worker: ProbeWorker): () => WorkerState {
  return () => (worker.isHeldByRefusedWrites() ? 'held' : worker.isRunning() ? 'running' : 'stopped');
}

function workerMetricsApp(registry: Registry, worker: ProbeWorker) {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_request, response) => {
    response.json({ status: 'ok' });
  });
  app.get('/readyz', (_request, response) => {
    const state = workerStateOf(worker)();
    const isReady = state === 'running';
    response.status(isReady ? 200 : 503).json({ status: isReady ? 'ready' : 'not_ready', worker: state });
  });
  app.get('/metrics', async (_request, response) => {
    response.type(registry.contentType).send(await registry.metrics());
  });
  return app;
}

/**
 * Listens with the connection limits: a cap on open connections, and a time for a client to send its headers
 * and its whole request, checked every second, so slow clients cannot hold the server's sockets. The answer may
 * take longer (wait mode): these bound the request, not the response.
 */
function listen(
  app: express.Express,
  port: number,
  host: string,
  limits?: ServiceConfig['http'],
): Promise<Server> {
  const server = createServer(
    limits
      ? {
          headersTimeout: limits.headersTimeoutMs,
          requestTimeout: Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
          connectionsCheckingInterval: 1000,
        }
      : {},
    app,
  );
  if (limits) server.maxConnections = limits.maxConnections;
  return new Promise((resolve, reject) => {
    const onError = (error: Error) =>
      reject(new StartupError(`cannot listen on ${host}:${port}: ${error.message}`));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

function urlOf(server: Server): string {
  const address = server.address();
  if (address === null || typeof address === 'string') return String(address);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
}

/** Stops accepting connections, lets requests in flight (wait mode too) finish until the deadline. */
async function stopServer(server: Server | undefined, deadlineMs: number, logger: Logger): Promise<void> {
  if (!server?.listening) return;
  const closing = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  logger.info('stopped accepting connections');
  await closeWithin(
    deadlineMs,
    () => closing,
    () => server.closeAllConnections(),
  );
}

function waitForReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      client.disconnect();
      reject(new StartupError(`Redis did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}

/**
 * The signals that stop the service with its drain. SIGHUP among them: a terminal's hangup, or a process manager's
 * HUP, ended the process at once (Node's default), its probes in flight run again at the next start.
 */
const stopSignals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/** Runs until SIGTERM, SIGINT or SIGHUP, then shuts down and exits 0; a startup failure prints one line and exits 1. */
async function runUntilSignalled(
  config: ServiceConfig,
  roles: ServiceRoles,
  workerArgs: string[] = [],
): Promise<void> {
  let service: RunningService;
  // serve's further worker processes, started once its own parts run (the embedded Redis among them).
  const processes =
    roles.api && roles.worker && config.workerProcesses > 1
      ? new WorkerProcesses({
          count: config.workerProcesses - 1,
          script: process.argv[1] as string,
          args: workerArgs,
          // The children are workers of serve's own vantage ("local" unless named) and serve no metrics port.
          env: {
            VANTAGE_NAME: config.vantage.name ?? 'local',
            WORKER_METRICS_PORT: '0',
            WORKER_PROCESSES: '1',
          },
          shutdownDeadlineMs: config.shutdownDeadlineMs,
          logger: createLogger(config).child({ role: 'worker-processes' }),
        })
      : undefined;
  try {
    if (!roles.api || !roles.worker) {
      if (config.redis === undefined) {
        throw new StartupError(
          'set REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES: separate api and worker processes must share one Redis',
        );
      }
    }
    service = await startService({ config, roles, ...(processes ? { workerProcesses: processes } : {}) });
  } catch (error) {
    // A setting at fault is bad usage, like a bad argument (exit 2); the rest failed to start (exit 1).
    if (error instanceof ConfigError) {
      process.stderr.write(`reach: ${error.message}\n`);
      process.exit(2);
    }
    if (
      error instanceof StartupError ||
      error instanceof RedisMissingError ||
      error instanceof DataDirInUseError ||
      error instanceof EmbeddedRedisError
    ) {
      process.stderr.write(`reach: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  processes?.start(service.embeddedRedisUrl);
  if (!roles.api) answerServe(() => service.registry.getMetricsAsJSON());
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      for (const name of stopSignals) process.off(name, onSignal);
      // A worker process of serve's gets a signal twice when it goes to the whole group (Ctrl-C, systemd) and serve
      // passes it on: the second must not end its drain. serve kills it past its deadline.
      if (isServeWorker()) for (const name of stopSignals) process.on(name, () => {});
      process.stderr.write(`reach: ${signal} received, shutting down\n`);
      resolve();
    };
    for (const name of stopSignals) process.on(name, onSignal);
  });
  // Stops the worker processes too, beside its own workers and before its Redis.
  await service.close();
  releaseHungUpTerminal();
  process.exit(0);
}

/**
 * `reach serve`: API and worker in one process, with an embedded redis-server unless REDIS_URL is set, and
 * WORKER_PROCESSES - 1 `reach worker` children beside it (given `workerArgs`: its vantage's name and labels).
 */
export function runServe(config: ServiceConfig, workerArgs: string[] = []): Promise<void> {
  return runUntilSignalled(config, { api: true, worker: true }, workerArgs);
}

/** `reach api`: the API only, against REDIS_URL. */
export function runApi(config: ServiceConfig): Promise<void> {
  return runUntilSignalled(config, { api: true, worker: false });
}

/** `reach worker`: a worker only, against REDIS_URL (metrics on WORKER_METRICS_PORT when set). */
export function runWorker(config: ServiceConfig): Promise<void> {
  return runUntilSignalled(config, { api: false, worker: true });
}

/** The CLI's name for loadConfig: the environment parsed and checked once (throws ConfigError). */
export { ConfigError, loadConfig as loadServiceConfig } from './config.js';
/** In a worker process of serve's: the environment serve sends it to start with (its Redis). */
export { environmentFromServe };
