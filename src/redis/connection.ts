// Redis clients for every part of the service, made from one target: commands that fail fast, blocking reads
// that wait it out, and the connection and key prefix BullMQ's parts are given.
import type { ConnectionOptions } from 'bullmq';
import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { waitAtMost } from '../lifecycle.js';
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
   * Connection and prefix for a BullMQ part that blocks (a Worker, QueueEvents): a client of ours, closed by
   * close(), which BullMQ duplicates for its blocking reads. Ours rather than options, in every mode: BullMQ
   * cannot open a Cluster from options, and a client that is ours can be ended when a part will not close.
   */
  bullBlocking(): BullConnection;
  /**
   * Closes the clients handed to BullMQ parts: after those parts have closed, or to end a close that waits on a
   * Redis that is away (their queued commands fail, so the parts finish).
   */
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
): ServerSettings {
  const { auth } = target;
  const base: ServerSettings = {
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
        ...(target.isTls ? { tls: { servername: target.host, ...target.tls } } : {}),
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
        // The master and replicas the Sentinels name are reached over TLS with `tls`, the Sentinels with theirs.
        ...(target.tls ? { tls: { ...target.tls }, enableTLSForSentinelMode: true } : {}),
        ...(target.sentinelTls ? { sentinelTLS: { ...target.sentinelTls } } : {}),
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

/**
 * ioredis's clients, with a disconnect that always ends. A client that lost its connection waits in
 * "reconnecting" (a Cluster with an empty connection pool) for its next attempt. disconnect() then clears the
 * attempt and waits for a socket (or a pool) to close that is closed already: the client never reaches "end",
 * commands queued while offline are never failed, and whatever waits for either waits for good. BullMQ's
 * Worker.close and QueueEvents.close wait for "end", and a worker's main loop waits on its queued commands, so
 * the service's close hung after a Cluster failover under load (slot refreshes timing out) or with Redis down.
 * These end such a client the way ioredis ends one that closes while disconnecting, and their duplicates (the
 * blocking connections BullMQ makes of them) are of the same class.
 */
const connectionClosedMessage = 'Connection is closed.';

/** The parts of ioredis's clients that end them; private in its typings. */
interface ClientInternals {
  setStatus(status: string): void;
  flushQueue(error: Error): void;
}

/**
 * What ioredis does to a client that closes while disconnecting: "end", and its queued commands failed with
 * "Connection is closed." (which BullMQ knows for a connection error and retries, rather than a fault).
 */
function endNow(client: Redis | Cluster): void {
  const internals = client as unknown as ClientInternals;
  internals.setStatus('end');
  internals.flushQueue(new Error(connectionClosedMessage));
}

/** Our options for one server: replies mapped the default ("legacy") way, as BullMQ expects. */
type ServerSettings = RedisOptions & { replyMapping?: 'legacy' };

class EndingRedis extends Redis {
  constructor(private readonly settings: ServerSettings) {
    super(settings);
  }

  override disconnect(reconnect = false): void {
    const status = this.status;
    super.disconnect(reconnect);
    if (reconnect || status !== 'reconnecting') return;
    endNow(this);
  }

  override duplicate(...[override]: Parameters<Redis['duplicate']>): ReturnType<Redis['duplicate']> {
    return new EndingRedis({ ...this.settings, ...(override as ServerSettings | undefined) });
  }
}

/** Our Cluster options: replies mapped the default ("legacy") way, as BullMQ expects. */
type ClusterSettings = ClusterOptions & {
  redisOptions?: ClusterOptions['redisOptions'] & { replyMapping?: 'legacy' };
};

class EndingCluster extends Cluster {
  constructor(
    private readonly seeds: ClusterNode[],
    private readonly settings: ClusterSettings,
  ) {
    super(seeds, settings);
  }

  override disconnect(reconnect = false): void {
    const status = this.status;
    const hasNoConnections = this.nodes('all').length === 0;
    super.disconnect(reconnect);
    // "wait" ends inside super.disconnect; "close" and "end" are ending already; a pool with nodes drains.
    if (reconnect || !hasNoConnections || ['wait', 'close', 'end'].includes(status)) return;
    endNow(this);
  }

  /**
   * Settles once the client is ready or ended, whichever attempt gets it there. ioredis settles the promise of
   * one attempt only: when that attempt's ready check fails (cluster_state:fail, as while a master's replica is
   * being promoted) it reconnects by itself, and the first attempt's promise is never resolved nor rejected.
   * BullMQ's worker awaits that promise when it resets its blocking connection (after a blocking read outlived
   * its timeout), so a reset in a failover left the worker waiting for good: no error, isRunning() true, and no
   * job taken again (the Cluster failover test's 20 or 40 unfinished probes).
   */
  override connect(): Promise<void> {
    const attempt = super.connect();
    return new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        this.off('ready', onReady);
        this.off('end', onEnd);
        if (error) reject(error);
        else resolve();
      };
      const onReady = () => settle();
      const onEnd = () => settle(new Error(connectionClosedMessage));
      this.once('ready', onReady);
      this.once('end', onEnd);
      attempt.then(
        () => settle(),
        (error: Error) => settle(error),
      );
    });
  }

  override duplicate(
    ...[nodes = [], options]: Parameters<Cluster['duplicate']>
  ): ReturnType<Cluster['duplicate']> {
    const overrides = (options ?? {}) as ClusterSettings;
    return new EndingCluster(nodes.length > 0 ? nodes : this.seeds, {
      ...this.settings,
      ...overrides,
      redisOptions: { ...this.settings.redisOptions, ...overrides.redisOptions },
    });
  }
}

function clusterOptions(
  target: Extract<RedisTarget, { mode: 'cluster' }>,
  purpose: RedisPurpose,
): ClusterSettings {
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
      // Every node, discovered ones too, over TLS: their certificates must name the addresses they announce.
      ...(target.tls ? { tls: { ...target.tls } } : {}),
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
      ? new EndingCluster(target.nodes, clusterOptions(target, purpose))
      : new EndingRedis(serverOptions(target, purpose));
  return {
    target,
    keys,
    description: describeRedisTarget(target),
    client,
    bullOn: (held) => ({ connection: held, prefix: keys.bullPrefix }),
    bullBlocking() {
      const held = client('blocking');
      // BullMQ listens for errors on its own duplicates; this one only needs not to throw unhandled.
      held.on('error', () => undefined);
      handedToBull.add(held);
      return { connection: held, prefix: keys.bullPrefix };
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
    const quitting = client.quit().then(
      () => true,
      () => false,
    );
    if ((await waitAtMost(quitTimeoutMs, quitting)) === 'done' && (await quitting)) return;
  }
  client.disconnect();
}
