// The Express application: health, metrics, OpenAPI, the probe routes, Bull Board and the routers it is given,
// with one error handler.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express, { type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ServiceConfig } from '../config.js';
import type { RedisClient } from '../redis/connection.js';
import { isRedisReady } from '../redis/connection.js';
import { isRedisRefusingWrites } from '../redis/errors.js';
import { createMemoryGauge } from '../redis/memory.js';
import type { OpenApiFragment } from '../requests/openapi.js';
import type { ProbeJobData, ProbeJobResult } from '../requests/probe-job.js';
import { probeJobOptions } from '../requests/probe-job.js';
import { HttpProblem, problemMiddleware, sendProblem } from '../requests/problems.js';
import { jsonMediaTypes } from '../requests/schemas.js';
import type { AddressPolicy } from '../safety/address-policy.js';
import { createAuth } from './auth.js';
import type { JobWaiter } from './job-waiter.js';
import { createHttpMetrics, markRouteBase } from './metrics.js';
import { buildOpenApiDocument } from './openapi.js';
import { createProbeRoutes, createVantageRoutes, type ProbeRoutesOptions } from './probe-routes.js';
import { createFailureLimit, createRateLimit } from './rate-limit.js';

/** A worker in the API's process: taking jobs, stopped, or held (taking none while Redis refuses writes). */
export type WorkerState = 'running' | 'stopped' | 'held';

export interface ApiDependencies {
  config: ServiceConfig;
  queue: Queue<ProbeJobData, ProbeJobResult>;
  waiter: JobWaiter;
  /** The fail-fast command client (rate limits, readiness). */
  redis: RedisClient;
  registry: Registry;
  logger: Logger;
  policy: AddressPolicy;
  /**
   * Present when a worker runs in this process: readiness then requires it to be running, not stopped and not held
   * (taking no jobs while Redis refuses writes).
   */
  workerState?: () => WorkerState;
  version?: string;
  /** Routers mounted beside the probe API (the monitors and the status page), wired by the composition root. */
  routers?: readonly RouterMount[];
  /** Vantage points: GET /vantages, and POST /probe with `vantages` fans out to them. */
  vantages?: ProbeRoutesOptions['vantages'];
  /** The text of /metrics when it is more than the registry's (serve's worker processes summed in). */
  metricsText?: () => Promise<string>;
}

/** A router the app mounts beside its own, with the part of the OpenAPI document that describes it. */
export interface RouterMount {
  /** Answered to anyone, before the keyed routes: public pages. */
  publicRouter?: RequestHandler;
  /**
   * Mounted at `path` behind the API key, the write rate limit and the JSON body parser. `parsesOwnBody`: the
   * router reads its bodies itself (larger ones, or text); `readsSpendReadBudget`: its GETs spend the read
   * budget, as polling GET /probe/:id does.
   */
  keyedRouter?: {
    path: string;
    router: RequestHandler;
    parsesOwnBody?: boolean;
    readsSpendReadBudget?: boolean;
  };
  /**
   * Mounted at `path` behind an admin key (ADMIN_API_KEYS), the write rate limit and the JSON body parser. With
   * no admin keys it answers only when the service has no API keys at all (open, for local use); else 404.
   */
  adminRouter?: { path: string; router: RequestHandler };
  openApi?: OpenApiFragment;
}

export const bodyLimitBytes = 16 * 1024;

export function createApp(deps: ApiDependencies): Express {
  const { config, logger, redis, registry } = deps;
  const routers = deps.routers ?? [];
  const app = express();
  app.disable('x-powered-by');
  app.use((_request, response, next) => {
    response.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });
  // Probe answers are never the same twice, so hashing each body for an ETag is wasted work; the status
  // routes, which are polled, set their own ETag once per cached rendering.
  app.set('etag', false);
  if (config.trustProxyHops > 0) app.set('trust proxy', config.trustProxyHops);
  app.use(createHttpMetrics(registry));

  app.get('/healthz', (_request, response) => {
    response.json({ status: 'ok' });
  });
  app.get('/readyz', async (_request, response) => {
    const redisState = isRedisReady(redis) ? await pingWithin(redis, 1000) : 'unreachable';
    const isRedisOk = redisState === 'ok';
    const workerState = deps.workerState ? deps.workerState() : 'not_in_this_process';
    const isWorkerOk = workerState === 'running' || workerState === 'not_in_this_process';
    const body = {
      status: isRedisOk && isWorkerOk ? 'ready' : 'not_ready',
      redis: redisState,
      worker: workerState,
    };
    response.status(isRedisOk && isWorkerOk ? 200 : 503).json(body);
  });

  // Wrong or missing keys are limited per client address, so keys cannot be guessed at the speed of the network.
  const failureLimit = createFailureLimit({
    redis,
    keyPrefix: `${config.queueName}:ratelimit-auth`,
    points: config.rateLimit.authFailures,
    windowSeconds: config.rateLimit.windowSeconds,
  });
  const auth = createAuth(config.apiKeys, { failureLimit });
  const openApiDocument = buildOpenApiDocument({
    version: deps.version ?? '0.0.0',
    isAuthRequired: config.apiKeys.length > 0,
    fragments: routers.flatMap((mount) => (mount.openApi ? [mount.openApi] : [])),
  });
  app.get('/openapi.json', auth, (_request, response) => {
    response.json(openApiDocument);
  });
  app.get('/metrics', auth, async (_request, response) => {
    response.type(registry.contentType).send(await (deps.metricsText ?? (() => registry.metrics()))());
  });

  if (config.adminApiKeys.length > 0) {
    app.use(
      '/admin/queues',
      markRouteBase,
      createAuth(config.adminApiKeys, { isBasicAccepted: true, failureLimit }),
      createQueueDashboard(deps.queue, logger),
    );
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
  // OPTIONS is answered by Express from the routes it knows (Allow): it costs nothing and spends nothing.
  const probeRateLimit: RequestHandler = (request, response, next) => {
    if (request.method === 'OPTIONS') next();
    else if (request.method === 'GET' || request.method === 'HEAD') readRateLimit(request, response, next);
    else rateLimit(request, response, next);
  };
  const writeRateLimit: RequestHandler = (request, response, next) => {
    if (request.method === 'OPTIONS') next();
    else rateLimit(request, response, next);
  };
  const jsonBody = express.json({ limit: bodyLimitBytes, strict: true, type: jsonMediaTypes });
  app.use(
    '/probe',
    markRouteBase,
    auth,
    probeRateLimit,
    jsonBody,
    createProbeRoutes({
      queue: deps.queue,
      jobOptions: probeJobOptions({
        attempts: config.jobAttempts,
        backoffMs: config.jobBackoffMs,
        resultTtlSeconds: config.resultTtlSeconds,
        resultMaxCount: config.resultMaxCount,
      }),
      waiter: deps.waiter,
      redis,
      policy: deps.policy,
      queueMaxWaiting: config.queueMaxWaiting,
      memory: createMemoryGauge(redis, config.redisMemoryHighWaterPercent),
      ...(deps.vantages ? { vantages: deps.vantages } : {}),
    }),
  );
  if (deps.vantages) {
    app.use('/vantages', markRouteBase, auth, readRateLimit, createVantageRoutes(deps.vantages.registry));
  }

  for (const mount of routers) {
    if (mount.publicRouter) app.use(mount.publicRouter);
    if (mount.keyedRouter) {
      const { path, router, parsesOwnBody, readsSpendReadBudget } = mount.keyedRouter;
      const limit = readsSpendReadBudget ? probeRateLimit : writeRateLimit;
      if (parsesOwnBody) app.use(path, markRouteBase, auth, limit, router);
      else app.use(path, markRouteBase, auth, limit, jsonBody, router);
    }
    if (mount.adminRouter && (config.adminApiKeys.length > 0 || config.apiKeys.length === 0)) {
      const { path, router } = mount.adminRouter;
      const adminAuth = createAuth(config.adminApiKeys, { failureLimit });
      app.use(path, markRouteBase, adminAuth, writeRateLimit, jsonBody, router);
    }
  }

  app.use((request, _response, next) => {
    next(new HttpProblem(404, 'notFound', `no route for ${request.method} ${request.path}`));
  });
  app.use(problemMiddleware(logger));
  return app;
}

/**
 * Bull Board for admin keys only: it can add, retry and delete jobs. Workers check every job they take, so a
 * job added here is held to the same schema and address policy as POST /probe. Redis details stay hidden, the
 * page gets a CSP, and its errors leave as problem+json with no internal text.
 */
function createQueueDashboard(queue: Queue, logger: Logger): RequestHandler {
  const board = new ExpressAdapter();
  board.setBasePath('/admin/queues');
  createBullBoard({
    queues: [new BullMQAdapter(queue)],
    serverAdapter: board,
    options: { uiConfig: { hideRedisDetails: true } },
  });
  board.setErrorHandler((error) => {
    logger.warn({ err: error }, 'queue dashboard error');
    return { status: 500, body: {} };
  });
  const dashboard = board.getRouter() as Express;
  dashboard.disable('x-powered-by');
  return (request, response, next) => {
    response.setHeader(
      'Content-Security-Policy',
      "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
    );
    response.setHeader('X-Frame-Options', 'DENY');
    const json = response.json.bind(response);
    // The board answers its own errors as JSON of its own shape: rewrite them as problems with no internals.
    response.json = (body: unknown) => {
      if (response.statusCode < 400) return json(body);
      const status = response.statusCode;
      const kind = status === 404 ? 'notFound' : status >= 500 ? 'internal' : 'invalidRequest';
      sendProblem(
        response,
        new HttpProblem(
          status,
          kind,
          status >= 500 ? 'the queue dashboard failed; it was logged' : 'the dashboard refused the request',
        ),
        request.originalUrl,
      );
      return response;
    };
    dashboard(request, response, next);
  };
}

/**
 * Redis's answer to a PING within the time: `refusing_writes` when it answers MISCONF (its disk failing: Redis then
 * refuses PING with the writes). At its memory cap Redis still answers PING; /probe's 503 says that one.
 */
async function pingWithin(
  redis: RedisClient,
  timeoutMs: number,
): Promise<'ok' | 'unreachable' | 'refusing_writes'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'unreachable'>((resolve) => {
    timer = setTimeout(() => resolve('unreachable'), timeoutMs);
  });
  const ping = redis.ping().then(
    (answer) => (answer === 'PONG' ? 'ok' : 'unreachable'),
    (error: unknown) => (isRedisRefusingWrites(error) ? 'refusing_writes' : 'unreachable'),
  );
  const state = await Promise.race([ping, timeout]);
  clearTimeout(timer);
  return state;
}
