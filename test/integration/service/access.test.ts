// Who may use the API and how much: bearer keys, per-client rate limits in Redis, queue back-pressure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { getJson, postJson, startTestService } from './support.js';

const key = 'test-key-0123456789abcdef';
const adminKey = 'admin-key-0123456789abcdef';
let redis: TestRedis;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.dispose();
});

describe('with API_KEYS set', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;

  beforeAll(async () => {
    // No worker: these tests only submit.
    service = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: {
        QUEUE_NAME: 'access-auth',
        API_KEYS: `other-key-abcdefghijklmnop,${key}`,
        ADMIN_API_KEYS: adminKey,
        PROBE_ALLOW_PRIVATE: 'true',
      },
    });
  });

  afterAll(async () => {
    await service?.close();
  });

  it('answers 401 problems without a key and with a wrong one', async () => {
    const missing = await postJson(`${service.apiUrl}/probe`, { url: 'http://127.0.0.1:9/' });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(missing.body.type).toBe('urn:reach:problem:unauthorized');
    const wrong = await postJson(
      `${service.apiUrl}/probe`,
      { url: 'http://127.0.0.1:9/' },
      { authorization: `Bearer ${key}x` },
    );
    expect(wrong.status).toBe(401);
    const status = await getJson(`${service.apiUrl}/probe/3f1c2a4e-0000-4000-8000-000000000000`);
    expect(status.status).toBe(401);
  });

  it('accepts a configured key', async () => {
    const response = await postJson(
      `${service.apiUrl}/probe`,
      { url: 'http://127.0.0.1:9/' },
      { authorization: `Bearer ${key}` },
    );
    expect(response.status).toBe(202);
  });

  it('keeps health and readiness open but puts metrics, OpenAPI and Bull Board behind the key', async () => {
    expect((await getJson(`${service.apiUrl}/healthz`)).status).toBe(200);
    expect((await getJson(`${service.apiUrl}/readyz`)).status).toBe(200);
    expect((await getJson(`${service.apiUrl}/metrics`)).status).toBe(401);
    expect((await getJson(`${service.apiUrl}/openapi.json`)).status).toBe(401);
    expect((await getJson(`${service.apiUrl}/admin/queues`)).status).toBe(401);
    const board = await fetch(`${service.apiUrl}/admin/queues`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    expect(board.status).toBe(200);
    expect(await board.text()).toContain('<html');
    const queues = await getJson(`${service.apiUrl}/admin/queues/api/queues`, {
      authorization: `Bearer ${adminKey}`,
    });
    expect(queues.body.queues.map((queue: { name: string }) => queue.name)).toContain('access-auth');
  });

  it('lets a browser into Bull Board with the key as the Basic password, and asks for it', async () => {
    const challenge = await fetch(`${service.apiUrl}/admin/queues`);
    expect(challenge.status).toBe(401);
    expect(challenge.headers.get('www-authenticate')).toMatch(/^Basic realm="reach"/);
    const basic = `Basic ${Buffer.from(`admin:${adminKey}`).toString('base64')}`;
    expect(
      (await fetch(`${service.apiUrl}/admin/queues`, { headers: { authorization: basic } })).status,
    ).toBe(200);
    const wrong = `Basic ${Buffer.from('admin:not-the-key-at-all').toString('base64')}`;
    expect(
      (await fetch(`${service.apiUrl}/admin/queues`, { headers: { authorization: wrong } })).status,
    ).toBe(401);
    // Basic is for the dashboard only: the API still wants a bearer key, and an admin key is not a probing key.
    const probe = await postJson(
      `${service.apiUrl}/probe`,
      { url: 'http://127.0.0.1:9/' },
      { authorization: basic },
    );
    expect(probe.status).toBe(401);
    const adminProbe = await postJson(
      `${service.apiUrl}/probe`,
      { url: 'http://127.0.0.1:9/' },
      { authorization: `Bearer ${adminKey}` },
    );
    expect(adminProbe.status).toBe(401);
  });

  it('gives probing keys no dashboard', async () => {
    const board = await fetch(`${service.apiUrl}/admin/queues`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(board.status).toBe(401);
    expect(board.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const add = await postJson(
      `${service.apiUrl}/admin/queues/api/queues/access-auth/add`,
      { name: 'probe', data: { url: 'http://127.0.0.1:9/' } },
      { authorization: `Bearer ${key}` },
    );
    expect(add.status).toBe(401);
  });
});

describe('rate limits', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;

  beforeAll(async () => {
    service = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: {
        QUEUE_NAME: 'access-rate',
        API_KEYS: `${key},second-key-abcdefghijklmnop`,
        RATE_LIMIT_POINTS: '3',
        RATE_LIMIT_WINDOW_SECONDS: '600',
        PROBE_ALLOW_PRIVATE: 'true',
      },
    });
  });

  afterAll(async () => {
    await service?.close();
  });

  it('answers 429 with Retry-After once a key has used its requests, and counts each key apart', async () => {
    const headers = { authorization: `Bearer ${key}` };
    const statuses: number[] = [];
    for (let index = 0; index < 4; index += 1) {
      statuses.push(
        (await postJson(`${service.apiUrl}/probe`, { url: 'http://127.0.0.1:9/' }, headers)).status,
      );
    }
    expect(statuses).toEqual([202, 202, 202, 429]);
    const limited = await postJson(`${service.apiUrl}/probe`, { url: 'http://127.0.0.1:9/' }, headers);
    expect(limited.status).toBe(429);
    expect(limited.body.type).toBe('urn:reach:problem:rate-limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    const other = await postJson(
      `${service.apiUrl}/probe`,
      { url: 'http://127.0.0.1:9/' },
      { authorization: 'Bearer second-key-abcdefghijklmnop' },
    );
    expect(other.status).toBe(202);
  });

  it('keeps the count in Redis, shared by every API process', async () => {
    const replica = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: {
        QUEUE_NAME: 'access-rate',
        API_KEYS: key,
        RATE_LIMIT_POINTS: '3',
        RATE_LIMIT_WINDOW_SECONDS: '600',
      },
    });
    try {
      const response = await postJson(
        `${replica.apiUrl}/probe`,
        { url: 'http://127.0.0.1:9/' },
        { authorization: `Bearer ${key}` },
      );
      expect(response.status).toBe(429);
    } finally {
      await replica.close();
    }
  });
});

describe('the read budget', () => {
  it('lets a client poll GET /probe/:id after its submissions are used up, with a limit of its own', async () => {
    const service = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: {
        QUEUE_NAME: 'access-read',
        API_KEYS: key,
        RATE_LIMIT_POINTS: '2',
        RATE_LIMIT_READ_POINTS: '4',
        RATE_LIMIT_WINDOW_SECONDS: '600',
        PROBE_ALLOW_PRIVATE: 'true',
      },
    });
    try {
      const headers = { authorization: `Bearer ${key}` };
      const submit = () => postJson(`${service.apiUrl}/probe`, { url: 'http://127.0.0.1:9/' }, headers);
      const first = await submit();
      expect(first.status).toBe(202);
      expect(first.headers.get('ratelimit-limit')).toBe('2');
      expect((await submit()).status).toBe(202);
      expect((await submit()).status).toBe(429);

      // Submissions exhausted; reads still answer, counted against RATE_LIMIT_READ_POINTS.
      const reads: number[] = [];
      for (let index = 0; index < 5; index += 1) {
        const read = await getJson(`${service.apiUrl}/probe/${first.body.id}`, headers);
        if (index === 0) {
          expect(read.body.status).toBe('queued');
          expect(read.headers.get('ratelimit-limit')).toBe('4');
        }
        reads.push(read.status);
      }
      expect(reads).toEqual([200, 200, 200, 200, 429]);
      const limited = await getJson(`${service.apiUrl}/probe/${first.body.id}`, headers);
      expect(limited.body.type).toBe('urn:reach:problem:rate-limited');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await service.close();
    }
  });

  it('does not let polling use up the submission budget', async () => {
    const service = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: {
        QUEUE_NAME: 'access-read-first',
        API_KEYS: key,
        RATE_LIMIT_POINTS: '2',
        RATE_LIMIT_READ_POINTS: '50',
        RATE_LIMIT_WINDOW_SECONDS: '600',
        PROBE_ALLOW_PRIVATE: 'true',
      },
    });
    try {
      const headers = { authorization: `Bearer ${key}` };
      const first = await postJson(`${service.apiUrl}/probe`, { url: 'http://127.0.0.1:9/' }, headers);
      expect(first.status).toBe(202);
      for (let index = 0; index < 10; index += 1) {
        expect((await getJson(`${service.apiUrl}/probe/${first.body.id}`, headers)).status).toBe(200);
      }
      const second = await postJson(`${service.apiUrl}/probe`, { url: 'http://127.0.0.1:9/' }, headers);
      expect(second.status).toBe(202);
    } finally {
      await service.close();
    }
  });
});

describe('queue back-pressure', () => {
  it('answers 503 with Retry-After when the queue holds QUEUE_MAX_WAITING probes', async () => {
    const service = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: { QUEUE_NAME: 'access-pressure', QUEUE_MAX_WAITING: '2', PROBE_ALLOW_PRIVATE: 'true' },
    });
    try {
      const statuses: number[] = [];
      for (let index = 0; index < 3; index += 1) {
        statuses.push((await postJson(`${service.apiUrl}/probe`, { url: 'http://127.0.0.1:9/' })).status);
      }
      expect(statuses).toEqual([202, 202, 503]);
      const full = await postJson(`${service.apiUrl}/probe`, { url: 'http://127.0.0.1:9/' });
      expect(full.body.type).toBe('urn:reach:problem:queue-full');
      expect(Number(full.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await service.close();
    }
  });
});
