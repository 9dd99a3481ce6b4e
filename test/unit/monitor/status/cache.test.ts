// The status render cache: how many gatherings and renderings a burst of requests costs, and If-None-Match.
import { describe, expect, it } from 'vitest';
import {
  isNoneMatchSatisfied,
  renderedBodyOf,
  StatusRenderCache,
  type StatusView,
} from '../../../../src/monitor/status/cache.js';
import type { StatusData } from '../../../../src/monitor/status/data.js';

/** A gathering the test finishes by hand, so requests can be made while it runs. */
function pendingGathering() {
  let finish: (data: StatusData) => void = () => undefined;
  let fail: (error: Error) => void = () => undefined;
  const data = new Promise<StatusData>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return { data, finish, fail };
}

function dataAt(generatedAtMs: number): StatusData {
  return { generatedAtMs, components: [], incidents: [] };
}

function countingCache(cacheSeconds: number) {
  let clockMs = 1_000_000;
  const gatherings: Array<ReturnType<typeof pendingGathering>> = [];
  const renders: Record<StatusView, number> = { json: 0, html: 0 };
  const cache = new StatusRenderCache({
    gather: () => {
      const gathering = pendingGathering();
      gatherings.push(gathering);
      return gathering.data;
    },
    render: {
      json: (data) => {
        renders.json += 1;
        return { text: JSON.stringify({ at: data.generatedAtMs }), contentType: 'application/json' };
      },
      html: (data) => {
        renders.html += 1;
        return { text: `<p>${data.generatedAtMs}</p>`, contentType: 'text/html' };
      },
    },
    cacheSeconds,
    clock: () => clockMs,
  });
  return {
    cache,
    gatherings,
    renders,
    advance: (ms: number) => {
      clockMs += ms;
    },
  };
}

describe('StatusRenderCache', () => {
  it('gathers once and renders each view once for requests made while the gathering runs', async () => {
    const { cache, gatherings, renders } = countingCache(5);
    const requests = [cache.get('json'), cache.get('html'), cache.get('json'), cache.get('html')];
    expect(gatherings).toHaveLength(1);
    gatherings[0]?.finish(dataAt(1));
    const bodies = await Promise.all(requests);
    expect(renders).toEqual({ json: 1, html: 1 });
    expect(bodies[2]).toBe(bodies[0]);
    expect(bodies[3]).toBe(bodies[1]);
  });

  it('keeps serving the same rendering until the window after the gathering ends, then gathers again', async () => {
    const { cache, gatherings, renders, advance } = countingCache(5);
    const first = cache.get('json');
    // The gathering itself takes longer than the window: the window starts when the data is ready.
    advance(8000);
    gatherings[0]?.finish(dataAt(1));
    const body = await first;
    advance(4999);
    expect(await cache.get('json')).toBe(body);
    expect(gatherings).toHaveLength(1);
    advance(1);
    const next = cache.get('json');
    expect(gatherings).toHaveLength(2);
    gatherings[1]?.finish(dataAt(2));
    expect((await next).etag).not.toBe(body.etag);
    expect(renders.json).toBe(2);
  });

  it('passes a failed gathering to every waiting request and keeps nothing of it', async () => {
    const { cache, gatherings } = countingCache(5);
    const waiting = [cache.get('json'), cache.get('html')];
    gatherings[0]?.fail(new Error('redis went away'));
    for (const request of waiting) await expect(request).rejects.toThrow('redis went away');
    const retried = cache.get('json');
    expect(gatherings).toHaveLength(2);
    gatherings[1]?.finish(dataAt(3));
    expect((await retried).body.toString()).toBe('{"at":3}');
  });

  it('gathers for every request when the cache time is 0', async () => {
    const { cache, gatherings } = countingCache(0);
    const requests = [cache.get('json'), cache.get('json')];
    expect(gatherings).toHaveLength(2);
    gatherings[0]?.finish(dataAt(1));
    gatherings[1]?.finish(dataAt(2));
    const [first, second] = await Promise.all(requests);
    expect(first?.body.toString()).toBe('{"at":1}');
    expect(second?.body.toString()).toBe('{"at":2}');
  });
});

describe('renderedBodyOf', () => {
  it('hashes the UTF-8 bytes into a strong ETag that changes with them', () => {
    const body = renderedBodyOf('{"name":"Café"}', 'application/json');
    expect(body.body.equals(Buffer.from('{"name":"Café"}', 'utf8'))).toBe(true);
    expect(body.etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    expect(renderedBodyOf('{"name":"Café"}', 'application/json').etag).toBe(body.etag);
    expect(renderedBodyOf('{"name":"Cafe"}', 'application/json').etag).not.toBe(body.etag);
  });
});

describe('isNoneMatchSatisfied', () => {
  const etag = '"abc"';
  it.each([
    ['"abc"', true],
    ['W/"abc"', true],
    ['"x", "abc"', true],
    ['"x",W/"abc"', true],
    ['*', true],
    ['"abcd"', false],
    ['"x", "y"', false],
    ['abc', false],
    ['', false],
  ])('%j → %s', (header, expected) => {
    expect(isNoneMatchSatisfied(header, etag)).toBe(expected);
  });

  it('is not satisfied without the header', () => {
    expect(isNoneMatchSatisfied(undefined, etag)).toBe(false);
  });
});
