// What a security and fault review broke, each held by a test against the real service and a real redis-server.
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedRedis } from '../../../src/redis/embedded.js';
import type { ProbeJobData, ProbeJobResult } from '../../../src/requests/probe-job.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import {
  eventually,
  getJson,
  type JsonBody,
  postJson,
  startDnsServer,
  startTarget,
  startTestService,
  type TestDnsServer,
} from './support.js';

const key = 'probe-key-0123456789abcdef';
const adminKey = 'admin-key-0123456789abcdef';
let redis: TestRedis;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.dispose();
});

async function finishedJob(queueName: string, id: string) {
  const queue = new Queue<ProbeJobData, ProbeJobResult>(queueName, {
    connection: new Redis(redis.url, { maxRetriesPerRequest: null }),
  });
  try {
    return await eventually(
      async () => {
        const job = await queue.getJob(id);
        return job?.finishedOn ? job : undefined;
      },
      { what: `job ${id} to finish` },
    );
  } finally {
    await queue.close();
    await queue.disconnect();
  }
}

describe('jobs are checked by the worker, whoever wrote them', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;
  let dns: TestDnsServer;
  const admin = { authorization: `Bearer ${adminKey}` };

  beforeAll(async () => {
    dns = await startDnsServer('192.0.2.10');
    // The public policy: loopback resolvers and targets are refused, as on a real deployment.
    service = await startTestService({
      redisUrl: redis.url,
      env: { QUEUE_NAME: 'harden-jobs', API_KEYS: key, ADMIN_API_KEYS: adminKey },
    });
  });

  afterAll(async () => {
    await service?.close();
    await dns?.close();
  });

  it('refuses a dashboard job naming an internal resolver, as POST /probe does, without querying it', async () => {
    const body = { url: 'http://shop.example.test/', resolvers: [dns.resolver] };
    const submitted = await postJson(`${service.apiUrl}/probe`, body, { authorization: `Bearer ${key}` });
    expect(submitted.status).toBe(422);

    const added = await postJson(
      `${service.apiUrl}/admin/queues/api/queues/harden-jobs/add`,
      { name: 'probe', data: body },
      admin,
    );
    expect(added.status).toBe(200);
    const job = await finishedJob('harden-jobs', added.body.job.id);
    expect(job.returnvalue).toMatchObject({ outcome: 'refused', field: 'resolvers.0', address: '127.0.0.1' });
    // Final on the first attempt: a refusal is an answer, not a failure to retry.
    expect(job.attemptsMade).toBe(1);
    expect(dns.queryCount()).toBe(0);
  });

  it('ends a job whose data the API schema rejects as invalid, without running it', async () => {
    const added = await postJson(
      `${service.apiUrl}/admin/queues/api/queues/harden-jobs/add`,
      { name: 'probe', data: { url: 'gopher://shop.example.test/', extra: true } },
      admin,
    );
    const job = await finishedJob('harden-jobs', added.body.job.id);
    expect(job.returnvalue).toMatchObject({ outcome: 'invalid' });
    expect(job.attemptsMade).toBe(1);
  });

  it('hides Redis details and the framework, and answers its errors as problems', async () => {
    const page = await fetch(`${service.apiUrl}/admin/queues`, { headers: admin });
    expect(page.status).toBe(200);
    expect(page.headers.get('x-powered-by')).toBeNull();
    expect(page.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    const stats = await getJson(`${service.apiUrl}/admin/queues/api/redis/stats`, admin);
    expect(JSON.stringify(stats.body)).not.toContain(String(new URL(redis.url).port));
    const missing = await fetch(`${service.apiUrl}/admin/queues/api/queues/no-such-queue/add`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'probe', data: {} }),
    });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-powered-by')).toBeNull();
    expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});

describe('shutdown with clients waiting for results', () => {
  it('answers every waiting request at once with 202 and its id, and the probes stay queued', async () => {
    // No worker: the probes stay queued, as when every worker is busy. The deadline is far beyond the test's
    // timeout, so only an early answer lets this pass.
    const service = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: { QUEUE_NAME: 'harden-shutdown', PROBE_ALLOW_PRIVATE: 'true', SHUTDOWN_DEADLINE_MS: '600000' },
    });
    const queue = new Queue<ProbeJobData, ProbeJobResult>('harden-shutdown', {
      connection: new Redis(redis.url, { maxRetriesPerRequest: null }),
    });
    try {
      const clients = Array.from({ length: 10 }, () =>
        postJson(`${service.apiUrl}/probe?wait=60`, { url: 'http://127.0.0.1:9/' }),
      );
      await eventually(async () => ((await queue.getWaitingCount()) === 10 ? true : undefined), {
        what: 'ten queued probes',
      });
      const closing = service.close();
      const answers = await Promise.all(clients);
      for (const answer of answers) {
        expect(answer.status).toBe(202);
        expect(answer.body.links.self).toBe(`/probe/${answer.body.id}`);
        expect(await queue.getJobState(answer.body.id)).toBe('waiting');
      }
      await closing;
    } finally {
      await service.close();
      await queue.obliterate({ force: true });
      await queue.close();
      await queue.disconnect();
    }
  });
});

describe('client errors', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;

  beforeAll(async () => {
    service = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: { QUEUE_NAME: 'harden-errors', PROBE_ALLOW_PRIVATE: 'true' },
    });
  });

  afterAll(async () => {
    await service?.close();
  });

  it('answers a malformed percent-encoding in an id as a 400 problem', async () => {
    for (const path of ['/probe/%E0%A4%A', '/monitors/%zz']) {
      const response = await getJson(`${service.apiUrl}${path}`);
      expect(response.status, path).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.body.type).toBe('urn:reach:problem:invalid-request');
    }
  });

  it('answers a body that claims gzip and is not as a 400 problem, and real gzip as usual', async () => {
    const broken = await fetch(`${service.apiUrl}/probe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: '{"url":"http://127.0.0.1:9/"}',
    });
    expect(broken.status).toBe(400);
    expect(broken.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body: JsonBody = await broken.json();
    expect(body.detail).not.toMatch(/zlib|header check|Error:/i);
    const gzipped = await fetch(`${service.apiUrl}/probe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync('{"url":"http://127.0.0.1:9/"}'),
    });
    expect(gzipped.status).toBe(202);
  });

  it('types an unsupported charset as unsupported-media-type', async () => {
    const response = await postJson(`${service.apiUrl}/probe`, '{"url":"http://127.0.0.1:9/"}', {
      'content-type': 'application/json; charset=koi8-r',
    });
    expect(response.status).toBe(415);
    expect(response.body.type).toBe('urn:reach:problem:unsupported-media-type');
  });

  it('takes application/*+json on /monitors as on /probe', async () => {
    const body = { name: 'Shop', url: 'http://127.0.0.1:9/', intervalSeconds: 60 };
    const monitor = await postJson(`${service.apiUrl}/monitors`, body, {
      'content-type': 'application/vnd.reach+json',
    });
    expect(monitor.status).toBe(201);
    const probe = await postJson(
      `${service.apiUrl}/probe`,
      { url: 'http://127.0.0.1:9/' },
      {
        'content-type': 'application/vnd.reach+json',
      },
    );
    expect(probe.status).toBe(202);
  });

  it('labels metrics with the full route template, errors under /monitors too', async () => {
    await getJson(`${service.apiUrl}/monitors/3f1c2a4e-0000-4000-8000-000000000000`);
    await postJson(`${service.apiUrl}/monitors`, { name: '' });
    const metrics = await (await fetch(`${service.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/route="\/monitors\/:id",status="404"/);
    expect(metrics).toMatch(/route="\/monitors",status="400"/);
    expect(metrics).not.toMatch(/route="\/:id"/);
    expect(metrics).not.toMatch(/route="\/"/);
  });
});

describe('failed authentication', () => {
  it('answers 429 once an address has sent too many wrong keys, and a right key still works', async () => {
    const service = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: {
        QUEUE_NAME: 'harden-auth',
        API_KEYS: key,
        RATE_LIMIT_AUTH_FAILURES: '5',
        RATE_LIMIT_WINDOW_SECONDS: '600',
        PROBE_ALLOW_PRIVATE: 'true',
      },
    });
    try {
      const statuses: number[] = [];
      for (let index = 0; index < 7; index += 1) {
        const wrong = await postJson(
          `${service.apiUrl}/probe`,
          { url: 'http://127.0.0.1:9/' },
          { authorization: `Bearer wrong-key-${index}-0123456789` },
        );
        statuses.push(wrong.status);
        if (wrong.status === 429) expect(Number(wrong.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
      const right = await postJson(
        `${service.apiUrl}/probe`,
        { url: 'http://127.0.0.1:9/' },
        { authorization: `Bearer ${key}` },
      );
      expect(right.status).toBe(202);
    } finally {
      await service.close();
    }
  });

  it('spends no rate-limit point on OPTIONS', async () => {
    const service = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: {
        QUEUE_NAME: 'harden-options',
        RATE_LIMIT_POINTS: '2',
        RATE_LIMIT_WINDOW_SECONDS: '600',
        PROBE_ALLOW_PRIVATE: 'true',
      },
    });
    try {
      for (let index = 0; index < 5; index += 1) {
        const options = await fetch(`${service.apiUrl}/probe`, { method: 'OPTIONS' });
        expect(options.status).toBeLessThan(300);
        await options.arrayBuffer();
      }
      const submitted = await postJson(`${service.apiUrl}/probe`, { url: 'http://127.0.0.1:9/' });
      expect(submitted.status).toBe(202);
      expect(submitted.headers.get('ratelimit-remaining')).toBe('1');
    } finally {
      await service.close();
    }
  });
});

describe('memory', () => {
  it('starts the embedded redis-server with a memory cap and noeviction', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dataDir = await mkdtemp(join(tmpdir(), 'reach-maxmemory-'));
    const server = await startEmbeddedRedis({ dataDir, maxMemoryMb: 64 });
    const client = new Redis(server.url);
    try {
      expect(await client.config('GET', 'maxmemory')).toEqual(['maxmemory', String(64 * 1024 * 1024)]);
      expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    } finally {
      client.disconnect();
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('answers 503 with Retry-After while Redis is near its cap, and accepts again below it', async () => {
    const own = await startRedis();
    const client = new Redis(own.url);
    const service = await startTestService({
      redisUrl: own.url,
      roles: { api: true, worker: false },
      env: {
        QUEUE_NAME: 'harden-memory',
        PROBE_ALLOW_PRIVATE: 'true',
        REDIS_MEMORY_HIGH_WATER_PERCENT: '90',
      },
    });
    try {
      const used = Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1]);
      // The cap just above what is used: past the high-water mark, below the point where writes fail.
      await client.config('SET', 'maxmemory', String(Math.ceil(used * 1.08)));
      const refused = await eventually(
        async () => {
          const answer = await postJson(`${service.apiUrl}/probe`, { url: 'http://127.0.0.1:9/' });
          return answer.status === 503 ? answer : undefined;
        },
        { what: 'a 503 near the memory cap', attempts: 20, intervalMs: 300 },
      );
      expect(refused.body.type).toBe('urn:reach:problem:unavailable');
      // Refused by the gauge before Redis itself runs out (which would fail the write instead).
      expect(refused.body.detail).toMatch(/near its memory limit/);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      await client.config('SET', 'maxmemory', '0');
      await eventually(
        async () => {
          const answer = await postJson(`${service.apiUrl}/probe`, { url: 'http://127.0.0.1:9/' });
          return answer.status === 202 ? true : undefined;
        },
        { what: 'submissions accepted again', attempts: 20, intervalMs: 300 },
      );
    } finally {
      await service.close();
      client.disconnect();
      await own.dispose();
    }
  });

  it('keeps at most RESULT_MAX_COUNT finished probes', async () => {
    const target = await startTarget();
    const service = await startTestService({
      redisUrl: redis.url,
      env: { QUEUE_NAME: 'harden-results', PROBE_ALLOW_PRIVATE: 'true', RESULT_MAX_COUNT: '10' },
    });
    const queue = new Queue<ProbeJobData, ProbeJobResult>('harden-results', {
      connection: new Redis(redis.url, { maxRetriesPerRequest: null }),
    });
    try {
      const ids: string[] = [];
      for (let index = 0; index < 15; index += 1) {
        const answer = await postJson(`${service.apiUrl}/probe?wait=30`, { url: target.url });
        expect(answer.status).toBe(200);
        ids.push(answer.body.id);
      }
      expect(await queue.getCompletedCount()).toBeLessThanOrEqual(10);
      expect((await getJson(`${service.apiUrl}/probe/${ids[0]}`)).status).toBe(404);
      expect((await getJson(`${service.apiUrl}/probe/${ids[14]}`)).status).toBe(200);
    } finally {
      await service.close();
      await queue.close();
      await queue.disconnect();
      await target.close();
    }
  });
});

describe('connections', () => {
  it('closes connections past HTTP_MAX_CONNECTIONS and answers a client that never finishes its headers with 408', async () => {
    const service = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: { QUEUE_NAME: 'harden-conn', HTTP_MAX_CONNECTIONS: '3', HTTP_HEADERS_TIMEOUT_MS: '1000' },
    });
    const { port } = new URL(service.apiUrl);
    const sockets: Socket[] = [];
    const open = () =>
      new Promise<Socket>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => resolve(socket));
        socket.on('error', reject);
        sockets.push(socket);
      });
    try {
      const slow = await open();
      const received: Buffer[] = [];
      slow.on('data', (chunk: Buffer) => received.push(chunk));
      slow.write('GET /healthz HTTP/1.1\r\nHost: reach.test\r\n');
      await open();
      await open();
      const extra = await open();
      await new Promise<void>((resolve) => extra.once('close', () => resolve()));
      // The slow client is cut off with 408 once its header time is up.
      await new Promise<void>((resolve) => slow.once('close', () => resolve()));
      expect(Buffer.concat(received).toString('latin1')).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await service.close();
    }
  });
});
