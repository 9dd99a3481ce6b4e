// The Express application: health, metrics, OpenAPI, the probe routes and Bull Board, with one error handler.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express, { type Express, type RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ServiceConfig } from '../config.js';
import { createMonitorRouter, createStatusRouter, type MonitorApi } from '../monitor/index.js';
import { isRedisReady } from '../redis/connection.js';
import type { AddressPolicy } from '../safety/address-policy.js';
import type { ProbeJobData, ProbeJobResult } from '../worker/job.js';
import { probeJobOptions } from '../worker/job.js';
import { createAuth } from './auth.js';
import type { JobWaiter } from './job-waiter.js';
import { createHttpMetrics } from './metrics.js';
import { buildOpenApiDocument } from './openapi.js';
import { createProbeRoutes } from './probe-routes.js';
import { HttpProblem, problemMiddleware } from './problems.js';
import { createRateLimit } from './rate-limit.js';

export interface ApiDependencies {
  config: ServiceConfig;
  queue: Queue<ProbeJobData, ProbeJobResult>;
  waiter: JobWaiter;
  /** The fail-fast command client (rate limits, readiness). */
  redis: Redis;
  registry: Registry;
  logger: Logger;
  policy: AddressPolicy;
  /** Present when a worker runs in this process: readiness then requires it to be running. */
  isWorkerRunning?: () => boolean;
  version?: string;
  /** Scheduled monitoring: /monitors behind auth, /status and /status.json public. */
  monitors?: MonitorApi;
}

export const bodyLimitBytes = 16 * 1024;

export function createApp(deps: ApiDependencies): Express {
  const { config, logger, redis, registry } = deps;
  const app = express();
  app.disable('x-powered-by');
  // Probe answers are never the same twice, so hashing each body for an ETag is wasted work; the status
  // routes, which are polled, set their own ETag once per cached rendering.
  app.set('etag', false);
  if (config.trustProxyHops > 0) app.set('trust proxy', config.trustProxyHops);
  app.use(createHttpMetrics(registry));

  app.get('/healthz', (_request, response) => {
    response.json({ status: 'ok' });
  });
  app.get('/readyz', async (_request, response) => {
    const isRedisOk = isRedisReady(redis) && (await pingWithin(redis, 1000));
    const isWorkerOk = deps.isWorkerRunning ? deps.isWorkerRunning() : true;
    const body = {
      status: isRedisOk && isWorkerOk ? 'ready' : 'not_ready',
      redis: isRedisOk ? 'ok' : 'unreachable',
      worker: deps.isWorkerRunning ? (isWorkerOk ? 'running' : 'stopped') : 'not_in_this_process',
    };
    response.status(isRedisOk && isWorkerOk ? 200 : 503).json(body);
  });

  const auth = createAuth(config.apiKeys);
  const openApiDocument = buildOpenApiDocument({
    version: deps.version ?? '0.0.0',
    isAuthRequired: config.apiKeys.length > 0,
  });
  app.get('/openapi.json', auth, (_request, response) => {
    response.json(openApiDocument);
  });
  app.get('/metrics', auth, async (_request, response) => {
    response.type(registry.contentType).send(await registry.metrics());
  });

  if (config.apiKeys.length > 0) {
    // Bull Board can retry and delete jobs, so it exists only behind API keys.
    const board = new ExpressAdapter();
    board.setBasePath('/admin/queues');
    createBullBoard({ queues: [new BullMQAdapter(deps.queue)], serverAdapter: board });
    app.use('/admin/queues', createAuth(config.apiKeys, { isBasicAccepted: true }), board.getRouter());
  }

  const rateLimit = createRateLimit({
    redis,
    keyPrefix: `${config.queueName}:ratelimit`,
    points: config.rateLimit.points,
    windowSeconds: config.rateLimit.windowSeconds,
  });
  // Polling GET /probe/:id for a result spends its own, larger budget; submissions keep theirs.
  const readRateLimit = createRateLimit({
    redis,
    keyPrefix: `${config.queueName}:ratelimit-read`,
    points: config.rateLimit.readPoints,
    windowSeconds: config.rateLimit.windowSeconds,
  });
  const probeRateLimit: RequestHandler = (request, response, next) =>
    request.method === 'GET' || request.method === 'HEAD'
      ? readRateLimit(request, response, next)
      : rateLimit(request, response, next);
  app.use(
    '/probe',
    auth,
    probeRateLimit,
    express.json({ limit: bodyLimitBytes, strict: true, type: ['application/json', 'application/*+json'] }),
  );
  app.use(
    createProbeRoutes({
      queue: deps.queue,
      jobOptions: probeJobOptions({
        attempts: config.jobAttempts,
        backoffMs: config.jobBackoffMs,
        resultTtlSeconds: config.resultTtlSeconds,
      }),
      waiter: deps.waiter,
      redis,
      policy: deps.policy,
      queueMaxWaiting: config.queueMaxWaiting,
    }),
  );

  if (deps.monitors) {
    app.use(createStatusRouter(deps.monitors));
    app.use(
      '/monitors',
      auth,
      rateLimit,
      express.json({ limit: bodyLimitBytes, strict: true }),
      createMonitorRouter(deps.monitors),
    );
  }

  app.use((request, _response, next) => {
    next(new HttpProblem(404, 'notFound', `no route for ${request.method} ${request.path}`));
  });
  app.use(problemMiddleware(logger));
  return app;
}

async function pingWithin(redis: Redis, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const ping = redis.ping().then(
    (answer) => answer === 'PONG',
    () => false,
  );
  const isOk = await Promise.race([ping, timeout]);
  clearTimeout(timer);
  return isOk;
}
