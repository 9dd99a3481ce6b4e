// Redis clients for every part of the service, made from one target: commands that fail fast, blocking reads
// that wait it out, and the connection and key prefix BullMQ's parts are given.
import type { ConnectionOptions } from 'bullmq';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { describeRedisTarget, parseRedisUrl, type RedisTarget } from './target.js';

export type RedisPurpose = 'commands' | 'blocking';

/** One server (by address, socket or Sentinels) or a Cluster: both speak the same commands. */
export type RedisClient = Redis | Cluster;

/** What every BullMQ Queue, Worker, QueueEvents and FlowProducer is given: its connection and key prefix. */
export interface BullConnection {
  connection: ConnectionOptions;
  prefix: string;
}

/**
 * Names of keys by owner. On a Cluster each group of keys that a script or MULTI touches together is wrapped in
 * one hash tag (`{…}`) so it lives in one slot; BullMQ's prefix too, since a flow writes several queues at once.
 * On one server the names stay as they have always been, so an existing deployment keeps its queues and monitors.
 */
export interface Keyspace {
  bullPrefix: string;
  /** A prefix whose keys must share a slot: `name` on one server, `{name}` on a Cluster. */
  group(name: string): string;
}

export function keyspaceFor(target: RedisTarget | undefined, baseQueueName: string): Keyspace {
  const isCluster = target?.mode === 'cluster';
  return {
    bullPrefix: isCluster ? `{${baseQueueName}}` : 'bull',
    group: (name) => (isCluster ? `{${name}}` : name),
  };
}

export interface RedisConnector {
  readonly target: RedisTarget;
  readonly keys: Keyspace;
  /** Where Redis is, without its password, for logs. */
  readonly description: string;
  /**
   * `commands` (the API's queue, rate limiter, readiness): no offline queue, so a request made while Redis is
   * away fails at once and the API answers 503 instead of hanging. `blocking` (workers, queue events, stores
   * the workers write): BullMQ wants maxRetriesPerRequest null so its reads survive reconnects and failovers.
   * The caller owns and closes the client.
   */
  client(purpose: RedisPurpose): RedisClient;
  /** Connection and prefix for a BullMQ part on a client the caller already holds (a Queue, a FlowProducer). */
  bullOn(client: RedisClient): BullConnection;
  /**
   * Connection and prefix for a BullMQ part that blocks (a Worker, QueueEvents). On one server these are options,
   * and BullMQ opens and closes its connections itself; BullMQ cannot open a Cluster from options, so there it is
   * a Cluster client of ours, closed by close().
   */
  bullBlocking(): BullConnection;
  /** Closes the Cluster clients handed to BullMQ parts; call it after those parts have closed. */
  close(): Promise<void>;
}

/** Reconnect forever, backing off to at most 2 s: a Redis restart or failover is a pause, not a crash. */
const retryStrategy = (attempt: number) => Math.min(attempt * 100, 2000);

function commonOptions(purpose: RedisPurpose) {
  return {
    connectTimeout: 3000,
    // No auto-pipelining: every batch is a new ioredis Pipeline, whose constructor copies each script defined
    // on the client (BullMQ's Queue defines 64 on this one). A lone command then costs about 140 µs of CPU
    // instead of 30; under the API's load most batches held one or two commands, so it cost more than it saved.
    enableAutoPipelining: false,
    maxRetriesPerRequest: purpose === 'blocking' ? null : 1,
  };
}

/** ioredis options for the targets that are one server at a time (by address, socket or Sentinels). */
function serverOptions(
  target: Exclude<RedisTarget, { mode: 'cluster' }>,
  purpose: RedisPurpose,
): RedisOptions {
  const { auth } = target;
  const base: RedisOptions = {
    ...commonOptions(purpose),
    enableOfflineQueue: purpose === 'blocking',
    retryStrategy,
    db: target.db,
    ...(auth.username ? { username: auth.username } : {}),
    ...(auth.password ? { password: auth.password } : {}),
  };
  switch (target.mode) {
    case 'server':
      return {
        ...base,
        host: target.host,
        port: target.port,
        ...(target.isTls ? { tls: { servername: target.host } } : {}),
      };
    case 'socket':
      return { ...base, path: target.path };
    case 'sentinel':
      return {
        ...base,
        sentinels: target.sentinels,
        name: target.masterName,
        role: 'master',
        ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
        sentinelRetryStrategy: retryStrategy,
        // No failoverDetector: when its +switch-master arrives while the client is already reconnecting through
        // the Sentinels (the master died), it aborts that connect and ioredis ends the client for good (status
        // "end", never retried): the failover test saw the API answer 503 for ever. The Sentinels themselves
        // close the clients of the instances they reconfigure, and a master turned replica answers READONLY,
        // on which we reconnect (below), so a promotion is followed either way.
        reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
      };
  }
}

function clusterOptions(
  target: Extract<RedisTarget, { mode: 'cluster' }>,
  purpose: RedisPurpose,
): ClusterOptions {
  const { auth } = target;
  return {
    enableOfflineQueue: purpose === 'blocking',
    clusterRetryStrategy: retryStrategy,
    // Read and write the masters: replicas lag (replication is asynchronous) and a probe's state must not.
    scaleReads: 'master',
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2000,
    redisOptions: {
      ...commonOptions(purpose),
      ...(auth.username ? { username: auth.username } : {}),
      ...(auth.password ? { password: auth.password } : {}),
    },
  };
}

export function createRedisConnector(target: RedisTarget, baseQueueName: string): RedisConnector {
  const keys = keyspaceFor(target, baseQueueName);
  const handedToBull = new Set<RedisClient>();
  const client = (purpose: RedisPurpose): RedisClient =>
    target.mode === 'cluster'
      ? new Cluster(target.nodes, clusterOptions(target, purpose))
      : new Redis(serverOptions(target, purpose));
  return {
    target,
    keys,
    description: describeRedisTarget(target),
    client,
    bullOn: (held) => ({ connection: held, prefix: keys.bullPrefix }),
    bullBlocking() {
      if (target.mode !== 'cluster')
        // BullMQ declares its own RedisOptions; ioredis's (which BullMQ passes on as they are) are the same thing.
        return {
          connection: serverOptions(target, 'blocking') as ConnectionOptions,
          prefix: keys.bullPrefix,
        };
      const cluster = client('blocking');
      // BullMQ listens for errors on its own duplicates; this one only needs not to throw unhandled.
      cluster.on('error', () => undefined);
      handedToBull.add(cluster);
      return { connection: cluster, prefix: keys.bullPrefix };
    },
    async close() {
      const clients = [...handedToBull];
      handedToBull.clear();
      await Promise.all(clients.map((held) => closeRedisClient(held)));
    },
  };
}

/** A connector for one redis:// URL (the embedded server, tests). */
export function connectorForUrl(url: string, baseQueueName: string): RedisConnector {
  return createRedisConnector(parseRedisUrl(url), baseQueueName);
}

export function isRedisReady(client: RedisClient): boolean {
  return client.status === 'ready';
}

/** How long QUIT may take before the connection is dropped instead. */
const quitTimeoutMs = 2000;

/**
 * Closes a client politely when connected, at once otherwise (QUIT would wait for a reconnect). QUIT is bounded:
 * a Cluster client sends it to every node it knows, a failed master among them, and would wait for that one.
 */
export async function closeRedisClient(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    const isQuit = await Promise.race([
      client.quit().then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), quitTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (isQuit) return;
  }
  client.disconnect();
}
