// A master, a replica and three Sentinels: probes keep coming while the master is killed with SIGKILL; the API
// answers 503 problems during the switch, recovers by itself, the workers follow, every accepted probe ends, and
// every monitor runs on schedule again (a shard membership or job scheduler the failover lost is rebuilt by the
// workers' reconcile, MONITOR_RECONCILE_SECONDS, 2 here).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SentinelSet, startSentinelSet } from '../../support/redis-topologies.js';
import {
  captureLog,
  getJson,
  type LoopbackTarget,
  postJson,
  startTarget,
  startTestService,
} from '../service/support.js';
import {
  describeRun,
  endingsOf,
  expectOnly503Problems,
  expectScheduledRunsSince,
  replicaCaughtUp,
  submitThroughFailover,
} from './failover.js';

let sentinel: SentinelSet;
let target: LoopbackTarget;
let api: Awaited<ReturnType<typeof startTestService>>;
const workers: Array<Awaited<ReturnType<typeof startTestService>>> = [];
// Both workers' log: what their reconcile repaired and what their shard jobs ran, shown when a schedule is missing.
const workersLog = captureLog('debug');

beforeAll(async () => {
  sentinel = await startSentinelSet();
  // A little work per probe, so some are running when the master dies.
  target = await startTarget((_request, response) => {
    setTimeout(() => response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>'), 30);
  });
  const env = {
    ...sentinel.env,
    QUEUE_NAME: 'sentinel',
    PROBE_ALLOW_PRIVATE: 'true',
    // A probe whose worker lost its lock in the switch is taken up again within seconds, not the default 30.
    WORKER_LOCK_DURATION_MS: '4000',
    WORKER_STALLED_INTERVAL_MS: '1000',
    JOB_BACKOFF_MS: '200',
  };
  api = await startTestService({ env, roles: { api: true, worker: false } });
  for (const name of ['worker-a', 'worker-b'])
    workers.push(
      await startTestService({
        env: { ...env, VANTAGE_NAME: name },
        monitorEnv: { MONITOR_RECONCILE_SECONDS: '2' },
        roles: { api: false, worker: true },
        logger: workersLog.logger.child({ worker: name }),
      }),
    );
}, 60_000);

afterAll(async () => {
  for (const worker of workers) await worker.close();
  await api?.close();
  await target?.close();
  await sentinel?.dispose();
});

describe('Sentinel failover', { timeout: 150_000 }, () => {
  it('answers 503 during the switch, recovers by itself, ends every probe it accepted, and keeps every schedule', async () => {
    expect(api.redisDescription).toMatch(/^sentinel reach-test via 127\.0\.0\.1:\d+/);
    // Two monitors (10 s interval), each run once by schedule before the master is killed.
    const monitorIds: string[] = [];
    for (const name of ['Site one', 'Site two']) {
      const created = await postJson(`${api.apiUrl}/monitors`, {
        name,
        url: target.url,
        intervalSeconds: 10,
      });
      expect(created.status).toBe(201);
      monitorIds.push(created.body.id);
    }
    await expectScheduledRunsSince(api.apiUrl, monitorIds, 0, () =>
      workersLog.matching(/reconcil|shard tick|stalled|run failed|monitor worker/),
    );
    const run = await submitThroughFailover({
      apiUrl: api.apiUrl,
      targetUrl: target.url,
      kill: async () => {
        await replicaCaughtUp((...args) => sentinel.cli(sentinel.master.port, ...args), sentinel.master.port);
        await sentinel.master.stop('SIGKILL');
      },
      isPromoted: async () => (await sentinel.currentMasterPort()) === sentinel.replica.port,
    });
    const masterPort = await sentinel.currentMasterPort();
    expect(
      run.acceptedAfterRecovery,
      `submissions accepted again after the promotion (the Sentinels name port ${masterPort}, the replica is ` +
        `${sentinel.replica.port}; last refusals ${JSON.stringify(run.refusals.slice(-2))})`,
    ).toBe(20);
    expect(await sentinel.currentMasterPort()).toBe(sentinel.replica.port);
    // The Sentinel client fails a command at once while it looks for the master: the switch is seen as 503s.
    expect(run.refusals.length).toBeGreaterThan(0);
    expectOnly503Problems(run.refusals);
    expect((await getJson(`${api.apiUrl}/readyz`)).status).toBe(200);

    // Every accepted probe ends, completed or failed, on the new master; the workers followed it.
    const endings = await endingsOf(api.apiUrl, run.accepted);
    console.log(describeRun('sentinel', run, endings));
    expect(endings.unfinished, 'accepted probes neither completed nor failed').toBe(0);
    expect(endings.lost, 'accepted probes the promoted replica never had').toBe(0);

    // Wait mode works again: the API's event stream followed the promotion too.
    const waited = await postJson(`${api.apiUrl}/probe?wait=30`, { url: target.url, timeoutMs: 5000 });
    expect(waited.status).toBe(200);
    expect(waited.body.report.verdict.cause).toBe('ok');
    // No schedule is lost: each monitor has a scheduled run that started after the API accepted again.
    await expectScheduledRunsSince(api.apiUrl, monitorIds, run.recoveredAtMs, () =>
      workersLog.matching(/reconcil|shard tick|stalled|run failed|monitor worker/),
    );
  });
});
