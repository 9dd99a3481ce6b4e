// A shard tick's abort signal against a real redis-server and a loopback site: a shard of hundreds of members adds
// one abort listener to the shard's signal, not one per member in flight (no MaxListenersExceededWarning), none is
// left once the tick ends, and aborting the shard still aborts the members in flight.
import { EventEmitter, getEventListeners, once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMonitors } from '../../../src/monitor/bulk-create.js';
import { Limiter } from '../../../src/monitor/schedule/limiter.js';
import { runShardTick, type ShardRunDeps } from '../../../src/monitor/schedule/shard-run.js';
import { nextTickAtOrAfter, type Shard, shardIdOf, shardOf } from '../../../src/monitor/schedule/shards.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { listenerLeakWarnings, warningsDuring } from '../../support/warnings.js';
import { eventually } from '../service/support.js';
import {
  loopbackPolicy,
  type MonitorHarness,
  monitorRecord,
  probeDefaults,
  startMonitorHarness,
} from './support.js';

/** A loopback site that answers at once or holds every request; it notes what each request saw and its socket. */
interface ObservedSite {
  url: string;
  isHolding: boolean;
  /** Called as each request arrives (the test reads the shard signal's listeners then). */
  onRequest: () => void;
  requests: number;
  /** Sockets accepted and not closed yet. */
  openSockets: Set<Socket>;
  close(): Promise<void>;
}

async function startObservedSite(): Promise<ObservedSite> {
  const server: Server = createServer((request, response) => {
    site.requests += 1;
    site.onRequest();
    request.resume();
    if (!site.isHolding) response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>');
  });
  const site: ObservedSite = {
    url: '',
    isHolding: false,
    onRequest: () => undefined,
    requests: 0,
    openSockets: new Set(),
    async close() {
      for (const socket of site.openSockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('connection', (socket) => {
    site.openSockets.add(socket);
    socket.on('close', () => site.openSockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  site.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return site;
}

let redis: TestRedis;
let harness: MonitorHarness;
let site: ObservedSite;
let deps: ShardRunDeps;

beforeAll(async () => {
  redis = await startRedis();
  harness = await startMonitorHarness({ redisUrl: redis.url });
  site = await startObservedSite();
  deps = {
    store: harness.workers.store,
    scheduler: harness.workers.scheduler,
    alertQueue: harness.alertQueue,
    config: harness.config,
    probeDefaults,
    policy: loopbackPolicy,
    logger: pino({ level: 'silent' }),
    events: new EventEmitter(),
    shards: harness.workers.scheduler.shards,
    limiter: new Limiter(harness.config.concurrency),
  };
});

afterAll(async () => {
  await harness?.close();
  await site?.close();
  await redis?.dispose();
});

/**
 * Stores `count` monitors of the site whose 60 s ticks fall in one shard (ids drawn from `seed` until that many
 * land in the shard of the first), placed in it as POST /monitors/bulk places them; answers the shard.
 */
async function placeShard(count: number, seed: string, fields: { timeoutMs?: number } = {}): Promise<Shard> {
  const idOf = (index: number) => `${seed}-0000-4000-8000-${String(index).padStart(12, '0')}`;
  const shard = shardOf({ id: idOf(0), intervalSeconds: 60 });
  const records = [];
  for (let index = 0; records.length < count; index += 1) {
    if (index > 10_000_000) throw new Error(`not ${count} ids in one shard`);
    const id = idOf(index);
    if (shardIdOf(shardOf({ id, intervalSeconds: 60 })) === shardIdOf(shard))
      records.push(monitorRecord(id, { url: site.url, ...fields }));
  }
  const creation = await createMonitors(deps, records, {});
  if (creation.error) throw creation.error;
  return shard;
}

/** The shard's tick that came last: due now. */
const dueTick = (shard: Shard) => nextTickAtOrAfter(shard, Date.now()) - shard.everyMs;

describe("a shard tick's signal", () => {
  it('runs 400 members with one abort listener on the shard signal: no MaxListenersExceededWarning, none left', async () => {
    const shard = await placeShard(400, 'aaaaaaaa');
    const shardSignal = new AbortController().signal;
    site.isHolding = false;
    let mostListeners = 0;
    site.onRequest = () => {
      mostListeners = Math.max(mostListeners, getEventListeners(shardSignal, 'abort').length);
    };
    const { value: outcome, warnings } = await warningsDuring(() =>
      runShardTick(deps, shard, dueTick(shard), shardSignal),
    );
    expect(outcome).toMatchObject({ members: 400, ran: 400, failed: 0, isInterrupted: false });
    expect(listenerLeakWarnings(warnings)).toEqual([]);
    // Members ran in parallel up to the process's limit, all while the shard signal held one listener.
    expect(harness.config.concurrency).toBeGreaterThan(10);
    expect(mostListeners).toBe(1);
    expect(getEventListeners(shardSignal, 'abort')).toEqual([]);
  });

  it('aborts the members in flight when the shard is aborted, and starts none of those waiting', async () => {
    // Members that would wait a minute for the held site: only the abort ends them in this test's time.
    const shard = await placeShard(100, 'bbbbbbbb', { timeoutMs: 60_000 });
    const inFlight = Math.min(100, harness.config.concurrency);
    const shardController = new AbortController();
    site.isHolding = true;
    site.onRequest = () => undefined;
    const requestsBefore = site.requests;
    const ending = runShardTick(deps, shard, dueTick(shard), shardController.signal);
    await eventually(async () => (site.requests - requestsBefore === inFlight ? true : undefined), {
      what: `${inFlight} members in flight`,
      intervalMs: 50,
    });
    expect(site.openSockets.size).toBe(inFlight);
    shardController.abort(new Error('shutdown deadline reached'));
    const outcome = await ending;
    // Cut short: no run kept, the tick left for a redelivery; the members in flight closed their connections.
    expect(outcome).toMatchObject({ members: 100, ran: 0, failed: 0, isInterrupted: true });
    await eventually(async () => (site.openSockets.size === 0 ? true : undefined), {
      what: "the aborted members' connections to close",
      intervalMs: 50,
    });
    expect(site.requests - requestsBefore).toBe(inFlight);
    expect(getEventListeners(shardController.signal, 'abort')).toEqual([]);
    site.isHolding = false;
  });
});
