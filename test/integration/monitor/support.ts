// The monitoring parts against a real redis-server: an Express app with the monitor and status routers, the
// worker processors, a loopback site the test switches between healthy, failing and slow, and a webhook receiver.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Queue } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import { type Logger, pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../../src/config.js';
import { type AlertQueue, alertQueueName } from '../../../src/monitor/alerting/alerts.js';
import { loadMonitorConfig, type MonitorConfig } from '../../../src/monitor/config.js';
import {
  createChannelRouter,
  createMonitorApi,
  createMonitorBulkRouter,
  createMonitorRouter,
  createStatusRouter,
  type MonitorApi,
} from '../../../src/monitor/index.js';
import type { MonitorRecord } from '../../../src/monitor/records.js';
import type { RunEvent } from '../../../src/monitor/runner.js';
import { shardIdOf, shardOf } from '../../../src/monitor/schedule/shards.js';
import type { MonitorQueue } from '../../../src/monitor/scheduler.js';
import { type MonitorWorkers, startMonitorWorkers } from '../../../src/monitor/workers.js';
import { connectorForUrl } from '../../../src/redis/connection.js';
import { problemMiddleware } from '../../../src/requests/problems.js';
import type { AddressPolicy } from '../../../src/safety/address-policy.js';
import { createAddressPolicy } from '../../../src/safety/address-policy.js';
import { type RunningService, startService } from '../../../src/service.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import type { JsonBody } from '../service/support.js';

export type { JsonBody };

/** Loopback only: what the tests may reach; everything else keeps the public prober's refusals. */
export const loopbackPolicy: AddressPolicy = (address) =>
  address === '127.0.0.1' ? undefined : createAddressPolicy({ isPrivateAllowed: false })(address);

export const probeDefaults = {
  resolvers: [],
  controls: [],
  timeoutMs: 5000,
  maxRedirects: 5,
  maxBodyBytes: 65_536,
};

export interface MonitorHarness {
  url: string;
  api: MonitorApi;
  workers: MonitorWorkers;
  registry: Registry;
  config: MonitorConfig;
  /** The webhook queue, read to see which alerts were queued. */
  alertQueue: AlertQueue;
  close(): Promise<void>;
}

export async function startMonitorHarness(options: {
  redisUrl: string;
  env?: Record<string, string>;
  policy?: AddressPolicy;
  /** The operator's probe settings (default: `probeDefaults`); a test CA goes in `ca`. */
  probeDefaults?: typeof probeDefaults & { ca?: string[] };
  /** Where the workers log; default: nowhere. */
  logger?: Logger;
}): Promise<MonitorHarness> {
  const config = loadMonitorConfig({
    // No scheduled tick fires during a test: runs are triggered (runNow) and awaited.
    MONITOR_FIRST_TICK_DELAY_SECONDS: String(7 * 86_400),
    ALERT_BACKOFF_MS: '20',
    STATUS_CACHE_SECONDS: '0',
    ...options.env,
  });
  const policy = options.policy ?? loopbackPolicy;
  const logger = options.logger ?? pino({ level: 'silent' });
  const registry = new Registry();
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  const connector = connectorForUrl(options.redisUrl, 'test');
  const api = createMonitorApi({
    redis,
    keys: connector.keys,
    baseQueueName: 'test',
    config,
    policy,
    registry,
  });
  const workers = startMonitorWorkers({
    redis: connector,
    baseQueueName: 'test',
    config,
    probeDefaults: options.probeDefaults ?? probeDefaults,
    policy,
    logger,
    registry,
  });
  const alertQueue: AlertQueue = new Queue(alertQueueName('test'), { connection: redis });
  const app = express();
  app.use(createStatusRouter(api));
  app.use('/monitors/bulk', createMonitorBulkRouter(api));
  app.use('/monitors', express.json({ limit: 16 * 1024 }), createMonitorRouter(api));
  app.use('/channels', express.json({ limit: 16 * 1024 }), createChannelRouter(api));
  app.get('/metrics', async (_request, response) => {
    response.type(registry.contentType).send(await registry.metrics());
  });
  app.use(problemMiddleware(logger));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    api,
    workers,
    registry,
    config,
    alertQueue,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await workers.close(5000);
      await api.close();
      await alertQueue.close();
      redis.disconnect();
    },
  };
}

/** Keeps every applied run by monitor, so a test can await "the n-th run of this monitor" without races. */
export class RunRecorder {
  private readonly runs = new Map<string, RunEvent[]>();
  private readonly waiters: Array<{ monitorId: string; count: number; resolve: (runs: RunEvent[]) => void }> =
    [];
  private readonly listener = (event: RunEvent) => {
    const list = this.runs.get(event.monitorId) ?? [];
    list.push(event);
    this.runs.set(event.monitorId, list);
    for (const waiter of [...this.waiters]) {
      if (waiter.monitorId === event.monitorId && list.length >= waiter.count) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(list.slice(0, waiter.count));
      }
    }
  };

  constructor(private readonly workers: MonitorWorkers) {
    workers.events.on('run', this.listener);
  }

  count(monitorId: string): number {
    return this.runs.get(monitorId)?.length ?? 0;
  }

  /** Resolves with the runs 1..count of the monitor once the count-th has been applied. */
  upTo(monitorId: string, count: number): Promise<RunEvent[]> {
    const list = this.runs.get(monitorId) ?? [];
    if (list.length >= count) return Promise.resolve(list.slice(0, count));
    return new Promise((resolve) => this.waiters.push({ monitorId, count, resolve }));
  }

  /** The next `count` runs after those seen so far. */
  async next(monitorId: string, count: number): Promise<RunEvent[]> {
    const seen = this.count(monitorId);
    return (await this.upTo(monitorId, seen + count)).slice(seen);
  }

  stop(): void {
    this.workers.events.off('run', this.listener);
  }
}

export type SiteMode = 'healthy' | 'failing' | 'slow' | 'overloaded';

export interface SwitchableSite {
  url: string;
  mode: SiteMode;
  /** Milliseconds the slow mode waits before the first byte. */
  slowDelayMs: number;
  /** The next this-many requests fail (500) whatever the mode, then the mode applies again. */
  failuresLeft: number;
  requestCount(): number;
  close(): Promise<void>;
}

export async function startSwitchableSite(): Promise<SwitchableSite> {
  const sockets = new Set<Socket>();
  let requests = 0;
  const site: SwitchableSite = {
    url: '',
    mode: 'healthy',
    slowDelayMs: 800,
    failuresLeft: 0,
    requestCount: () => requests,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((request, response) => {
    requests += 1;
    request.resume();
    const mode = site.failuresLeft > 0 ? 'failing' : site.mode;
    if (site.failuresLeft > 0) site.failuresLeft -= 1;
    if (mode === 'healthy') response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>');
    else if (mode === 'failing')
      response.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
    else if (mode === 'overloaded') response.writeHead(503, { 'retry-after': '30' }).end('busy');
    else {
      const timer = setTimeout(
        () => response.writeHead(200, { 'content-type': 'text/html' }).end('<html>late</html>'),
        site.slowDelayMs,
      );
      response.on('close', () => clearTimeout(timer));
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  site.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return site;
}

export interface WebhookReceiver {
  url: string;
  deliveries: Array<{ headers: IncomingMessage['headers']; body: string; status: number }>;
  /** Status codes to answer, in order (0: never answer, hold the request open); 200 once they run out. */
  answers: number[];
  /** Resolves when the n-th delivery attempt (1-based) has been answered. */
  nth(n: number): Promise<{ headers: IncomingMessage['headers']; body: string; status: number }>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const held = new Set<ServerResponse>();
  const waiters = new Map<number, () => void>();
  const receiver: WebhookReceiver = {
    url: '',
    deliveries: [],
    answers: [],
    nth(n) {
      const seen = receiver.deliveries[n - 1];
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) =>
        waiters.set(n, () => resolve(receiver.deliveries[n - 1] as WebhookReceiver['deliveries'][number])),
      );
    },
    close: () => {
      for (const response of held) response.destroy();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const status = receiver.answers.shift() ?? 200;
      receiver.deliveries.push({
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        status,
      });
      if (status === 0) held.add(response);
      else response.writeHead(status).end();
      waiters.get(receiver.deliveries.length)?.();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return receiver;
}

export async function sendJson(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: JsonBody }> {
  const response = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/**
 * The whole service (API and worker, as `reach serve` runs them) on a free loopback port against the
 * test's Redis, with private targets allowed (the sites live on loopback) and monitor settings from `monitorEnv`.
 */
export function startTestService(options: {
  redisUrl: string;
  apiKey: string;
  /** ADMIN_API_KEYS: the key /channels asks for. */
  adminApiKey?: string;
  monitorEnv: Record<string, string>;
  /** Service settings over the defaults here (RATE_LIMIT_POINTS …). */
  serviceEnv?: Record<string, string>;
}): Promise<RunningService> {
  return startService({
    config: loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      REDIS_URL: options.redisUrl,
      API_KEYS: options.apiKey,
      ...(options.adminApiKey ? { ADMIN_API_KEYS: options.adminApiKey } : {}),
      PROBE_ALLOW_PRIVATE: 'true',
      RATE_LIMIT_POINTS: '100000',
      SHUTDOWN_DEADLINE_MS: '5000',
      ...options.serviceEnv,
    }),
    roles: { api: true, worker: true },
    logger: pino({ level: 'silent' }),
    monitorConfig: loadMonitorConfig(options.monitorEnv),
  });
}

/** What most monitoring suites run against: a redis-server, the switchable site, a webhook receiver, the harness. */
export interface MonitorSuite {
  redis: TestRedis;
  site: SwitchableSite;
  receiver: WebhookReceiver;
  harness: MonitorHarness;
  recorder: RunRecorder;
  close(): Promise<void>;
}

export async function startMonitorSuite(): Promise<MonitorSuite> {
  const redis = await startRedis();
  const site = await startSwitchableSite();
  const receiver = await startWebhookReceiver();
  const harness = await startMonitorHarness({ redisUrl: redis.url });
  const recorder = new RunRecorder(harness.workers);
  return {
    redis,
    site,
    receiver,
    harness,
    recorder,
    async close() {
      recorder.stop();
      await harness.close();
      await site.close();
      await receiver.close();
      await redis.dispose();
    },
  };
}

/** A monitor record as the store keeps it, for tests that write monitors through MonitorStore directly. */
export function monitorRecord(id: string, fields: Partial<MonitorRecord> = {}): MonitorRecord {
  return {
    id,
    name: 'Shop',
    url: 'http://127.0.0.1:9/',
    intervalSeconds: 60,
    confirmations: 2,
    tags: [],
    maintenance: [],
    webhooks: [],
    createdAt: '2026-03-01T00:00:00.000Z',
    updatedAt: '2026-03-01T00:00:00.000Z',
    ...fields,
  };
}

/** `count` monitor ids whose 60 s ticks fall in one shard (ids are fixed, so the search is too). */
export function idsOfOneShard(count: number, seed: string): string[] {
  const byShard = new Map<string, string[]>();
  for (let index = 0; index < 1_000_000; index += 1) {
    const id = `${seed}-0000-4000-8000-${String(index).padStart(12, '0')}`;
    const key = shardIdOf(shardOf({ id, intervalSeconds: 60 }));
    const ids = [...(byShard.get(key) ?? []), id];
    if (ids.length === count) return ids;
    byShard.set(key, ids);
  }
  throw new Error(`no shard of ${count} among the ids searched`);
}

/** The re-checks a queue was given: each addBulk call's (monitor and job id), and how many were added alone. */
export interface RecheckQueueing {
  bulkCalls: Array<Array<{ monitorId: string; jobId: string }>>;
  singleAdds: number;
}

/** Counts, from now on, every re-check job the queue is given, by the call it went in. */
export function watchRecheckQueueing(queue: MonitorQueue): RecheckQueueing {
  const queueing: RecheckQueueing = { bulkCalls: [], singleAdds: 0 };
  const addBulk = queue.addBulk.bind(queue);
  const add = queue.add.bind(queue);
  queue.addBulk = (async (jobs: Parameters<typeof addBulk>[0]) => {
    const rechecks = jobs.filter((job) => (job.data as { trigger?: string }).trigger === 'recheck');
    if (rechecks.length > 0)
      queueing.bulkCalls.push(
        rechecks.map((job) => ({
          monitorId: (job.data as { monitorId: string }).monitorId,
          jobId: String(job.opts?.jobId),
        })),
      );
    return addBulk(jobs);
  }) as typeof queue.addBulk;
  queue.add = (async (...args: Parameters<typeof add>) => {
    if ((args[1] as { trigger?: string }).trigger === 'recheck') queueing.singleAdds += 1;
    return add(...args);
  }) as typeof queue.add;
  return queueing;
}
