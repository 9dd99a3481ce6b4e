// The fan-out's own mechanism against a real redis-server: parts written into a delayed comparison, the last one
// promoting it, the deadline running it when a part never comes, several workers racing for it, and a vantage's
// worker process killed mid-probe.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectorForUrl, type RedisConnector } from '../../../src/redis/connection.js';
import type { ProbeJobResult } from '../../../src/requests/probe-job.js';
import type { MultiVantageReport, Report } from '../../../src/types.js';
import {
  type CompareWorker,
  childJobId,
  createFanOutSubmitter,
  type FanOutSubmitter,
  startCompareWorker,
} from '../../../src/vantages/fan-out.js';
import {
  createFanOutPartRecorder,
  type FanOutPartRecorder,
  partField,
} from '../../../src/vantages/fan-out-parts.js';
import {
  compareQueueName,
  type LiveVantage,
  VantageRegistry,
  vantageQueueName,
} from '../../../src/vantages/registry.js';
import { createProbeMetrics } from '../../../src/worker/metrics.js';
import { createProbeRunner } from '../../../src/worker/processor.js';
import { startProbeWorker } from '../../../src/worker/worker.js';
import { reportOfObservations } from '../../support/observation-reports.js';
import { cliPath } from '../../support/process.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { startDnsServer } from '../service/support.js';

const queueName = 'fanout';
const silent = pino({ level: 'silent' });
/** Recorded observations of one URL from three vantages, made into the reports the parts write. */
const fixture = JSON.parse(
  readFileSync(new URL('../../fixtures/vantages/keyword-reset-one-path.json', import.meta.url), 'utf8'),
) as { url: string; vantages: Array<{ name: string; observations: string }> };
const reportOf = (name: string): Report => {
  const vantage = fixture.vantages.find((candidate) => candidate.name === name);
  if (!vantage) throw new Error(`no vantage ${name} in the fixture`);
  return reportOfObservations(vantage.observations, fixture.url);
};
const live = (name: string): LiveVantage => ({
  name,
  labels: {},
  version: 'test',
  concurrency: 1,
  lastSeenAt: new Date().toISOString(),
});

let redis: TestRedis;
let client: Redis;
let connector: RedisConnector;
let submitter: FanOutSubmitter;
let events: QueueEvents;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  redis = await startRedis();
  connector = connectorForUrl(redis.url, queueName);
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  submitter = createFanOutSubmitter({ bull: connector.bullOn(client), baseQueueName: queueName });
  events = new QueueEvents(compareQueueName(queueName), connector.bullBlocking());
  await events.waitUntilReady();
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

afterAll(async () => {
  await events?.close();
  await submitter?.close();
  client?.disconnect();
  await connector?.close();
  await redis?.dispose();
});

function compareWorker(): CompareWorker {
  const own = new Redis(redis.url, { maxRetriesPerRequest: null });
  const worker = startCompareWorker({
    baseQueueName: queueName,
    bull: connector.bullBlocking(),
    redis: own,
    logger: silent,
  });
  closers.push(async () => {
    await worker.close();
    own.disconnect();
  });
  return worker;
}

function recorder(): FanOutPartRecorder {
  const parts = createFanOutPartRecorder({
    baseQueueName: queueName,
    redis: connector,
  });
  closers.push(() => parts.close());
  return parts;
}

async function submit(id: string, vantages: string[], timeoutMs: number): Promise<void> {
  await submitter.submit({
    id,
    request: { url: fixture.url, controls: [] },
    vantages: vantages.map(live),
    timeoutMs,
    jobOptions: { removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } },
  });
}

async function comparison(id: string): Promise<MultiVantageReport> {
  const job = await submitter.compareQueue.getJob(id);
  if (!job) throw new Error(`no comparison ${id}`);
  const result = (await job.waitUntilFinished(events, 60_000)) as ProbeJobResult;
  if (result.outcome !== 'vantages') throw new Error(`comparison ended with ${result.outcome}`);
  return result.report;
}

const statusesOf = (report: MultiVantageReport) =>
  Object.fromEntries(report.vantages.map((vantage) => [vantage.name, vantage.status]));

const reportPart = (name: string) =>
  ({ outcome: 'result', result: { outcome: 'report', report: reportOf(name) } }) as const;

describe('a fan-out', () => {
  it('waits delayed until its deadline, and the last part to arrive promotes it at once', async () => {
    compareWorker();
    const parts = recorder();
    // A deadline a minute away: the comparison can only finish now if the last part released it.
    await submit('promoted', ['isp-a', 'isp-b'], 60_000);
    expect(await submitter.compareQueue.getJobState('promoted')).toBe('delayed');
    expect(await parts.record({ id: 'promoted', vantage: 'isp-a', size: 2 }, reportPart('isp-a'))).toBe(
      'recorded',
    );
    expect(await submitter.compareQueue.getJobState('promoted')).toBe('delayed');
    expect(await parts.record({ id: 'promoted', vantage: 'isp-b', size: 2 }, reportPart('isp-b'))).toBe(
      'last',
    );
    const report = await comparison('promoted');
    expect(statusesOf(report)).toEqual({ 'isp-a': 'completed', 'isp-b': 'completed' });
    expect(report.verdict).toMatchObject({ cause: 'filtered_path', rule: 'localized' });
  });

  it('counts a part written twice (a retried job) once', async () => {
    const parts = recorder();
    await submit('twice', ['isp-a', 'isp-b'], 60_000);
    const part = { id: 'twice', vantage: 'isp-a', size: 2 };
    expect(await parts.record(part, reportPart('isp-a'))).toBe('recorded');
    expect(await parts.record(part, { outcome: 'failed', reason: 'retried' })).toBe('recorded');
    expect(await submitter.compareQueue.getJobState('twice')).toBe('delayed');
    const written = await client.hget(submitter.compareQueue.toKey('twice'), partField('isp-a'));
    expect(JSON.parse(written ?? '{}')).toMatchObject({ outcome: 'result' });
    await submitter.compareQueue.remove('twice');
  });

  it('lets exactly one of many parts racing from separate connections be the last', async () => {
    const names = Array.from({ length: 12 }, (_, index) => `v${index}`);
    await submit('race', names, 60_000);
    const recorders = [recorder(), recorder(), recorder()];
    const outcomes = await Promise.all(
      names.map((name, index) =>
        (recorders[index % recorders.length] as FanOutPartRecorder).record(
          { id: 'race', vantage: name, size: names.length },
          { outcome: 'failed', reason: 'test' },
        ),
      ),
    );
    expect(outcomes.filter((outcome) => outcome === 'last')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'recorded')).toHaveLength(names.length - 1);
    expect(await submitter.compareQueue.getJobState('race')).toBe('waiting');
    await submitter.compareQueue.remove('race');
  });

  it('ignores a part that arrives after its comparison began, and writes nothing for one that is gone', async () => {
    compareWorker();
    const parts = recorder();
    await submit('late', ['isp-a'], 60_000);
    expect(await parts.record({ id: 'late', vantage: 'isp-a', size: 1 }, reportPart('isp-a'))).toBe('last');
    await comparison('late');
    expect(
      await parts.record({ id: 'late', vantage: 'isp-b', size: 1 }, { outcome: 'failed', reason: 'late' }),
    ).toBe('late');
    expect(await client.hexists(submitter.compareQueue.toKey('late'), partField('isp-b'))).toBe(0);
    expect(
      await parts.record({ id: 'never-submitted', vantage: 'isp-a', size: 1 }, reportPart('isp-a')),
    ).toBe('late');
    expect(await client.exists(submitter.compareQueue.toKey('never-submitted'))).toBe(0);
  });

  it('runs at its deadline with every part already written when the last writer died before promoting it', async () => {
    compareWorker();
    await submit('unannounced', ['isp-a', 'isp-b'], 200);
    // What a worker killed between its write and the promotion leaves behind: both parts in, nothing promoted.
    const key = submitter.compareQueue.toKey('unannounced');
    for (const name of ['isp-a', 'isp-b'])
      await client.hset(key, partField(name), JSON.stringify(reportPart(name)));
    await client.hset(key, 'reach:parts-done', 2);
    expect(await submitter.compareQueue.getJobState('unannounced')).toBe('delayed');
    const report = await comparison('unannounced');
    expect(statusesOf(report)).toEqual({ 'isp-a': 'completed', 'isp-b': 'completed' });
  });

  it('is compared once when several workers race for it at the deadline, with the silent vantage lost and its part removed', async () => {
    for (let index = 0; index < 3; index += 1) compareWorker();
    const parts = recorder();
    const starts: string[] = [];
    const onActive = ({ jobId }: { jobId: string }) => {
      if (jobId === 'raced') starts.push(jobId);
    };
    events.on('active', onActive);
    closers.push(async () => {
      events.off('active', onActive);
    });
    await submit('raced', ['isp-a', 'ghost'], 200);
    expect(await parts.record({ id: 'raced', vantage: 'isp-a', size: 2 }, reportPart('isp-a'))).toBe(
      'recorded',
    );
    const report = await comparison('raced');
    expect(statusesOf(report)).toEqual({ 'isp-a': 'completed', ghost: 'lost' });
    expect(report.vantages[1]?.reason).toBe("no result by the probe's deadline");
    const ghostQueue = new Queue(vantageQueueName(queueName, 'ghost'), { connection: client });
    closers.push(() => ghostQueue.close());
    expect(await ghostQueue.getJob(childJobId('raced', 'ghost'))).toBeUndefined();
    const job = await submitter.compareQueue.getJob('raced');
    expect(job?.attemptsMade).toBe(1);
    expect(starts).toEqual(['raced']);
  });
});

describe('a vantage whose worker process is killed mid-probe', () => {
  let site: http.Server;
  let stuck: http.Server;
  const stuckRequests: Array<() => void> = [];
  let port = 0;

  beforeAll(async () => {
    site = http.createServer((_request, response) => response.end('<html>ok</html>'));
    site.listen(0, '127.0.0.1');
    await once(site, 'listening');
    port = (site.address() as { port: number }).port;
    // The same port on 127.0.0.2 takes the request and never answers: the killed vantage is mid-probe.
    stuck = http.createServer((_request, response) => {
      stuckRequests.push(() => response.destroy());
    });
    stuck.listen(port, '127.0.0.2');
    await once(stuck, 'listening');
  });

  afterAll(async () => {
    for (const release of stuckRequests) release();
    site?.close();
    stuck?.close();
  });

  it('is marked lost by the deadline while the other vantage completes, and is not run again', async () => {
    compareWorker();
    const steadyDns = await startDnsServer('127.0.0.1');
    const stuckDns = await startDnsServer('127.0.0.2');
    closers.push(
      () => steadyDns.close(),
      () => stuckDns.close(),
    );
    const steady = startProbeWorker({
      queueName,
      extraQueueNames: [vantageQueueName(queueName, 'steady')],
      redis: connector,
      concurrency: 2,
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
      runner: createProbeRunner({
        defaults: {
          resolvers: [steadyDns.resolver],
          controls: [],
          timeoutMs: 3000,
          maxRedirects: 5,
          maxBodyBytes: 65_536,
        },
        isAddressAllowed: (address) =>
          address === '127.0.0.1' ? undefined : `${address} is not this test's`,
      }),
      metrics: createProbeMetrics(new Registry()),
      logger: silent,
    });
    closers.push(() => steady.close(2000));
    const doomed: ChildProcess = spawn(process.execPath, [cliPath, 'worker', '--vantage', 'doomed'], {
      env: {
        ...process.env,
        REDIS_URL: redis.url,
        QUEUE_NAME: queueName,
        PROBE_ALLOW_PRIVATE: 'true',
        PROBE_RESOLVERS: stuckDns.resolver,
        PROBE_CONTROLS: '',
        VANTAGE_HEARTBEAT_SECONDS: '1',
        LOG_LEVEL: 'warn',
      },
      stdio: 'ignore',
    });
    closers.push(async () => {
      if (doomed.exitCode === null && doomed.signalCode === null) doomed.kill('SIGKILL');
    });
    const registry = new VantageRegistry(client, connector.keys, queueName, 1000);
    for (
      let attempt = 0;
      !(await registry.list()).some((vantage) => vantage.name === 'doomed');
      attempt += 1
    ) {
      if (attempt > 600) throw new Error('the doomed vantage never advertised itself');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const arrived = new Promise<void>((resolve) => stuck.once('request', () => resolve()));
    await submitter.submit({
      id: 'killed',
      request: { url: `http://www.site.internal:${port}/`, controls: [] },
      vantages: [live('doomed'), live('steady')],
      timeoutMs: 2000,
      jobOptions: { removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } },
    });
    await arrived;
    doomed.kill('SIGKILL');
    await once(doomed, 'exit');
    const report = await comparison('killed');
    expect(statusesOf(report)).toEqual({ doomed: 'lost', steady: 'completed' });
    expect(report.verdict.evidence).toContain("vantage doomed: lost (no result by the probe's deadline)");
    // Its part is held by the dead worker's lock, or removed: in neither case is it waiting to run again.
    const doomedQueue = new Queue(vantageQueueName(queueName, 'doomed'), { connection: client });
    closers.push(() => doomedQueue.close());
    expect(await doomedQueue.getJobCounts('wait', 'delayed', 'prioritized')).toEqual({
      wait: 0,
      delayed: 0,
      prioritized: 0,
    });
  }, 60_000);
});
