// The API against a real redis-server and a real worker: good and bad input, wait mode, status, documents.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeClosedPort } from '../../support/http-servers.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { getJson, type LoopbackTarget, postJson, startTarget, startTestService } from './support.js';

let redis: TestRedis;
let service: Awaited<ReturnType<typeof startTestService>>;
let target: LoopbackTarget;

beforeAll(async () => {
  redis = await startRedis();
  target = await startTarget();
  service = await startTestService({ redisUrl: redis.url, env: { PROBE_ALLOW_PRIVATE: 'true' } });
});

afterAll(async () => {
  await service?.close();
  await target?.close();
  await redis?.dispose();
});

describe('POST /probe', () => {
  it('queues a probe and answers 202 with its id and link', async () => {
    const response = await postJson(`${service.apiUrl}/probe`, { url: target.url });
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ status: 'queued', links: { self: `/probe/${response.body.id}` } });
    expect(response.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get('location')).toBe(`/probe/${response.body.id}`);
  });

  it('answers 200 with the engine report when ?wait sees the probe finish', async () => {
    const response = await postJson(`${service.apiUrl}/probe?wait=30`, { url: target.url, timeoutMs: 5000 });
    expect(response.status).toBe(200);
    expect(response.body.status).toBe('completed');
    expect(response.body.report.schemaVersion).toBe(1);
    expect(response.body.report.url).toBe(target.url);
    expect(response.body.report.verdict.cause).toBe('ok');
  });

  it('answers 202 when the probe is not done within ?wait', async () => {
    let release: (() => void) | undefined;
    const slow = await startTarget((_request, response) => {
      release = () => response.writeHead(200).end('late');
    });
    try {
      const response = await postJson(`${service.apiUrl}/probe?wait=1`, { url: slow.url, timeoutMs: 20_000 });
      expect(response.status).toBe(202);
      expect(response.body.status).toBe('queued');
      await slow.nthRequest(1);
      release?.();
    } finally {
      await slow.close();
    }
  });

  it.each([
    ['malformed JSON', '{"url": ', 400, 'urn:reach:problem:malformed-json', 'body'],
    [
      'an unknown field',
      { url: 'http://example.test/', colour: 'red' },
      400,
      'urn:reach:problem:invalid-request',
      'colour',
    ],
    [
      'a URL that is not http(s)',
      { url: 'ftp://example.test/' },
      400,
      'urn:reach:problem:invalid-request',
      'url',
    ],
    ['a javascript: URL', { url: 'javascript:alert(1)' }, 400, 'urn:reach:problem:invalid-request', 'url'],
    ['a missing url', { timeoutMs: 1000 }, 400, 'urn:reach:problem:invalid-request', 'url'],
    [
      'a timeout under 100 ms',
      { url: 'http://example.test/', timeoutMs: 99 },
      400,
      'urn:reach:problem:invalid-request',
      'timeoutMs',
    ],
    [
      'a timeout over 120 s',
      { url: 'http://example.test/', timeoutMs: 120_001 },
      400,
      'urn:reach:problem:invalid-request',
      'timeoutMs',
    ],
    [
      'a bad resolver',
      { url: 'http://example.test/', resolvers: ['dns.example'] },
      400,
      'urn:reach:problem:invalid-request',
      'resolvers.0',
    ],
    ['a body that is not an object', '[1,2]', 400, 'urn:reach:problem:invalid-request', 'body'],
    [
      'a URL naming port 0',
      { url: 'http://example.test:0/' },
      400,
      'urn:reach:problem:invalid-request',
      'url',
    ],
    [
      'a host name DNS cannot ask for',
      { url: `http://${'a'.repeat(64)}.example.test/` },
      400,
      'urn:reach:problem:invalid-request',
      'url',
    ],
  ])('answers a problem naming the field for %s', async (_name, body, status, type, field) => {
    const response = await postJson(`${service.apiUrl}/probe`, body);
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({ type, status, field });
    expect(typeof response.body.title).toBe('string');
    expect(typeof response.body.detail).toBe('string');
  });

  it('answers 413 for a body over 16 KiB', async () => {
    const response = await postJson(`${service.apiUrl}/probe`, {
      url: `http://example.test/?q=${'a'.repeat(17 * 1024)}`,
    });
    expect(response.status).toBe(413);
    expect(response.body).toMatchObject({
      type: 'urn:reach:problem:body-too-large',
      status: 413,
      field: 'body',
    });
  });

  it('answers 415 for a body that is not JSON', async () => {
    const response = await fetch(`${service.apiUrl}/probe`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'http://example.test/',
    });
    expect(response.status).toBe(415);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('answers 400 for ?wait over 60 seconds', async () => {
    const response = await postJson(`${service.apiUrl}/probe?wait=61`, { url: target.url });
    expect(response.status).toBe(400);
    expect(response.body.field).toBe('query.wait');
  });
});

describe('a target that fails', () => {
  it('is a completed probe with a verdict, run once, not a retried job', async () => {
    const closedPort = await freeClosedPort();
    const response = await postJson(`${service.apiUrl}/probe?wait=30`, {
      url: `http://127.0.0.1:${closedPort}/`,
      timeoutMs: 3000,
    });
    expect(response.status).toBe(200);
    expect(response.body.status).toBe('completed');
    expect(response.body.report.verdict.cause).not.toBe('ok');
    expect(response.body.report.verdict.code).toBe('tcp.refused');
    const status = await getJson(`${service.apiUrl}/probe/${response.body.id}`);
    expect(status.body).toMatchObject({ status: 'completed', attempts: 1 });
  });
});

describe('GET /probe/:id', () => {
  it('shows a submitted probe as completed with its report', async () => {
    const submitted = await postJson(`${service.apiUrl}/probe?wait=30`, { url: target.url });
    expect(submitted.status).toBe(200);
    const response = await getJson(`${service.apiUrl}/probe/${submitted.body.id}`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: submitted.body.id, status: 'completed', attempts: 1 });
    expect(response.body.report.verdict.cause).toBe('ok');
  });

  it('answers 404 problems for an unknown id and for a malformed one', async () => {
    const unknown = await getJson(`${service.apiUrl}/probe/3f1c2a4e-0000-4000-8000-000000000000`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.type).toBe('urn:reach:problem:not-found');
    const malformed = await getJson(`${service.apiUrl}/probe/..%2f..%2fetc`);
    expect(malformed.status).toBe(404);
  });
});

describe('service endpoints', () => {
  it('reports health and readiness', async () => {
    expect((await getJson(`${service.apiUrl}/healthz`)).body).toEqual({ status: 'ok' });
    const ready = await getJson(`${service.apiUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', redis: 'ok', worker: 'running' });
  });

  it('serves an OpenAPI 3.1 document whose request schema is the validating zod schema', async () => {
    const response = await getJson(`${service.apiUrl}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.body.openapi).toBe('3.1.0');
    const request = response.body.components.schemas.ProbeRequest;
    expect(request.additionalProperties).toBe(false);
    expect(request.required).toEqual(['url']);
    expect(request.properties.timeoutMs).toMatchObject({ minimum: 100, maximum: 120000 });
    expect(Object.keys(response.body.paths)).toEqual(
      expect.arrayContaining(['/probe', '/probe/{id}', '/healthz', '/readyz', '/metrics']),
    );
  });

  it('exposes queue depth, job durations, probes by cause and code, and HTTP latencies', async () => {
    await postJson(`${service.apiUrl}/probe?wait=30`, { url: target.url });
    const response = await fetch(`${service.apiUrl}/metrics`);
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(text).toMatch(/reach_queue_jobs\{state="waiting"\} \d+/);
    expect(text).toMatch(/reach_probe_job_duration_seconds_count\{outcome="report"\} [1-9]/);
    expect(text).toMatch(/reach_probes_total\{outcome="report",cause="ok",code="[a-z._]+"\} [1-9]/);
    expect(text).toMatch(
      /reach_http_request_duration_seconds_count\{method="POST",route="\/probe",status="200"\} [1-9]/,
    );
  });

  it('answers unknown routes with a 404 problem', async () => {
    const response = await getJson(`${service.apiUrl}/nothing-here`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});

describe('reach worker on its own', () => {
  it('serves readiness and its probe metrics on WORKER_METRICS_PORT', async () => {
    const port = await freeClosedPort();
    const worker = await startTestService({
      redisUrl: redis.url,
      roles: { api: false, worker: true },
      env: { WORKER_METRICS_PORT: String(port), PROBE_ALLOW_PRIVATE: 'true' },
    });
    try {
      expect(worker.apiUrl).toBe('');
      const ready = await getJson(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(await metrics.text()).toContain('reach_probe_job_duration_seconds');
    } finally {
      await worker.close();
    }
  });
});
