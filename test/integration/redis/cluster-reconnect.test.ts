// A Cluster client told to connect while the cluster is down (cluster_state:fail, as while a dead master's replica
// is being promoted) must settle that connect once the cluster is up again. ioredis left it pending for good when
// the attempt's ready check failed; BullMQ's worker awaits it when it resets its blocking connection, so a reset
// during a failover stopped the worker taking jobs, silently (the Cluster failover test's unfinished probes).
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisConnector, type RedisClient } from '../../../src/redis/connection.js';
import { parseHostPorts } from '../../../src/redis/target.js';
import { startCluster, type TestCluster } from '../../support/redis-topologies.js';
import { eventually } from '../service/support.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster(3);
}, 90_000);

afterAll(async () => {
  await cluster?.dispose();
}, 60_000);

/** Every node's own view of the cluster's state. */
async function clusterStates(): Promise<string[]> {
  return Promise.all(
    cluster.nodes.map(
      async (node) => /cluster_state:(\w+)/.exec(await cluster.cli(node.port, 'CLUSTER', 'INFO'))?.[1] ?? '',
    ),
  );
}

describe('a Cluster client connecting while the cluster is down', { timeout: 120_000 }, () => {
  it('settles its connect() once the cluster is up again, whichever attempt of the client got there', async () => {
    const connector = createRedisConnector(
      {
        mode: 'cluster',
        nodes: parseHostPorts(cluster.env.REDIS_CLUSTER_NODES as string),
        auth: { password: cluster.password },
      },
      'reconnect',
    );
    const client: RedisClient = connector.client('blocking');
    client.on('error', () => undefined);
    try {
      if (client.status !== 'ready') await once(client, 'ready');
      // One slot unassigned on every node (none claims it in gossip, so it stays so): every node's state is fail,
      // as while a dead master's slots wait for its replica, but every node answers.
      const key = 'reach-cluster-down';
      const slot = (await cluster.cli(cluster.nodes[0]?.port ?? 0, 'CLUSTER', 'KEYSLOT', key)).trim();
      const owner = await cluster.masterOf(key);
      for (const node of cluster.nodes) await cluster.cli(node.port, 'CLUSTER', 'DELSLOTS', slot);
      await eventually(async () => (await clusterStates()).every((state) => state === 'fail') || undefined, {
        what: 'cluster_state:fail on every node',
      });

      // What BullMQ does to reset a blocking connection: disconnect, wait for the end, connect again.
      const ended = once(client, 'end');
      client.disconnect();
      await ended;
      let settled: 'resolved' | 'rejected' | 'pending' = 'pending';
      const connecting = client.connect().then(
        () => {
          settled = 'resolved';
        },
        () => {
          settled = 'rejected';
        },
      );
      // That attempt reached the nodes and failed its ready check: the client now reconnects by itself.
      await once(client, 'reconnecting');

      await cluster.cli(owner.port, 'CLUSTER', 'ADDSLOTS', slot);
      await eventually(async () => (await clusterStates()).every((state) => state === 'ok') || undefined, {
        what: 'cluster_state:ok on every node',
      });
      if (client.status !== 'ready') await once(client, 'ready');
      // The client is ready: the connect() a caller awaits has settled with it (before, it stayed pending).
      await new Promise((resolve) => setImmediate(resolve));
      expect(settled).toBe('resolved');
      await connecting;
      expect(await client.set(key, 'up')).toBe('OK');
    } finally {
      client.disconnect();
      await connector.close();
    }
  });
});
