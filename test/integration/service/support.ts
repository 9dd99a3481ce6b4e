// Helpers for the service suites: the real service against a test Redis, loopback targets and a DNS server.

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import { type Logger, pino } from 'pino';
import { loadConfig } from '../../../src/config.js';
import { loadMonitorConfig } from '../../../src/monitor/config.js';
import type { AddressPolicy } from '../../../src/safety/address-policy.js';
import {
  type RunningService,
  type ServiceRoles,
  type StartServiceOptions,
  startService,
} from '../../../src/service.js';
import { startDnsServer as startZoneDnsServer } from '../../support/dns-server.js';
import { startNameResettingMiddlebox } from '../../support/middlebox.js';
import { startRedis, type TestRedis } from '../../support/redis.js';

export async function startTestService(options: {
  /** REDIS_URL; unset when `env` names the Redis another way (REDIS_SENTINELS, REDIS_CLUSTER_NODES). */
  redisUrl?: string;
  env?: Record<string, string>;
  /** MONITOR_* (and ALERT_*, STATUS_*) variables; default: those of the test process's environment. */
  monitorEnv?: Record<string, string>;
  roles?: ServiceRoles;
  policy?: AddressPolicy;
  wrapRunner?: StartServiceOptions['wrapRunner'];
  /** Where the service logs; default: nowhere. */
  logger?: Logger;
}): Promise<RunningService & { apiUrl: string }> {
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    ...(options.redisUrl === undefined ? {} : { REDIS_URL: options.redisUrl }),
    LOG_LEVEL: 'silent',
    SHUTDOWN_DEADLINE_MS: '5000',
    RATE_LIMIT_POINTS: '100000',
    ...options.env,
  });
  const service = await startService({
    config,
    roles: options.roles ?? { api: true, worker: true },
    ...(options.policy ? { policy: options.policy } : {}),
    ...(options.wrapRunner ? { wrapRunner: options.wrapRunner } : {}),
    ...(options.monitorEnv ? { monitorConfig: loadMonitorConfig(options.monitorEnv) } : {}),
    logger: options.logger ?? pino({ level: 'silent' }),
  });
  return { ...service, apiUrl: service.apiUrl ?? '' };
}

export interface LoopbackTarget {
  url: string;
  port: number;
  /** Requests seen, in order. */
  requests: IncomingMessage[];
  /** Connections accepted (a refused address must see none). */
  connectionCount(): number;
  /** Resolves when the n-th request (1-based) has arrived. */
  nthRequest(n: number): Promise<IncomingMessage>;
  close(): Promise<void>;
}

export async function startTarget(
  handler: (request: IncomingMessage, response: ServerResponse, index: number) => void = (
    _request,
    response,
  ) => {
    response.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>ok</body></html>');
  },
  host = '127.0.0.1',
  port = 0,
): Promise<LoopbackTarget> {
  const requests: IncomingMessage[] = [];
  const waiters = new Map<number, (request: IncomingMessage) => void>();
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((request, response) => {
    requests.push(request);
    const index = requests.length;
    waiters.get(index)?.(request);
    handler(request, response, index);
  });
  server.on('connection', (socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(port, host);
  await once(server, 'listening');
  const boundPort = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${boundPort}/`,
    port: boundPort,
    requests,
    connectionCount: () => connections,
    nthRequest(n) {
      const seen = requests[n - 1];
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.set(n, resolve));
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface TestDnsServer {
  /** "127.0.0.1:port", as a resolver spec. */
  resolver: string;
  /** The A record every name answers with from now on. */
  setAnswer(address: string): void;
  queryCount(): number;
  close(): Promise<void>;
}

/** A loopback DNS server (dns-packet over UDP) whose A answer the test changes between queries. */
export async function startDnsServer(initialAddress: string): Promise<TestDnsServer> {
  let answer = initialAddress;
  let queries = 0;
  const socket: UdpSocket = createSocket('udp4');
  socket.on('message', (message, remote) => {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return;
    }
    queries += 1;
    const question = query.questions?.[0];
    const answers: dnsPacket.Answer[] =
      question?.type === 'A' ? [{ type: 'A', name: question.name, ttl: 0, class: 'IN', data: answer }] : [];
    const reply = dnsPacket.encode({
      id: query.id ?? 0,
      type: 'response',
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER,
      questions: query.questions ?? [],
      answers,
    });
    socket.send(reply, remote.port, remote.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const port = socket.address().port;
  return {
    resolver: `127.0.0.1:${port}`,
    setAnswer(address) {
      answer = address;
    },
    queryCount: () => queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

// biome-ignore lint/suspicious/noExplicitAny: tests read whatever fields the JSON they assert on has
export type JsonBody = any;

export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: JsonBody }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: await parseBody(response) };
}

export async function getJson(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: JsonBody }> {
  const response = await fetch(url, { headers });
  return { status: response.status, headers: response.headers, body: await parseBody(response) };
}

async function parseBody(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Polls until the check passes, at most `attempts` times `intervalMs` apart (for state kept in another process). */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  options: { attempts?: number; intervalMs?: number; what: string },
): Promise<T> {
  const attempts = options.attempts ?? 100;
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
  throw new Error(`gave up waiting for ${options.what}`);
}

/** Polls GET /probe/:id until the probe has completed; resolves with its status body. */
export function completedProbe(
  apiUrl: string,
  id: string,
  options: { what: string; attempts?: number; intervalMs?: number },
): Promise<JsonBody> {
  return eventually(async () => {
    const status = await getJson(`${apiUrl}/probe/${id}`);
    return status.body.status === 'completed' ? status.body : undefined;
  }, options);
}

/**
 * The zones the vantage suites run the two-vantage lab with: isp-b resolves www.news.internal to the middlebox
 * that resets it, both send www.resets.internal there, and www.plain.internal is the site from both.
 */
export const resettingZones = {
  resetNames: ['www.news.internal', 'www.resets.internal'],
  honest: {
    'www.news.internal': '127.0.0.1',
    'www.resets.internal': '127.0.0.2',
    'www.plain.internal': '127.0.0.1',
  },
  filtered: {
    'www.news.internal': '127.0.0.2',
    'www.resets.internal': '127.0.0.2',
    'www.plain.internal': '127.0.0.1',
  },
};

export interface TwoVantages {
  redis: TestRedis;
  site: LoopbackTarget;
  /** The API and worker of vantage "local", whose resolver answers the honest zone. */
  api: RunningService & { apiUrl: string };
  /** "IP:PORT" of the honest zone's resolver, for a request that names it. */
  honestResolver: string;
  close(): Promise<void>;
}

/**
 * Two vantages on one redis-server: `reach serve` as vantage "local" (labels network=honest) resolving names
 * as `honest` says, and a worker "isp-b" (network=isp-b, region=test) resolving them as `filtered` says. On
 * 127.0.0.2 and the site's port, a middlebox resets requests naming `resetNames`. Name the sites *.internal: on
 * loopback every address is private, which for a public name would itself be evidence of a lying resolver.
 */
export async function startTwoVantages(options: {
  queueName: string;
  resetNames: string[];
  honest: Record<string, string>;
  filtered: Record<string, string>;
  env?: Record<string, string>;
}): Promise<TwoVantages> {
  const zoneOf = (answers: Record<string, string>) =>
    Object.fromEntries(Object.entries(answers).map(([name, address]) => [name, { a: [address] }]));
  const redis = await startRedis();
  const site = await startTarget();
  const middlebox = await startNameResettingMiddlebox(site.port, options.resetNames);
  const honestDns = await startZoneDnsServer(zoneOf(options.honest));
  const filteredDns = await startZoneDnsServer(zoneOf(options.filtered));
  const common = {
    QUEUE_NAME: options.queueName,
    PROBE_ALLOW_PRIVATE: 'true',
    VANTAGE_HEARTBEAT_SECONDS: '1',
    ...options.env,
  };
  const api = await startTestService({
    redisUrl: redis.url,
    env: { ...common, PROBE_RESOLVERS: honestDns.resolver, VANTAGE_LABELS: 'network=honest' },
  });
  const filteredVantage = await startTestService({
    redisUrl: redis.url,
    roles: { api: false, worker: true },
    env: {
      ...common,
      PROBE_RESOLVERS: filteredDns.resolver,
      VANTAGE_NAME: 'isp-b',
      VANTAGE_LABELS: 'network=isp-b,region=test',
    },
  });
  return {
    redis,
    site,
    api,
    honestResolver: honestDns.resolver,
    async close() {
      await filteredVantage.close();
      await api.close();
      await site.close();
      middlebox.close();
      await honestDns.close();
      await filteredDns.close();
      await redis.dispose();
    },
  };
}

export interface CapturedLog {
  logger: Logger;
  /** Every line logged, parsed, oldest first (the last 5,000). */
  lines: Array<Record<string, unknown>>;
  /** The lines whose message matches, one JSON text per line, for a failure's message. */
  matching(pattern: RegExp): string;
}

/** A logger that keeps what the service logs in memory, so a test can read it (and show it when it fails). */
export function captureLog(level: 'debug' | 'info' = 'info'): CapturedLog {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level },
    {
      write(text: string) {
        lines.push(JSON.parse(text) as Record<string, unknown>);
        if (lines.length > 5000) lines.shift();
      },
    },
  );
  return {
    logger,
    lines,
    matching: (pattern) =>
      lines
        .filter((line) => pattern.test(String(line.msg)))
        .map((line) => JSON.stringify(line))
        .join('\n'),
  };
}
