// The CLI's service client on scripted answers: polling after a 202, and how each failure is sorted.
import { describe, expect, it } from 'vitest';
import { type ApiError, createApiClient } from '../../src/api-client.js';

/** A fetch that answers from a script, in order, and records what it was asked. */
function scriptedFetch(answers: Array<{ status: number; body: unknown } | Error>) {
  const asked: Array<{ url: string; method: string; authorization: string | null }> = [];
  const fake = (async (input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    asked.push({
      url: String(input),
      method: init?.method ?? 'GET',
      authorization: headers.get('authorization'),
    });
    const answer = answers.shift();
    if (!answer) throw new Error('no more scripted answers');
    if (answer instanceof Error) throw answer;
    return new Response(JSON.stringify(answer.body), { status: answer.status });
  }) as typeof fetch;
  return { fake, asked };
}

const report = { schemaVersion: 1, verdict: { cause: 'ok', code: 'http.ok' } };

describe('the service client', () => {
  it('polls GET /probe/:id after a 202 until the probe completes', async () => {
    const { fake, asked } = scriptedFetch([
      { status: 202, body: { id: 'p1', status: 'queued' } },
      { status: 200, body: { id: 'p1', status: 'active' } },
      { status: 200, body: { id: 'p1', status: 'completed', report } },
    ]);
    const client = createApiClient({
      baseUrl: 'http://127.0.0.1:9/',
      apiKey: 'k',
      fetch: fake,
      pollIntervalMs: 1,
    });
    expect(await client.probe({ url: 'http://example.test/', vantages: 'all' })).toEqual(report);
    expect(asked).toEqual([
      { url: 'http://127.0.0.1:9/probe?wait=60', method: 'POST', authorization: 'Bearer k' },
      { url: 'http://127.0.0.1:9/probe/p1', method: 'GET', authorization: 'Bearer k' },
      { url: 'http://127.0.0.1:9/probe/p1', method: 'GET', authorization: 'Bearer k' },
    ]);
  });

  it('gives up after its bounded number of polls, as the service being unavailable', async () => {
    const queued = { status: 200, body: { id: 'p1', status: 'queued' } };
    const { fake, asked } = scriptedFetch([
      { status: 202, body: { id: 'p1', status: 'queued' } },
      queued,
      queued,
    ]);
    const client = createApiClient({
      baseUrl: 'http://127.0.0.1:9',
      fetch: fake,
      pollIntervalMs: 1,
      pollAttempts: 2,
    });
    await expect(client.probe({ url: 'http://example.test/' })).rejects.toMatchObject({
      kind: 'unavailable',
      message: expect.stringMatching(/^probe p1 had no result/),
    });
    expect(asked).toHaveLength(3);
  });

  it('sorts a 4xx problem as the request at fault and a 5xx or a refused connection as unavailable', async () => {
    const problem = { status: 422, body: { title: 'x', status: 422, detail: 'unknown vantage nowhere' } };
    const unavailable = { status: 503, body: { title: 'x', status: 503, detail: 'the queue is full' } };
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const { fake } = scriptedFetch([problem, unavailable, refused]);
    const client = createApiClient({ baseUrl: 'http://127.0.0.1:9', fetch: fake });
    const outcomes: ApiError[] = [];
    for (let index = 0; index < 3; index += 1)
      await client.vantages().catch((error: ApiError) => outcomes.push(error));
    expect(outcomes.map((error) => [error.kind, error.message])).toEqual([
      ['problem', 'the service answered 422: unknown vantage nowhere'],
      ['unavailable', 'the service answered 503: the queue is full'],
      ['unavailable', 'cannot reach the service at http://127.0.0.1:9: ECONNREFUSED'],
    ]);
  });

  it('treats a probe the service refused to run as the request at fault', async () => {
    const { fake } = scriptedFetch([
      { status: 202, body: { id: 'p1', status: 'queued' } },
      {
        status: 200,
        body: { id: 'p1', status: 'failed', error: { kind: 'refused', reason: 'a private address' } },
      },
    ]);
    const client = createApiClient({ baseUrl: 'http://127.0.0.1:9', fetch: fake, pollIntervalMs: 1 });
    await expect(client.probe({ url: 'http://example.test/' })).rejects.toMatchObject({
      kind: 'problem',
      message: 'the service refused the probe: a private address',
    });
  });
});
