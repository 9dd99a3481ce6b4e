// POST /batches through the real service and Redis: a mixed list of loopback targets, bad lines, CSV, streaming
// with a cause filter, cancelling, and the per-key limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../../support/redis.js';
import {
  finishedBatch,
  indexesOf,
  type MixedTargets,
  mixedTimeoutMs,
  onlyLoopbackOne,
  range,
  resultItems,
  resultsText,
  startMixedTargets,
} from './batch-support.js';
import { eventually, getJson, type JsonBody, postJson, startTestService } from './support.js';

let redis: TestRedis;
let service: Awaited<ReturnType<typeof startTestService>>;
let targets: MixedTargets;

beforeAll(async () => {
  redis = await startRedis();
  targets = await startMixedTargets();
  service = await startTestService({
    redisUrl: redis.url,
    policy: onlyLoopbackOne,
    env: {
      QUEUE_NAME: 'batches',
      BATCH_MAX_URLS: '40',
      BATCH_MAX_RUNNING: '2',
      BATCH_WORKER_CONCURRENCY: '8',
      // Chunks of 2: a worker holds 8 chunks (16 URLs), so a cancel finds chunks waiting and chunks running.
      BATCH_CHUNK_SIZE: '2',
    },
  });
});

afterAll(async () => {
  await service?.close();
  await targets?.close();
  await redis?.dispose();
});

const options = () => ({ resolvers: [targets.resolver], timeoutMs: mixedTimeoutMs });

describe('POST /batches with a mixed list', () => {
  let id: string;
  let status: Awaited<ReturnType<typeof finishedBatch>>;

  beforeAll(async () => {
    const submitted = await postJson(`${service.apiUrl}/batches`, {
      urls: targets.list.map((target) => target.url),
      ...options(),
    });
    expect(submitted.status).toBe(202);
    id = submitted.body.id;
    expect(submitted.body).toMatchObject({
      total: targets.list.length,
      refused: 1,
      badLineCount: 0,
      links: { self: `/batches/${id}`, results: `/batches/${id}/results` },
    });
    expect(submitted.headers.get('location')).toBe(`/batches/${id}`);
    status = await finishedBatch(service.apiUrl, id);
  });

  it('ends every URL with exactly one result, each with the cause its target calls for', async () => {
    const items = await resultItems(service.apiUrl, id);
    expect(indexesOf(items)).toEqual(range(targets.list.length));
    for (const [index, target] of targets.list.entries()) {
      const item = items.find((candidate) => candidate.index === index);
      if (target.isTimed) {
        expect(item, target.url).toMatchObject({ url: new URL(target.url).href, status: 'completed' });
        continue;
      }
      expect(item, target.url).toMatchObject({ url: new URL(target.url).href, cause: target.cause });
      if (target.code) expect(item.report.verdict.code, target.url).toMatch(target.code);
    }
    const refused = items.find((item) => item.status === 'refused');
    expect(refused.reason).toMatch(/127\.0\.0\.2 is internal/);
    expect(refused.report).toBeUndefined();
  });

  it('counts the batch by status and by cause, with its times and rate', () => {
    expect(status).toMatchObject({
      id,
      state: 'completed',
      total: 8,
      done: 8,
      pending: 0,
      byStatus: { completed: 7, refused: 1 },
      byCause: { refused: 1, server_fault: 3, dns_failure: 1 },
    });
    // The healthy, the slow (ok or overload, as timing goes) and the silent (overload) targets.
    expect((status.byCause.ok ?? 0) + (status.byCause.overload ?? 0)).toBe(3);
    expect(Date.parse(status.startedAt)).toBeGreaterThanOrEqual(Date.parse(status.createdAt));
    expect(Date.parse(status.finishedAt)).toBeGreaterThanOrEqual(Date.parse(status.startedAt));
    expect(status.ratePerSecond).toBeGreaterThan(0);
  });

  it('streams CSV in the CLI’s columns when asked with Accept: text/csv', async () => {
    const csv = await resultsText(service.apiUrl, id, { accept: 'text/csv' });
    expect(csv.status).toBe(200);
    expect(csv.contentType).toMatch(/^text\/csv/);
    const [header, ...rows] = csv.text.trim().split('\n');
    expect(header).toBe('url,cause,code,confidence,summary,dns_ms,connect_ms,tls_ms,first_byte_ms,total_ms');
    expect(rows).toHaveLength(8);
    expect(rows.find((row) => row.startsWith('http://127.0.0.2:'))).toMatch(/^[^,]+,refused,,,/);
    expect(rows.filter((row) => /^[^,]+,(ok,http\.ok|overload,http\.\w+),/.test(row))).toHaveLength(3);
  });

  it('filters the results by cause', async () => {
    const items = await resultItems(service.apiUrl, id, '?cause=server_fault,refused');
    expect(items.map((item) => item.cause).sort()).toEqual([
      'refused',
      'server_fault',
      'server_fault',
      'server_fault',
    ]);
    const repeated = await resultItems(service.apiUrl, id, '?cause=overload&cause=ok');
    expect(repeated).toHaveLength(3);
    expect(repeated.every((item) => item.cause === 'ok' || item.cause === 'overload')).toBe(true);
    const unknown = await getJson(`${service.apiUrl}/batches/${id}/results?cause=sunny`);
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get('content-type')).toMatch(/application\/problem\+json/);
  });

  it('resumes a stream from an offset', async () => {
    const all = await resultItems(service.apiUrl, id);
    const rest = await resultItems(service.apiUrl, id, '?offset=5');
    expect(rest).toEqual(all.slice(5));
  });
});

describe('POST /batches with a text list', () => {
  it('reads a text/plain list, reports bad lines by number, and takes the options from the query', async () => {
    const list = [
      '# sites to check',
      targets.healthy.url('/one'),
      'ftp://127.0.0.1/',
      '',
      targets.healthy.url('/two'),
      'not a url',
    ].join('\n');
    const response = await fetch(
      `${service.apiUrl}/batches?resolvers=${encodeURIComponent(targets.resolver)}&timeoutMs=3000`,
      { method: 'POST', headers: { 'content-type': 'text/plain' }, body: list },
    );
    expect(response.status).toBe(202);
    const body: JsonBody = await response.json();
    expect(body).toMatchObject({
      total: 2,
      badLineCount: 2,
      badLines: [
        { line: 3, reason: 'url must use http or https, not ftp' },
        { line: 6, reason: 'url is not a valid URL: "not a url"' },
      ],
    });
    const status = await finishedBatch(service.apiUrl, body.id);
    expect(status).toMatchObject({ byCause: { ok: 2 }, badLineCount: 2 });
  });

  it('reads a text/csv list by its url column', async () => {
    const list = ['name,url', `a,${targets.healthy.url('/a')}`, `"b, c",${targets.healthy.url('/b')}`].join(
      '\n',
    );
    const response = await fetch(`${service.apiUrl}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: list,
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as JsonBody;
    await finishedBatch(service.apiUrl, id);
    const items = await resultItems(service.apiUrl, id);
    expect(items.map((item) => item.url).sort()).toEqual([
      targets.healthy.url('/a'),
      targets.healthy.url('/b'),
    ]);
  });

  it('answers a list with no URL, an unknown option and another body type with problems', async () => {
    const empty = await postJson(`${service.apiUrl}/batches`, { urls: ['nope'] });
    expect(empty.status).toBe(400);
    expect(empty.body.errors).toContainEqual({ field: 'line 1', message: 'url is not a valid URL: "nope"' });
    const unknown = await postJson(`${service.apiUrl}/batches`, {
      urls: [targets.healthy.url()],
      colour: 'red',
    });
    expect(unknown.status).toBe(400);
    const xml = await fetch(`${service.apiUrl}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<urls/>',
    });
    expect(xml.status).toBe(415);
    expect(xml.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const vantages = await postJson(`${service.apiUrl}/batches`, {
      urls: [targets.healthy.url()],
      vantages: ['nowhere'],
    });
    expect(vantages.status).toBe(422);
    expect(vantages.body.errors).toEqual([
      { field: 'vantages.0', message: expect.stringMatching(/nowhere/) },
    ]);
  });

  it('refuses a batch whose control the policy refuses, before queueing anything', async () => {
    const refused = await postJson(`${service.apiUrl}/batches`, {
      urls: [targets.healthy.url()],
      controls: ['http://127.0.0.2/'],
    });
    expect(refused.status).toBe(422);
    expect(refused.body.field).toBe('controls.0');
  });
});

describe('limits per key', () => {
  it('answers 413 for more URLs than BATCH_MAX_URLS', async () => {
    const urls = range(41).map((index) => targets.healthy.url(`/${index}`));
    const tooMany = await postJson(`${service.apiUrl}/batches`, { urls });
    expect(tooMany.status).toBe(413);
    expect(tooMany.body.detail).toBe('41 URLs; a batch holds at most 40');
  });

  it('answers 429 past BATCH_MAX_RUNNING running batches, and takes one again once one is cancelled', async () => {
    const slowBatch = () =>
      postJson(`${service.apiUrl}/batches`, {
        urls: range(20).map((index) => targets.silent.url(`/${index}`)),
        timeoutMs: 5000,
      });
    const first = await slowBatch();
    const second = await slowBatch();
    expect([first.status, second.status]).toEqual([202, 202]);
    const third = await slowBatch();
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).not.toBeNull();
    const cancelled = await fetch(`${service.apiUrl}/batches/${first.body.id}`, { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    const fourth = await slowBatch();
    expect(fourth.status).toBe(202);
    for (const id of [second.body.id, fourth.body.id])
      await fetch(`${service.apiUrl}/batches/${id}`, { method: 'DELETE' });
    for (const id of [first.body.id, second.body.id, fourth.body.id]) await finishedBatch(service.apiUrl, id);
  });
});

describe('DELETE /batches/:id', () => {
  it('cancels what has not started; every URL still ends with exactly one result', async () => {
    let answered = 0;
    const urls = range(30).map((index) => targets.slow.url(`/cancel-${index}`));
    const submitted = await postJson(`${service.apiUrl}/batches`, { urls, timeoutMs: 10_000 });
    expect(submitted.status).toBe(202);
    const { id } = submitted.body;
    // Cancelled once some URLs have their report and others are being probed.
    await eventually(
      async () => {
        const status = await getJson(`${service.apiUrl}/batches/${id}`);
        answered = status.body.byStatus.completed ?? 0;
        return answered >= 2 ? true : undefined;
      },
      { what: 'two reports', intervalMs: 100 },
    );
    const cancelled = await fetch(`${service.apiUrl}/batches/${id}`, { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    const atCancel = (await cancelled.json()) as JsonBody;
    expect(atCancel.state).toBe('cancelled');
    // The chunks still waiting were taken off the queue by the DELETE itself: only the worker's 8 chunks (16 URLs)
    // and the chunks ended already (reports only) are left out of its count.
    expect(atCancel.byStatus.cancelled ?? 0).toBeGreaterThanOrEqual(
      30 - 16 - (atCancel.byStatus.completed ?? 0),
    );
    const status = await finishedBatch(service.apiUrl, id);
    expect(status.state).toBe('cancelled');
    expect(status.byStatus.cancelled).toBeGreaterThan(0);
    expect(status.byStatus.completed).toBeGreaterThanOrEqual(2);
    expect((status.byStatus.completed ?? 0) + (status.byStatus.cancelled ?? 0)).toBe(30);
    const items = await resultItems(service.apiUrl, id);
    expect(indexesOf(items)).toEqual(range(30));
    for (const item of items.filter((candidate) => candidate.status === 'cancelled'))
      expect(item.url).toBe(urls[item.index]);
    // The slow target saw no more requests than there were reports (cancelled URLs were never probed).
    expect(items.filter((item) => item.status === 'completed')).toHaveLength(status.byStatus.completed);
  });

  it('answers 404 for an unknown batch', async () => {
    const missing = await fetch(`${service.apiUrl}/batches/00000000-0000-4000-8000-000000000000`, {
      method: 'DELETE',
    });
    expect(missing.status).toBe(404);
    expect((await getJson(`${service.apiUrl}/batches/not-a-uuid`)).status).toBe(404);
  });
});

describe('documents and metrics', () => {
  it('describes the batch routes in the OpenAPI document', async () => {
    const document = (await getJson(`${service.apiUrl}/openapi.json`)).body;
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/batches', '/batches/{id}', '/batches/{id}/results']),
    );
    expect(document.components.schemas.BatchRequest.required).toEqual(['urls']);
  });

  it('counts batches and items by cause in /metrics', async () => {
    const metrics = await (await fetch(`${service.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/^reach_batches_total\{event="submitted"\} \d+/m);
    expect(metrics).toMatch(/^reach_batches_total\{event="cancelled"\} \d+/m);
    expect(metrics).toMatch(/^reach_batch_items_total\{cause="refused"\} 1$/m);
    expect(metrics).toMatch(/^reach_batch_items_total\{cause="dns_failure"\} 1$/m);
  });
});

describe('with API keys', () => {
  it('needs a key, and answers another key’s batch as unknown', async () => {
    const keyA = 'key-aaaaaaaaaaaaaaaa';
    const keyB = 'key-bbbbbbbbbbbbbbbb';
    const keyed = await startTestService({
      redisUrl: redis.url,
      policy: onlyLoopbackOne,
      roles: { api: true, worker: false },
      env: { QUEUE_NAME: 'batches-keyed', API_KEYS: `${keyA},${keyB}` },
    });
    try {
      const url = `${keyed.apiUrl}/batches`;
      const anonymous = await postJson(url, { urls: [targets.healthy.url()] });
      expect(anonymous.status).toBe(401);
      const submitted = await postJson(
        url,
        { urls: [targets.healthy.url()] },
        { authorization: `Bearer ${keyA}` },
      );
      expect(submitted.status).toBe(202);
      const self = `${keyed.apiUrl}/batches/${submitted.body.id}`;
      expect((await getJson(self, { authorization: `Bearer ${keyA}` })).status).toBe(200);
      expect((await getJson(self, { authorization: `Bearer ${keyB}` })).status).toBe(404);
      const cancel = await fetch(self, { method: 'DELETE', headers: { authorization: `Bearer ${keyB}` } });
      expect(cancel.status).toBe(404);
      const own = await fetch(self, { method: 'DELETE', headers: { authorization: `Bearer ${keyA}` } });
      expect(((await own.json()) as JsonBody).state).toBe('cancelled');
    } finally {
      await keyed.close();
    }
  });
});

describe('a URL whose run fails on our side once', () => {
  it('is run again with its chunk’s retry, which does not probe the chunk’s other URLs again', async () => {
    const runs = new Map<string, number>();
    const flaky = await startTestService({
      redisUrl: redis.url,
      policy: onlyLoopbackOne,
      env: { QUEUE_NAME: 'batches-flaky', JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '100', BATCH_CHUNK_SIZE: '4' },
      wrapRunner: (runner) => async (data, signal) => {
        const count = (runs.get(data.url) ?? 0) + 1;
        runs.set(data.url, count);
        if (data.url.endsWith('/flaky') && count === 1) throw new Error('the probe store blinked');
        return runner(data, signal);
      },
    });
    try {
      const urls = ['/a', '/flaky', '/b'].map((path) => targets.healthy.url(path));
      const submitted = await postJson(`${flaky.apiUrl}/batches`, { urls });
      expect(submitted.status).toBe(202);
      const status = await finishedBatch(flaky.apiUrl, submitted.body.id);
      expect(status).toMatchObject({ state: 'completed', byStatus: { completed: 3 } });
      expect(Object.fromEntries(runs)).toEqual({
        [urls[0] as string]: 1,
        [urls[1] as string]: 2,
        [urls[2] as string]: 1,
      });
    } finally {
      await flaky.close();
    }
  });
});

describe('a URL whose job fails for good', () => {
  it('is recorded failed, so the batch still ends with one result per URL', async () => {
    // Our own infrastructure failing on one URL, at the seam between BullMQ and the engine, on its only attempt.
    const failing = await startTestService({
      redisUrl: redis.url,
      policy: onlyLoopbackOne,
      env: { QUEUE_NAME: 'batches-failing', JOB_ATTEMPTS: '1' },
      wrapRunner: (runner) => async (data, signal) => {
        if (data.url.endsWith('/boom')) throw new Error('the probe store is down');
        return runner(data, signal);
      },
    });
    try {
      const submitted = await postJson(`${failing.apiUrl}/batches`, {
        urls: [targets.healthy.url('/fine'), targets.healthy.url('/boom')],
      });
      expect(submitted.status).toBe(202);
      const status = await finishedBatch(failing.apiUrl, submitted.body.id);
      expect(status).toMatchObject({ state: 'completed', byStatus: { completed: 1, failed: 1 } });
      const items = await resultItems(failing.apiUrl, submitted.body.id, '?cause=failed');
      expect(items).toEqual([
        expect.objectContaining({
          index: 1,
          status: 'failed',
          reason: 'could not be probed: the probe store is down',
        }),
      ]);
    } finally {
      await failing.close();
    }
  });
});
