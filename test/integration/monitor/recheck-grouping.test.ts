// The re-checks of a shard tick's failures that end together, against a real redis-server: a tick's run writer keeps
// the runs that end within its gathering window as one batch, and the re-checks those runs ask for are queued
// together (the scheduler's RunBatcher), so one shard whose members all fail at once costs fewer addBulk calls than
// re-checks. The runs are made to end together, not hoped to: the loopback target holds every request until all the
// shard's members have asked, then answers them all 500 at once.
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { nextTickAtOrAfter, shardOf } from '../../../src/monitor/schedule/shards.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { eventually } from '../service/support.js';
import {
  idsOfOneShard,
  type MonitorHarness,
  monitorRecord,
  startMonitorHarness,
  watchRecheckQueueing,
} from './support.js';

const failingCount = 12;
/** How long the target holds the requests at most, should some never come: well inside the probe's timeout. */
const holdLimitMs = 3000;

let redis: TestRedis;
let harness: MonitorHarness;
const held: ServerResponse[] = [];
/** How the held requests were answered: all at once when the last member asked, or at the limit (some never did). */
const answers: Array<'together' | 'limit'> = [];
const server = createServer((request, response) => {
  request.resume();
  if (answers.length > 0) return void response.writeHead(500).end('failing');
  held.push(response);
  if (held.length === failingCount) answerHeld('together');
});

function answerHeld(how: 'together' | 'limit') {
  answers.push(how);
  for (const response of held.splice(0)) response.writeHead(500).end('failing');
}

beforeAll(async () => {
  redis = await startRedis();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  harness = await startMonitorHarness({
    redisUrl: redis.url,
    // The re-checks are queued, not run, during the test: every re-check counted is one a tick's run asked for.
    env: { MONITOR_RECHECK_DELAY_MS: '600000', MONITOR_CONCURRENCY: String(failingCount * 2) },
  });
});

afterAll(async () => {
  await harness?.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await redis?.dispose();
});

it('queues the re-checks of a shard’s failures that end together in fewer addBulk calls than re-checks', async () => {
  // Every re-check the workers queue is counted, by the call it went in.
  const queueing = watchRecheckQueueing(harness.workers.scheduler.queue);

  const { port } = server.address() as AddressInfo;
  const ids = idsOfOneShard(failingCount, '5a0e0401');
  for (const id of ids) {
    const record = monitorRecord(id, { url: `http://127.0.0.1:${port}/fail/${id}`, confirmations: 3 });
    await harness.workers.store.putMonitor(record);
    await harness.api.scheduler.upsert(record);
  }
  const shard = shardOf({ id: ids[0] as string, intervalSeconds: 60 });
  // A tick two intervals past: every member is due at once.
  const limit = setTimeout(() => answerHeld('limit'), holdLimitMs);
  await harness.workers.scheduler.runTick(shard, nextTickAtOrAfter(shard, Date.now()) - 2 * shard.everyMs);

  const queued = await eventually(
    async () => {
      const monitors = queueing.bulkCalls.flat().map((recheck) => recheck.monitorId);
      return monitors.length >= failingCount ? monitors : undefined;
    },
    { what: 'a re-check of every failing member', intervalMs: 100, attempts: 300 },
  );
  clearTimeout(limit);
  // The premise: every member's request was held until the last had come, then all were answered at once.
  expect(answers).toEqual(['together']);
  const statuses = await harness.workers.store.getStatusesOf(ids);
  expect(statuses.map((status) => status?.consecutiveFailures)).toEqual(ids.map(() => 1));
  // Each failure's re-check queued once, all of them through addBulk (none added alone, which would leave fewer
  // addBulk calls without any grouping)...
  expect([...queued].sort()).toEqual([...ids].sort());
  expect(queueing.singleAdds).toBe(0);
  // ...and grouped: the runs ended in one gathering window, so their re-checks shared calls.
  expect(
    queueing.bulkCalls.length,
    `re-checks per addBulk call: ${queueing.bulkCalls.map((call) => call.length).join(', ')}`,
  ).toBeLessThan(failingCount);
}, 60_000);
