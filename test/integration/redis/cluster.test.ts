// A three-master Redis Cluster with a replica each: probes, wait mode, vantages, monitors with their schedules,
// incidents and status.json work against it, and killing the master of the queues' slot loses no schedule.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../support/redis-topologies.js';
import {
  completedProbe,
  eventually,
  getJson,
  type JsonBody,
  type LoopbackTarget,
  postJson,
  startTarget,
  startTestService,
} from '../service/support.js';
import { type ExerciseOutcome, exerciseEveryFeature } from './exercise.js';

const queueName = 'cluster';
let cluster: TestCluster;
let target: LoopbackTarget;
let api: Awaited<ReturnType<typeof startTestService>>;
let worker: Awaited<ReturnType<typeof startTestService>>;
let monitors: ExerciseOutcome;

beforeAll(async () => {
  cluster = await startCluster(3);
  target = await startTarget();
  const env = {
    ...cluster.env,
    QUEUE_NAME: queueName,
    PROBE_ALLOW_PRIVATE: 'true',
    WORKER_LOCK_DURATION_MS: '4000',
    WORKER_STALLED_INTERVAL_MS: '1000',
    JOB_BACKOFF_MS: '200',
  };
  api = await startTestService({ env, roles: { api: true, worker: false } });
  worker = await startTestService({
    env: { ...env, VANTAGE_NAME: 'cluster-worker', VANTAGE_HEARTBEAT_SECONDS: '1' },
    roles: { api: false, worker: true },
  });
}, 90_000);

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await target?.close();
  await cluster?.dispose();
});

/** The newest run of a monitor, as its history says. */
async function lastRunAtMs(monitorId: string): Promise<number> {
  const history = await getJson(`${api.apiUrl}/monitors/${monitorId}/history`);
  const newest: JsonBody = history.body.entries?.[0];
  return newest ? Date.parse(newest.at) : 0;
}

describe('REDIS_CLUSTER_NODES', { timeout: 120_000 }, () => {
  it('keeps the queues, the monitor store and the vantage registry each in one hash slot', async () => {
    expect(api.redisDescription).toMatch(/^cluster via 127\.0\.0\.1:\d+/);
    monitors = await exerciseEveryFeature(api.apiUrl, target.url, 'cluster-worker');
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

  it('loses no schedule, probe or monitor when the master of the queues is killed and its replica promoted', async () => {
    const master = await cluster.masterOf(`{${queueName}}`);
    const beforeKillMs = Date.now();
    await master.stop('SIGKILL');
    await cluster.waitForFailover(master.port);
    const promotedAtMs = Date.now();
    // The API serves again by itself (503s in between are expected), and the worker followed.
    const accepted = await eventually(
      async () => {
        const response = await postJson(`${api.apiUrl}/probe`, { url: target.url, timeoutMs: 5000 });
        if (response.status === 503) return undefined;
        expect(response.status).toBe(202);
        return response.body;
      },
      { what: 'a probe accepted after the promotion', attempts: 100, intervalMs: 200 },
    );
    const done = await completedProbe(api.apiUrl, accepted.id, { what: 'the probe after the promotion' });
    expect(done.report.verdict.cause).toBe('ok');
    const waited = await postJson(`${api.apiUrl}/probe?wait=30`, { url: target.url, timeoutMs: 5000 });
    expect(waited.status).toBe(200);
    // Both monitors run again on their schedule (every 10 s): their schedulers survived the failover.
    for (const id of [monitors.upMonitorId, monitors.downMonitorId]) {
      await eventually(async () => ((await lastRunAtMs(id)) > promotedAtMs ? true : undefined), {
        what: `a scheduled run of monitor ${id} after the promotion`,
        // BullMQ gives a blocking Cluster connection up to 30 s to reconnect after a node's death.
        attempts: 300,
        intervalMs: 200,
      });
    }
    const status = (await getJson(`${api.apiUrl}/status.json`)).body;
    expect(status.incidents.map((incident: JsonBody) => incident.reach.monitorId)).toEqual([
      monitors.downMonitorId,
    ]);
    console.log(
      `cluster failover: the queues' master killed, replica promoted in ${promotedAtMs - beforeKillMs} ms`,
    );
  });
});
