// Vantage points against one real redis-server: two worker processes that resolve the same name differently
// (one is sent to a filtering middlebox), a fan-out that compares them, and a vantage that never answers.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyspaceFor } from '../../../src/redis/connection.js';
import { compareQueueName, VantageRegistry, vantageQueueName } from '../../../src/vantages/registry.js';
import { getJson, postJson, resettingZones, startTwoVantages, type TwoVantages } from './support.js';

const queueName = 'vtest';
let lab: TwoVantages;
let redis: TwoVantages['redis'];
let site: TwoVantages['site'];
let api: TwoVantages['api'];

beforeAll(async () => {
  // The honest network resolves the site; the filtered one resolves it to the middlebox. Both send
  // www.resets.internal to the middlebox: a name reset everywhere.
  lab = await startTwoVantages({ queueName, ...resettingZones });
  ({ redis, site, api } = lab);
});

afterAll(async () => {
  await lab?.close();
});

describe('vantage points', () => {
  it('lists the live vantages with their labels: reach serve is "local"', async () => {
    const answer = await getJson(`${api.apiUrl}/vantages`);
    expect(answer.status).toBe(200);
    expect(answer.body.vantages.map((vantage: { name: string }) => vantage.name)).toEqual(['isp-b', 'local']);
    expect(answer.body.vantages[0]).toMatchObject({
      labels: { network: 'isp-b', region: 'test' },
      concurrency: 16,
    });
  });

  it('localizes a reset seen from one vantage while the other reaches the site', async () => {
    const answer = await postJson(`${api.apiUrl}/probe?wait=30`, {
      url: `http://www.news.internal:${site.port}/`,
      vantages: 'all',
      timeoutMs: 3000,
    });
    expect(answer.status).toBe(200);
    const { report } = answer.body;
    expect(
      report.vantages.map((vantage: { name: string; status: string }) => [vantage.name, vantage.status]),
    ).toEqual([
      ['isp-b', 'completed'],
      ['local', 'completed'],
    ]);
    expect(report.vantages[0].report.verdict.code).toBe('filter.keyword_reset');
    expect(report.vantages[1].report.verdict.code).toBe('http.ok');
    expect(report.verdict).toMatchObject({
      cause: 'filtered_path',
      code: 'filter.keyword_reset',
      rule: 'localized',
    });
    expect(report.verdict.summary).toMatch(/^Reachable from local; from isp-b/);
    // The fan-out reads back like any probe.
    const again = await getJson(`${api.apiUrl}/probe/${answer.body.id}`);
    expect(again.body).toMatchObject({ status: 'completed', report: { verdict: { rule: 'localized' } } });
  });

  it('calls a reset for one name seen from every vantage the server, not a filter', async () => {
    const answer = await postJson(`${api.apiUrl}/probe?wait=30`, {
      url: `http://www.resets.internal:${site.port}/`,
      vantages: { labels: {}, count: 2 },
      timeoutMs: 3000,
    });
    expect(answer.status).toBe(200);
    expect(
      answer.body.report.vantages.every(
        (vantage: { report: { verdict: { code: string } } }) =>
          vantage.report.verdict.code === 'filter.keyword_reset',
      ),
    ).toBe(true);
    expect(answer.body.report.verdict).toMatchObject({ cause: 'server_fault', code: 'http.reset' });
    expect(answer.body.report.verdict.summary).toMatch(/Down from all 2 vantages/);
  });

  it('answers 422 for a vantage that is unknown or not live, naming the field', async () => {
    const answer = await postJson(`${api.apiUrl}/probe`, {
      url: `http://www.news.internal:${site.port}/`,
      vantages: ['local', 'nowhere'],
    });
    expect(answer.status).toBe(422);
    expect(answer.body.field).toBe('vantages.1');
    expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('completes by its deadline with a vantage that never picks its part up marked lost, and removes the orphan', async () => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    const ghostQueue = new Queue(vantageQueueName(queueName, 'ghost'), { connection: client });
    try {
      // A heartbeat with no worker behind it: a vantage that died after its last beat.
      await new VantageRegistry(client, keyspaceFor(undefined, queueName), queueName, 60_000).beat({
        name: 'ghost',
        labels: {},
        version: 'test',
        concurrency: 1,
      });
      const answer = await postJson(`${api.apiUrl}/probe?wait=30`, {
        url: `http://www.news.internal:${site.port}/`,
        vantages: ['local', 'ghost'],
        timeoutMs: 1000,
      });
      expect(answer.status).toBe(200);
      const { report } = answer.body;
      expect(report.vantages.find((vantage: { name: string }) => vantage.name === 'ghost')).toMatchObject({
        status: 'lost',
      });
      expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
      expect(report.verdict.summary).toContain('from local, the only vantage that could tell');
      expect(await ghostQueue.getJobCounts('wait', 'delayed', 'prioritized', 'active')).toEqual({
        wait: 0,
        delayed: 0,
        prioritized: 0,
        active: 0,
      });
    } finally {
      await new VantageRegistry(client, keyspaceFor(undefined, queueName), queueName, 60_000).remove('ghost');
      await ghostQueue.close();
      client.disconnect();
    }
  });

  it('keeps a probe without vantages a single report, as before', async () => {
    // Both vantages also take the shared queue, so either may run it: the name looks the same from both.
    const answer = await postJson(`${api.apiUrl}/probe?wait=30`, {
      url: `http://www.plain.internal:${site.port}/`,
    });
    expect(answer.status).toBe(200);
    expect(answer.body.report.target).toBeDefined();
    expect(answer.body.report.vantages).toBeUndefined();
    expect(answer.body.report.verdict.code).toBe('http.ok');
  });

  it('drops a vantage from the list once it stops beating', async () => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    try {
      const registry = new VantageRegistry(client, keyspaceFor(undefined, queueName), queueName, 1000);
      const oldMs = Date.now() - 10_000;
      await registry.beat({ name: 'stale', labels: {}, version: 'test', concurrency: 1 }, oldMs);
      expect((await registry.list()).map((vantage) => vantage.name)).not.toContain('stale');
      expect(await client.zscore(`${queueName}:vantages`, 'stale')).toBeNull();
      expect(compareQueueName(queueName)).toBe('vtest-compare');
    } finally {
      client.disconnect();
    }
  });
});
