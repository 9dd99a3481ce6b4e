// A probe or a batch that asks for vantages while no vantage point is registered: the API (with a worker that is no
// vantage, as `reach api` beside a `reach worker` without VANTAGE_NAME) answers 422 problem+json naming the
// `vantages` field, and queues nothing: no job on any queue, no batch kept, no packet sent to the target.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchQueueName } from '../../../src/batch/jobs.js';
import { connectorForUrl } from '../../../src/redis/connection.js';
import { compareQueueName } from '../../../src/vantages/registry.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { type JsonBody, type LoopbackTarget, postJson, startTarget, startTestService } from './support.js';

const queueName = 'novantages';
let redis: TestRedis;
let client: Redis;
let site: LoopbackTarget;
let api: Awaited<ReturnType<typeof startTestService>>;
let worker: Awaited<ReturnType<typeof startTestService>>;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  site = await startTarget();
  const env = { QUEUE_NAME: queueName, PROBE_ALLOW_PRIVATE: 'true' };
  api = await startTestService({ redisUrl: redis.url, roles: { api: true, worker: false }, env });
  worker = await startTestService({ redisUrl: redis.url, roles: { api: false, worker: true }, env });
});

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await site?.close();
  client?.disconnect();
  await redis?.dispose();
});

/** Every key in the test's Redis. */
async function allKeys(): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, page] = await client.scan(cursor, 'COUNT', 1000);
    cursor = next;
    keys.push(...page);
  } while (cursor !== '0');
  return keys.sort();
}

/** The 422 every such request gets: a problem on the `vantages` field that says no vantage is live. */
function expectNoVantageProblem(
  answer: { status: number; headers: Headers; body: JsonBody },
  instance: string,
) {
  expect(answer.status).toBe(422);
  expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(answer.body).toEqual({
    type: 'urn:reach:problem:invalid-request',
    title: 'The request is not valid',
    status: 422,
    detail: expect.any(String),
    instance,
    field: 'vantages',
    errors: [{ field: 'vantages', message: answer.body.detail }],
  });
  expect(answer.body.detail).toMatch(/no vantage is live|0 live vantages/);
}

describe('vantages asked for while none is registered', () => {
  it('answers POST /probe and POST /batches with 422 problem+json on `vantages`, and queues nothing', async () => {
    const keysBefore = await allKeys();
    const url = `${site.url}page`;
    for (const vantages of ['all', { labels: {} }, { labels: { region: 'eu' }, count: 1 }])
      expectNoVantageProblem(await postJson(`${api.apiUrl}/probe`, { url, vantages }), '/probe');
    expectNoVantageProblem(
      await postJson(`${api.apiUrl}/probe?wait=5`, { url, vantages: 'all' }),
      '/probe?wait=5',
    );
    expectNoVantageProblem(
      await postJson(`${api.apiUrl}/batches`, { urls: [url, `${site.url}other`], vantages: 'all' }),
      '/batches',
    );
    const text = await fetch(`${api.apiUrl}/batches?vantages=all`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: `${url}\n${site.url}other\n`,
    });
    expectNoVantageProblem(
      { status: text.status, headers: text.headers, body: await text.json() },
      '/batches?vantages=all',
    );
    // A name asked for is named in the problem: the field is its place in the list.
    const named = await postJson(`${api.apiUrl}/probe`, { url, vantages: ['isp-b'] });
    expect(named.status).toBe(422);
    expect(named.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(named.body).toMatchObject({ field: 'vantages.0', errors: [{ field: 'vantages.0' }] });

    // Nothing queued on any queue, no batch kept, no key but those the API kept before; the site saw nothing.
    const queues = [queueName, compareQueueName(queueName), batchQueueName(queueName)].map(
      (name) => new Queue(name, connectorForUrl(redis.url, queueName).bullOn(client)),
    );
    try {
      for (const queue of queues)
        expect(
          await queue.getJobCounts('wait', 'prioritized', 'delayed', 'active', 'completed', 'failed'),
          queue.name,
        ).toEqual({ wait: 0, prioritized: 0, delayed: 0, active: 0, completed: 0, failed: 0 });
    } finally {
      for (const queue of queues) await queue.close();
    }
    // The worker's background keys come and go (stalled checks, queue meta, the reconcile lease): none of the
    // new keys is a job's, a list of waiting jobs, a vantage's queue or a batch.
    const added = (await allKeys()).filter((key) => !keysBefore.includes(key));
    expect(
      added.filter((key) =>
        /:(wait|delayed|prioritized|active|id|events)$|[0-9a-f]{8}-[0-9a-f]{4}-|-vantage-|:batch:|batches-running/.test(
          key,
        ),
      ),
    ).toEqual([]);
    expect(site.connectionCount()).toBe(0);
  });
});
