// POST /batches with `vantages` against one real redis-server and real vantage workers: each URL fanned out to
// the vantages and compared, the comparison its one result; a vantage process killed mid-batch; a cancel.
// The killed vantage is `reach worker --vantage` from dist/ (npx tsc -p tsconfig.build.json first).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyspaceFor } from '../../../src/redis/connection.js';
import { VantageRegistry } from '../../../src/vantages/registry.js';
import { startDnsServer as startZoneDnsServer } from '../../support/dns-server.js';
import { cliPath } from '../../support/process.js';
import { finishedBatch, indexesOf, range, resultItems, resultsText } from './batch-support.js';
import {
  getJson,
  type JsonBody,
  type LoopbackTarget,
  postJson,
  resettingZones,
  startTarget,
  startTwoVantages,
  type TwoVantages,
} from './support.js';

const queueName = 'bvtest';
let lab: TwoVantages;
let slow: LoopbackTarget;

beforeAll(async () => {
  lab = await startTwoVantages({
    queueName,
    ...resettingZones,
    env: {
      BATCH_MAX_URLS: '40',
      BATCH_WORKER_CONCURRENCY: '3',
      // A batch worker killed mid-URL gives its URL back within seconds, not the default 30.
      WORKER_LOCK_DURATION_MS: '3000',
      WORKER_STALLED_INTERVAL_MS: '1000',
    },
  });
  slow = await startTarget((_request, response) => {
    const timer = setTimeout(() => response.end('<html>ok</html>'), 1500);
    response.on('close', () => clearTimeout(timer));
  });
});

afterAll(async () => {
  await slow?.close();
  await lab?.close();
});

const siteUrl = (name: string, path = '/') => `http://${name}:${lab.site.port}${path}`;
const vantageStatuses = (item: JsonBody) =>
  Object.fromEntries(
    item.report.vantages.map((vantage: { name: string; status: string }) => [vantage.name, vantage.status]),
  );

/** Every URL ends with exactly one result; the counts by cause are those of the results' compared verdicts. */
function expectOneComparedResultEach(items: JsonBody[], status: JsonBody, total: number): void {
  expect(indexesOf(items)).toEqual(range(total));
  const causes: Record<string, number> = {};
  for (const item of items) causes[item.cause] = (causes[item.cause] ?? 0) + 1;
  expect(status.byCause).toEqual(causes);
  expect(status.done).toBe(total);
}

describe('POST /batches with vantages', () => {
  it('probes each URL from both vantages and records the comparison, localizing what one of them sees', async () => {
    const urls = [
      siteUrl('www.news.internal'),
      siteUrl('www.plain.internal'),
      siteUrl('www.resets.internal'),
      siteUrl('missing.internal'),
      siteUrl('www.plain.internal', '/second'),
    ];
    const submitted = await postJson(`${lab.api.apiUrl}/batches`, { urls, vantages: 'all', timeoutMs: 3000 });
    expect(submitted.status).toBe(202);
    expect(submitted.body.total).toBe(urls.length);
    const status = await finishedBatch(lab.api.apiUrl, submitted.body.id);
    expect(status.state).toBe('completed');
    const items = await resultItems(lab.api.apiUrl, submitted.body.id);
    expectOneComparedResultEach(items, status, urls.length);
    const byUrl = new Map(items.map((item) => [item.url, item]));
    for (const item of items) {
      expect(item.status, item.url).toBe('completed');
      expect(vantageStatuses(item), item.url).toEqual({ 'isp-b': 'completed', local: 'completed' });
      expect(item.cause, item.url).toBe(item.report.verdict.cause);
    }
    const news = byUrl.get(siteUrl('www.news.internal'));
    expect(news.report.verdict).toMatchObject({
      cause: 'filtered_path',
      code: 'filter.keyword_reset',
      rule: 'localized',
    });
    expect(news.report.vantages[0].report.verdict.code).toBe('filter.keyword_reset');
    expect(news.report.vantages[1].report.verdict.code).toBe('http.ok');
    expect(byUrl.get(siteUrl('www.plain.internal')).report.verdict).toMatchObject({
      cause: 'ok',
      code: 'http.ok',
    });
    expect(byUrl.get(siteUrl('www.resets.internal')).report.verdict).toMatchObject({ cause: 'server_fault' });
    expect(byUrl.get(siteUrl('missing.internal')).report.verdict.cause).toBe('dns_failure');
    // The comparisons' own jobs are gone once recorded: the batch holds the reports.
    const client = new Redis(lab.redis.url, { maxRetriesPerRequest: null });
    try {
      expect(await client.keys(`bull:${queueName}-compare:${submitted.body.id}-*`)).toEqual([]);
    } finally {
      client.disconnect();
    }
  });

  it('takes the vantages in the query string with a text list, and writes the compared verdict as CSV', async () => {
    const list = `${siteUrl('www.news.internal')}\n# a comment\n${siteUrl('www.plain.internal')}\n`;
    const response = await fetch(`${lab.api.apiUrl}/batches?vantages=local,isp-b&timeoutMs=3000`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: list,
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    await finishedBatch(lab.api.apiUrl, id);
    const csv = await resultsText(lab.api.apiUrl, id, { accept: 'text/csv' });
    const [header, ...rows] = csv.text.trim().split('\n');
    expect(header).toBe(
      'url,cause,code,confidence,summary,dns_ms,connect_ms,tls_ms,first_byte_ms,total_ms,vantages',
    );
    expect(rows).toHaveLength(2);
    // The compared verdict in the CLI's columns, then each vantage's own cause in the order the request named them.
    const news = rows.find((row) => row.startsWith(siteUrl('www.news.internal')));
    expect(news).toMatch(/,filtered_path,filter\.keyword_reset,/);
    expect(news).toMatch(/,local=ok;isp-b=filtered_path$/);
    const plain = rows.find((row) => row.startsWith(siteUrl('www.plain.internal')));
    expect(plain).toMatch(/^[^,]+,ok,http\.ok,.*,local=ok;isp-b=ok$/);
    const items = await resultItems(lab.api.apiUrl, id);
    // The report lists the vantages in the order the request named them.
    expect(items[0].report.vantages.map((vantage: { name: string }) => vantage.name)).toEqual([
      'local',
      'isp-b',
    ]);
  });

  it('answers 422 for a vantage that is not live and 413 when URLs times vantages pass the limit', async () => {
    const unknown = await postJson(`${lab.api.apiUrl}/batches`, {
      urls: [siteUrl('www.plain.internal')],
      vantages: ['local', 'nowhere'],
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors).toEqual([{ field: 'vantages.1', message: expect.stringMatching(/nowhere/) }]);
    expect(unknown.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    // 21 URLs are within the limit of 40 alone, 42 probes from two vantages are not.
    const urls = Array.from({ length: 21 }, (_, index) => siteUrl('www.plain.internal', `/${index}`));
    const tooMany = await postJson(`${lab.api.apiUrl}/batches`, { urls, vantages: 'all' });
    expect(tooMany.status).toBe(413);
    expect(tooMany.body.detail).toMatch(/21 URLs from 2 vantages are 42 probes; a batch holds at most 40/);
    const alone = await postJson(`${lab.api.apiUrl}/batches`, { urls: urls.slice(0, 2) });
    expect(alone.status).toBe(202);
    await finishedBatch(lab.api.apiUrl, alone.body.id);
  });

  it('cancelled mid-batch: what had not started is cancelled, what ran is compared, one result each', async () => {
    const urls = Array.from({ length: 18 }, (_, index) => `${slow.url}${index}`);
    const submitted = await postJson(`${lab.api.apiUrl}/batches`, { urls, vantages: 'all', timeoutMs: 5000 });
    expect(submitted.status).toBe(202);
    const { id } = submitted.body;
    await finishedUrls(id, 1);
    const cancelled = await fetch(`${lab.api.apiUrl}/batches/${id}`, { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    const status = await finishedBatch(lab.api.apiUrl, id);
    expect(status.state).toBe('cancelled');
    const items = await resultItems(lab.api.apiUrl, id);
    expectOneComparedResultEach(items, status, urls.length);
    expect(status.byStatus.completed).toBeGreaterThanOrEqual(1);
    expect(status.byStatus.cancelled).toBeGreaterThanOrEqual(1);
    for (const item of items.filter((candidate) => candidate.status === 'completed'))
      expect(vantageStatuses(item)).toEqual({ 'isp-b': 'completed', local: 'completed' });
  });
});

describe('a batch whose vantage process is killed mid-batch', () => {
  let doomed: ChildProcess | undefined;

  afterAll(() => {
    if (doomed && doomed.exitCode === null && doomed.signalCode === null) doomed.kill('SIGKILL');
  });

  it('ends every URL with one result: the dead vantage lost, the other completed', async () => {
    const dns = await startZoneDnsServer({ 'www.plain.internal': { a: ['127.0.0.1'] } });
    const client = new Redis(lab.redis.url, { maxRetriesPerRequest: null });
    try {
      doomed = spawn(process.execPath, [cliPath, 'worker', '--vantage', 'doomed'], {
        env: {
          ...process.env,
          REDIS_URL: lab.redis.url,
          QUEUE_NAME: queueName,
          PROBE_ALLOW_PRIVATE: 'true',
          PROBE_RESOLVERS: dns.resolver,
          PROBE_CONTROLS: '',
          VANTAGE_HEARTBEAT_SECONDS: '1',
          BATCH_WORKER_CONCURRENCY: '3',
          WORKER_LOCK_DURATION_MS: '3000',
          WORKER_STALLED_INTERVAL_MS: '1000',
          WORKER_METRICS_PORT: '0',
          LOG_LEVEL: 'warn',
        },
        stdio: 'ignore',
      });
      const registry = new VantageRegistry(client, keyspaceFor(undefined, queueName), queueName, 1000);
      for (
        let attempt = 0;
        !(await registry.list()).some((vantage) => vantage.name === 'doomed');
        attempt++
      ) {
        if (attempt > 600) throw new Error('the doomed vantage never advertised itself');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // Slow pages, so the batch is still running when the vantage dies.
      const urls = Array.from({ length: 18 }, (_, index) => `${slow.url}${index}`);
      const submitted = await postJson(`${lab.api.apiUrl}/batches`, {
        urls,
        vantages: ['local', 'doomed'],
        timeoutMs: 3000,
      });
      expect(submitted.status).toBe(202);
      const { id } = submitted.body;
      await finishedUrls(id, 3);
      doomed.kill('SIGKILL');
      await once(doomed, 'exit');
      const status = await finishedBatch(lab.api.apiUrl, id, 600);
      expect(status.state).toBe('completed');
      const items = await resultItems(lab.api.apiUrl, id);
      expectOneComparedResultEach(items, status, urls.length);
      const doomedStatuses = items.map((item) => vantageStatuses(item).doomed);
      expect(doomedStatuses).toContain('completed');
      expect(doomedStatuses).toContain('lost');
      for (const item of items) {
        expect(item.status).toBe('completed');
        expect(vantageStatuses(item).local).toBe('completed');
        expect(['completed', 'lost']).toContain(vantageStatuses(item).doomed);
      }
    } finally {
      client.disconnect();
      await dns.close();
    }
  }, 120_000);
});

/** Waits until at least `count` URLs of the batch have a result. */
async function finishedUrls(id: string, count: number): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    const status = await getJson(`${lab.api.apiUrl}/batches/${id}`);
    if (status.body.done >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`batch ${id} never had ${count} results`);
}
