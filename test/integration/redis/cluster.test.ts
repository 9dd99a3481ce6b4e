// A three-master Redis Cluster with a replica each: probes, wait mode, vantages, monitors with their schedules,
// incidents and status.json work against it. Probes keep coming while the master of the queues' slot is killed
// (while a shard's tick job runs) and its replica promoted: the API answers 503 problems in the switch, recovers
// by itself, the worker follows, every probe it accepted ends, and every monitor runs on schedule again (a shard
// membership or job scheduler the failover lost or left broken is rebuilt by the worker's reconcile,
// MONITOR_RECONCILE_SECONDS, 2 here). With every node gone, the service still closes.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../support/redis-topologies.js';
import {
  captureLog,
  eventually,
  type LoopbackTarget,
  postJson,
  startTarget,
  startTestService,
} from '../service/support.js';
import { exerciseEveryFeature } from './exercise.js';
import {
  describeRun,
  endingsOf,
  expectOnly503Problems,
  expectScheduledRunsSince,
  replicaCaughtUp,
  submitThroughFailover,
} from './failover.js';

const cli = resolve(import.meta.dirname, '../../../dist/cli.js');
const queueName = 'cluster';
let cluster: TestCluster;
let target: LoopbackTarget;
let api: Awaited<ReturnType<typeof startTestService>>;
let worker: Awaited<ReturnType<typeof startTestService>>;
let monitorIds: string[] = [];
// The worker's log: what its reconcile repaired and what its shard jobs ran, shown when a schedule is missing.
const workerLog = captureLog('debug');

beforeAll(async () => {
  cluster = await startCluster(3);
  // A little work per probe, so some are running when the master dies.
  target = await startTarget((_request, response) => {
    setTimeout(() => response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>'), 30);
  });
  const env = {
    ...cluster.env,
    QUEUE_NAME: queueName,
    PROBE_ALLOW_PRIVATE: 'true',
    // A probe whose worker lost its lock in the switch is taken up again within seconds, not the default 30.
    WORKER_LOCK_DURATION_MS: '4000',
    WORKER_STALLED_INTERVAL_MS: '1000',
    JOB_BACKOFF_MS: '200',
  };
  api = await startTestService({ env, roles: { api: true, worker: false } });
  worker = await startTestService({
    env: { ...env, VANTAGE_NAME: 'cluster-worker', VANTAGE_HEARTBEAT_SECONDS: '1' },
    monitorEnv: { MONITOR_RECONCILE_SECONDS: '2' },
    roles: { api: false, worker: true },
    logger: workerLog.logger,
  });
}, 90_000);

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await target?.close();
  await cluster?.dispose();
}, 90_000);

/** Resolves once a shard tick job is in the monitor queue's active list on `port`, or after `limitMs`. */
async function shardJobActive(port: number, limitMs: number): Promise<void> {
  const activeKey = `{${queueName}}:${queueName}-monitors:active`;
  const startedMs = Date.now();
  while (Date.now() - startedMs < limitMs) {
    if ((await cluster.cli(port, 'LRANGE', activeKey, '0', '-1')).includes('repeat:shard')) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The probe queue's jobs by list, read on the master serving its slot now: where unfinished probes wait. */
async function queueCounts(): Promise<string> {
  const master = await cluster.masterOf(`{${queueName}}`);
  const key = (name: string) => `{${queueName}}:${queueName}:${name}`;
  const waiting = (await cluster.cli(master.port, 'LLEN', key('wait'))).trim();
  const active = (await cluster.cli(master.port, 'LLEN', key('active'))).trim();
  const markers = (await cluster.cli(master.port, 'ZCARD', key('marker'))).trim();
  return `${waiting} waiting, ${active} active, ${markers} marker`;
}

describe('REDIS_CLUSTER_NODES', { timeout: 150_000 }, () => {
  it('keeps the queues, the monitor store and the vantage registry each in one hash slot', async () => {
    expect(api.redisDescription).toMatch(/^cluster via 127\.0\.0\.1:\d+/);
    const monitors = await exerciseEveryFeature(api.apiUrl, target.url, 'cluster-worker');
    monitorIds = [monitors.upMonitorId, monitors.downMonitorId];
    // What the service wrote is where the keyspace says: a few slots, not one per key.
    const keys = new Set<string>();
    for (const node of cluster.nodes) {
      const role = await cluster.cli(node.port, 'ROLE');
      if (!role.startsWith('master')) continue;
      for (const key of (await cluster.cli(node.port, '--scan')).split('\n').filter(Boolean)) keys.add(key);
    }
    const tags = new Set([...keys].map((key) => /^\{([^}]+)\}/.exec(key)?.[1] ?? `untagged ${key}`));
    const untagged = [...tags].filter((tag) => tag.startsWith('untagged') && !tag.includes(':ratelimit'));
    expect(untagged).toEqual([]);
    expect([...tags].filter((tag) => !tag.startsWith('untagged')).sort()).toEqual([
      queueName,
      `${queueName}:monitor`,
      `${queueName}:vantages`,
    ]);
  });

  it('ends reach worker at start with exit 1 and one line when the Cluster refuses its password', async () => {
    // The Cluster's client reports "Failed to refresh slots cache", the node's WRONGPASS kept inside: before, the
    // start did not see it and the worker warned of the slots cache for good.
    const child = spawn(process.execPath, [cli, 'worker'], {
      env: { PATH: process.env.PATH ?? '', ...cluster.env, REDIS_PASSWORD: 'not-the-password' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const stopIfStuck = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(stopIfStuck);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^reach: Redis at cluster via \S+ refused our credentials \(WRONGPASS [^)]*\): check REDIS_PASSWORD and REDIS_USERNAME, or the password in REDIS_URL$/,
      ),
    ]);
  });

  it('refuses submissions while any master nears its memory cap, not only the one holding the queues', async () => {
    const queueMaster = await cluster.masterOf(`{${queueName}}`);
    const others: number[] = [];
    for (const node of cluster.nodes)
      if (node.port !== queueMaster.port && (await cluster.cli(node.port, 'ROLE')).startsWith('master'))
        others.push(node.port);
    const full = others[0] as number;
    const used = /used_memory:(\d+)/.exec(await cluster.cli(full, 'INFO', 'memory'))?.[1];
    await cluster.cli(full, 'CONFIG', 'SET', 'maxmemory', String(used));
    try {
      const refused = await eventually(
        async () => {
          const response = await postJson(`${api.apiUrl}/probe`, { url: target.url, timeoutMs: 5000 });
          return response.status === 503 ? response : undefined;
        },
        { what: 'a submission refused for the full master' },
      );
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    } finally {
      await cluster.cli(full, 'CONFIG', 'SET', 'maxmemory', '0');
    }
    await eventually(
      async () =>
        (await postJson(`${api.apiUrl}/probe`, { url: target.url, timeoutMs: 5000 })).status === 202 ||
        undefined,
      { what: 'submissions accepted again once the cap is lifted' },
    );
  });

  it('answers only 503 problems or 202 while the master of the queues is replaced, recovers, and ends every probe it accepted', async () => {
    const master = await cluster.masterOf(`{${queueName}}`);
    const run = await submitThroughFailover({
      apiUrl: api.apiUrl,
      targetUrl: target.url,
      kill: async () => {
        // The replica must have what the master accepted: otherwise the test measures replication lag (one
        // loaded CI run lost all 20 probes accepted before the kill), not the switch. Writes after this are in
        // flight, as in any failover.
        await replicaCaughtUp((...args) => cluster.cli(master.port, ...args), master.port);
        // Mid-run: while a shard's tick job is taken (BullMQ makes its next job in a second step, the write a
        // failover is likeliest to split from the first). A tick comes every 10 s per shard; 15 s at most.
        await shardJobActive(master.port, 15_000);
        await master.stop('SIGKILL');
      },
      isPromoted: async () => (await cluster.masterOf(`{${queueName}}`)).port !== master.port,
    });
    // Every accepted probe ends, completed or failed, on the promoted replica; the worker followed it.
    const endings = await endingsOf(api.apiUrl, run.accepted);
    console.log(describeRun('cluster', run, endings));
    expect(
      run.acceptedAfterRecovery,
      `submissions accepted again after the promotion (last refusals ${JSON.stringify(run.refusals.slice(-2))})`,
    ).toBe(20);
    // A Cluster client retries a command meant for the dead master every 200 ms, 16 times, before failing it:
    // a switch shorter than that holds submissions instead of refusing them; a longer one answers 503 problems.
    expectOnly503Problems(run.refusals);
    // Runs once saw 20 or all 40 unfinished: the probe worker had reset its blocking connection while the
    // cluster was down and waited for good on a connect ioredis never settled (cluster-reconnect.test.ts). A
    // failure names where the probes wait and what the worker last warned of.
    const workerWarnings = workerLog.lines
      .filter((line) => Number(line.level) >= 40)
      .slice(-60)
      .map((line) => JSON.stringify(line))
      .join('\n');
    const where = endings.unfinished > 0 ? await queueCounts() : '';
    expect(
      endings.unfinished,
      `accepted probes neither completed nor failed (the queue on the promoted master: ${where}); ` +
        `the worker's last warnings:\n${workerWarnings}`,
    ).toBe(0);
    expect(endings.lost, 'accepted probes the promoted replica never had').toBe(0);

    // Wait mode works again: the API's event stream followed the promotion too.
    const waited = await postJson(`${api.apiUrl}/probe?wait=30`, { url: target.url, timeoutMs: 5000 });
    expect(waited.status).toBe(200);
    expect(waited.body.report.verdict.cause).toBe('ok');
    // No schedule is lost: each monitor (10 s interval) has a scheduled run that started after the API accepted
    // again. A shard scheduler the failover broke is replaced by the worker's reconcile (every 2 s here).
    await expectScheduledRunsSince(api.apiUrl, monitorIds, run.recoveredAtMs, () =>
      workerLog.matching(/reconcil|shard tick|stalled|run failed|monitor worker/),
    );
  });

  it('closes the worker and the API with every node of the Cluster gone', async () => {
    for (const node of cluster.nodes) await node.stop('SIGKILL');
    // Each client now waits to reconnect; a close that waited for them to end would never finish (the test's
    // timeout would fail it). The shutdown deadline is 5 s, and its grace 3 s more.
    await worker.close();
    await api.close();
    await expect(fetch(`${api.apiUrl}/healthz`)).rejects.toThrow();
  });
});
