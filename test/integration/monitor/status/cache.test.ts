// /status.json and /status over real HTTP against a real redis-server: one rendering per cache window, its
// ETag, 304 answers to If-None-Match, a new body after the window, one gathering for concurrent requests,
// and 503 while Redis is down without keeping the failure. The router's clock is the test's, so stepping past
// the window needs no waiting.
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import express from 'express';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMonitorConfig } from '../../../../src/monitor/config.js';
import { createStatusRouter } from '../../../../src/monitor/http/routes.js';
import type { MonitorStatus } from '../../../../src/monitor/state-machine.js';
import { gzipMinBytes } from '../../../../src/monitor/status/cache.js';
import { MonitorStore } from '../../../../src/monitor/store.js';
import { problemMiddleware } from '../../../../src/requests/problems.js';
import type { RunningService } from '../../../../src/service.js';
import { startRedis, type TestRedis } from '../../../support/redis.js';
import { monitorRecord, sendJson, startTestService } from '../support.js';

const cacheSeconds = 60;
const keyPrefix = 'status-cache-test:monitor';
const monitorId = '00000000-0000-4000-8000-000000000001';
let redis: TestRedis;
let client: Redis;
let store: MonitorStore;
let server: Server;
let baseUrl: string;
let clockMs = Date.parse('2026-03-02T10:00:00Z');

/** Moves the monitor to `state` through the store's compare-and-set, as the runner does. */
async function setState(state: MonitorStatus['state']): Promise<void> {
  const current = await store.getStatus(monitorId);
  const outcome = await store.casStatus(monitorId, current.version, {
    version: current.version + 1,
    state,
    sinceMs: clockMs,
    consecutiveFailures: state === 'down' ? 2 : 0,
    lastStartedAtMs: clockMs,
  });
  expect(outcome).toBe('written');
}

/** Steps the router's clock past the window in which the last gathering serves. */
function endWindow(): void {
  clockMs += (cacheSeconds + 1) * 1000;
}

/** Asks for the identity body unless told otherwise (fetch would ask for gzip and decode it unseen). */
async function get(path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${baseUrl}${path}`, {
    headers: { 'accept-encoding': 'identity', ...headers },
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** A GET that leaves the body as sent (no decoding), to see the encoding on the wire. */
async function rawGet(path: string, headers: Record<string, string>) {
  const answer = await request(`${baseUrl}${path}`, { headers });
  return {
    status: answer.statusCode,
    headers: answer.headers,
    body: Buffer.from(await answer.body.arrayBuffer()),
  };
}

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined); // the outage test stops Redis: the failures are asserted on the answers
  store = new MonitorStore(client, {
    keyPrefix,
    historyMaxAgeSeconds: 86_400,
    historyMaxEntries: 100,
  });
  await store.putMonitor(monitorRecord(monitorId));
  await setState('up');
  const app = express();
  app.set('etag', false); // as the service's app: the status routes set their own
  app.use(
    createStatusRouter({
      store,
      config: loadMonitorConfig({ STATUS_CACHE_SECONDS: String(cacheSeconds), STATUS_PAGE_TITLE: 'Acme' }),
      clock: () => clockMs,
    }),
  );
  app.use(problemMiddleware(pino({ level: 'silent' })));
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  client?.disconnect();
  await redis?.dispose();
});

describe.each([
  { path: '/status.json', contentType: 'application/json; charset=utf-8', downText: '"major_outage"' },
  { path: '/status', contentType: 'text/html; charset=utf-8', downText: 'Major Service Outage' },
])('GET $path', ({ path, contentType, downText }) => {
  it('sends the identical body and ETag to a second request inside the cache window', async () => {
    endWindow();
    await setState('up');
    const first = await get(path);
    // Changed after the first request: a request inside the window still gets the first rendering.
    await setState('down');
    const second = await get(path);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(first.headers.get('content-type')).toBe(contentType);
    expect(first.headers.get('cache-control')).toBe(`public, max-age=${cacheSeconds}`);
    expect(first.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(second.text).toBe(first.text);
    expect(second.text).not.toContain(downText);
  });

  it('answers If-None-Match with the current ETag by 304 without a body, in any of its forms', async () => {
    const current = await get(path);
    const etag = current.headers.get('etag') ?? '';
    for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const revalidated = await get(path, { 'if-none-match': header });
      expect(revalidated.status).toBe(304);
      expect(revalidated.text).toBe('');
      expect(revalidated.headers.get('etag')).toBe(etag);
      expect(revalidated.headers.get('cache-control')).toBe(`public, max-age=${cacheSeconds}`);
    }
    const otherTag = await get(path, { 'if-none-match': '"some-older-rendering"' });
    expect(otherTag.status).toBe(200);
    expect(otherTag.text).toBe(current.text);
  });

  it('gives a new body and ETag once the window is over and the monitor state has changed', async () => {
    endWindow();
    await setState('up');
    const before = await get(path);
    await setState('down');
    endWindow();
    const after = await get(path);
    expect(after.status).toBe(200);
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
    expect(before.text).not.toContain(downText);
    expect(after.text).toContain(downText);
    const stale = await get(path, { 'if-none-match': before.headers.get('etag') ?? '' });
    expect(stale.status).toBe(200);
    expect(stale.text).toBe(after.text);
  });
});

describe('the status routes together', () => {
  it('sends Access-Control-Allow-Origin: * with status.json and its 304', async () => {
    const json = await get('/status.json');
    expect(json.headers.get('access-control-allow-origin')).toBe('*');
    const revalidated = await get('/status.json', { 'if-none-match': json.headers.get('etag') ?? '' });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('reads Redis once for many concurrent requests of both views in a new window', async () => {
    endWindow();
    await client.config('RESETSTAT');
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, index) => get(index % 2 === 0 ? '/status.json' : '/status')),
    );
    const stats = await client.info('commandstats');
    // HVALS of the monitors hash starts every gathering; nothing else in this test sends it.
    expect(/cmdstat_hvals:calls=(\d+)/.exec(stats)?.[1]).toBe('1');
    const jsonTags = new Set(answers.filter((_, index) => index % 2 === 0).map((a) => a.headers.get('etag')));
    const htmlTags = new Set(answers.filter((_, index) => index % 2 === 1).map((a) => a.headers.get('etag')));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(jsonTags.size).toBe(1);
    expect(htmlTags.size).toBe(1);
  });

  it('answers 503 while Redis is down and serves fresh data as soon as it is back', async () => {
    endWindow();
    await redis.stop();
    try {
      for (const path of ['/status.json', '/status']) {
        const failed = await sendJson('GET', `${baseUrl}${path}`);
        expect(failed.status).toBe(503);
        expect(failed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(failed.body.type).toBe('urn:reach:problem:unavailable');
        expect(failed.headers.get('etag')).toBeNull();
        // The public page says what is wrong in its own words, never the Redis client's (hosts, commands).
        expect(JSON.stringify(failed.body)).not.toMatch(
          /ECONNREFUSED|Connection is closed|127\.0\.0\.1|retries/i,
        );
      }
    } finally {
      // Not events.once: it rejects on the reconnect errors that may come before 'ready'.
      const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
      await redis.restart();
      await ready;
    }
    // Same clock, so the window of a kept failure would still be open: the answer shows it was not kept.
    await setState('degraded');
    const json = await sendJson('GET', `${baseUrl}/status.json`);
    expect(json.status).toBe(200);
    expect(json.body.components[0].status).toBe('degraded_performance');
    const page = await get('/status');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Degraded');
  });
});

describe('content encoding', () => {
  it('sends gzip to a client that accepts it, with an ETag of its own, and revalidates it by 304', async () => {
    const identity = await get('/status');
    expect(identity.text.length).toBeGreaterThanOrEqual(gzipMinBytes);
    const answer = await rawGet('/status', { 'accept-encoding': 'gzip, deflate, br' });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-encoding']).toBe('gzip');
    expect(answer.headers.vary).toContain('Accept-Encoding');
    expect(gunzipSync(answer.body).toString('utf8')).toBe(identity.text);
    const etag = String(answer.headers.etag);
    expect(etag).not.toBe(identity.headers.get('etag'));
    const again = await rawGet('/status', { 'accept-encoding': 'gzip' });
    expect(again.headers.etag).toBe(etag);
    const revalidated = await rawGet('/status', { 'accept-encoding': 'gzip', 'if-none-match': etag });
    expect(revalidated.status).toBe(304);
    expect(revalidated.body.length).toBe(0);
    // The identity body's ETag does not validate the gzip representation.
    const mismatched = await rawGet('/status', {
      'accept-encoding': 'gzip',
      'if-none-match': identity.headers.get('etag') ?? '',
    });
    expect(mismatched.status).toBe(200);
    expect(identity.headers.get('content-encoding')).toBeNull();
  });

  it('sends a body under gzipMinBytes as it is, even to a client that accepts gzip', async () => {
    const identity = await get('/status.json');
    expect(identity.text.length).toBeLessThan(gzipMinBytes);
    const answer = await rawGet('/status.json', { 'accept-encoding': 'gzip' });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-encoding']).toBeUndefined();
    expect(answer.headers.vary).toContain('Accept-Encoding');
    expect(answer.body.toString('utf8')).toBe(identity.text);
    expect(answer.headers.etag).toBe(identity.headers.get('etag'));
  });
});

describe('in reach serve (the ETag the service app would not add)', () => {
  let serviceRedis: TestRedis;
  let service: RunningService;

  beforeAll(async () => {
    serviceRedis = await startRedis();
    service = await startTestService({
      redisUrl: serviceRedis.url,
      apiKey: 'status-cache-test-key-0123456789abcdef',
      monitorEnv: { STATUS_CACHE_SECONDS: '3600' },
    });
  });

  afterAll(async () => {
    await service?.close();
    await serviceRedis?.dispose();
  });

  it.each(['/status.json', '/status'])(
    '%s carries an ETag and answers its revalidation with 304',
    async (path) => {
      const identity = { headers: { 'accept-encoding': 'identity' } };
      const first = await fetch(`${service.apiUrl}${path}`, identity);
      const text = await first.text();
      const etag = first.headers.get('etag');
      expect(first.status).toBe(200);
      expect(etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
      const second = await fetch(`${service.apiUrl}${path}`, identity);
      expect(second.headers.get('etag')).toBe(etag);
      expect(await second.text()).toBe(text);
      const revalidated = await fetch(`${service.apiUrl}${path}`, {
        headers: { ...identity.headers, 'if-none-match': etag ?? '' },
      });
      expect(revalidated.status).toBe(304);
      expect(await revalidated.text()).toBe('');
    },
  );
});
