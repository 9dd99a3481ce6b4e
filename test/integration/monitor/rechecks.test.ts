// Re-checks at scale against a real redis-server, on the real schedule: 200 monitors at a 10 s interval, a tenth of
// them answering 500. Each failing one gets exactly confirmations - 1 re-checks (those of its unconfirmed failures)
// and none for the ticks that fail while it stays down, no tick runs twice, re-checks are queued through the run
// writer's addBulk (never one add each), and the queue's waiting count stays bounded by the shards once the failing
// monitors are down. How many re-checks share an addBulk call depends on how many runs end within the writer's
// grouping window: since re-checks go ahead of the shard ticks (test/integration/monitor/run-order.test.ts), a small
// fleet's re-checks run as soon as they are queued and end one by one, so this test does not count the grouping;
// recheck-grouping.test.ts does, on one shard's failures made to end together.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { HistoryEntry } from '../../../src/monitor/records.js';
import { shardIdOf, shardOf } from '../../../src/monitor/schedule/shards.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { eventually } from '../service/support.js';
import { type MonitorHarness, sendJson, startMonitorHarness, watchRecheckQueueing } from './support.js';

const monitorCount = 200;
const failingCount = 20;
const confirmations = 3;
const intervalSeconds = 10;

let redis: TestRedis;
let harness: MonitorHarness;
let server: Server;
let siteUrl: string;

beforeAll(async () => {
  redis = await startRedis();
  // One loopback site: /fail/... answers 500, everything else 200.
  server = createServer((request, response) => {
    request.resume();
    if (request.url?.startsWith('/fail/')) response.writeHead(500).end('failing');
    else response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  siteUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The real schedule: shard ticks every 10 s from the first one after creation.
  harness = await startMonitorHarness({
    redisUrl: redis.url,
    env: { MONITOR_FIRST_TICK_DELAY_SECONDS: '0' },
  });
});

afterAll(async () => {
  await harness?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await redis?.dispose();
});

it('gives each failing monitor exactly confirmations - 1 re-checks, none while it stays down, queued through addBulk', async () => {
  // Every re-check the workers queue goes through their scheduler's queue: count the calls and the jobs.
  const queueing = watchRecheckQueueing(harness.workers.scheduler.queue);

  const items = Array.from({ length: monitorCount }, (_, index) => ({
    name: `Site ${index}`,
    url: `${siteUrl}/${index < failingCount ? 'fail' : 'ok'}/${index}`,
    intervalSeconds,
    confirmations,
  }));
  const created = await sendJson('POST', `${harness.url}/monitors/bulk`, items);
  expect(created.status).toBe(200);
  expect(created.body.created).toBe(monitorCount);
  const ids = (created.body.items as Array<{ id: string }>).map((item) => item.id);
  const failingIds = ids.slice(0, failingCount);
  const shardCount = new Set(ids.map((id) => shardIdOf(shardOf({ id, intervalSeconds })))).size;

  // The waiting count, sampled while the schedule runs.
  const samples: Array<{ atMs: number; waiting: number }> = [];
  let isSampling = true;
  const sampling = (async () => {
    while (isSampling) {
      // Ticks wait in the prioritized set, one-off runs in the list (they go ahead of the ticks): both count.
      const waiting = await harness.workers.scheduler.queue.getJobCountByTypes('wait', 'prioritized');
      samples.push({ atMs: Date.now(), waiting });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();

  const { store } = harness.workers;
  const scheduledAfter = (entries: HistoryEntry[], sinceMs: number) =>
    entries.filter((entry) => entry.trigger === 'schedule' && Date.parse(entry.at) >= sinceMs);
  // Until every failing monitor is down with three ticks run since, and every healthy one has run two ticks.
  let allDownAtMs = 0;
  const histories = await eventually(
    async () => {
      const statuses = await store.getStatusesOf(ids);
      const entries = await Promise.all(ids.map((id) => store.history(id, { limit: 1000 })));
      const isFailingDone = failingIds.every(
        (_, index) =>
          statuses[index]?.state === 'down' &&
          scheduledAfter(entries[index] ?? [], statuses[index]?.sinceMs ?? 0).length >= 3,
      );
      if (allDownAtMs === 0 && failingIds.every((_, index) => statuses[index]?.state === 'down'))
        allDownAtMs = Date.now();
      const isHealthyDone = ids
        .slice(failingCount)
        .every((_, offset) => scheduledAfter(entries[failingCount + offset] ?? [], 0).length >= 2);
      return isFailingDone && isHealthyDone ? { statuses, entries } : undefined;
    },
    { attempts: 120, intervalMs: 1000, what: 'the ticks of every monitor, the failing ones down' },
  );
  isSampling = false;
  await sampling;

  for (const [index, id] of ids.entries()) {
    const entries = histories.entries[index] ?? [];
    const rechecks = entries.filter((entry) => entry.trigger === 'recheck');
    const ticks = entries.filter((entry) => entry.trigger === 'schedule').map((entry) => entry.scheduledAt);
    // No tick ran twice, re-check or not.
    expect(new Set(ticks).size, `ticks of ${id}`).toBe(ticks.length);
    if (index >= failingCount) {
      // A healthy site costs no re-check, unless one of its runs failed (a loaded machine can make a loopback
      // answer slower than the degraded threshold): then one per such failure (a failed re-check's too), at most.
      const failedRuns = entries.filter((entry) => entry.health !== 'up');
      expect(rechecks.length, `re-checks of healthy ${id}`).toBeLessThanOrEqual(failedRuns.length);
      expect(histories.statuses[index]?.state).toBe('up');
      continue;
    }
    const status = histories.statuses[index];
    expect(status?.state).toBe('down');
    expect(status?.consecutiveFailures).toBeGreaterThan(confirmations);
    // Exactly confirmations - 1 re-checks, though three ticks or more failed since it went down: none of those
    // queued one. (A re-check queued before the confirming run may still run after it: a tick can confirm the
    // failure while the re-check an earlier failure queued waits for a worker.)
    expect(scheduledAfter(entries, status?.sinceMs ?? 0).length).toBeGreaterThanOrEqual(3);
    expect(rechecks, `re-checks of failing ${id}`).toHaveLength(confirmations - 1);
  }
  // Every re-check went out in an addBulk: each failing monitor's exactly confirmations - 1, and a healthy one's no
  // more than its failed runs. The healthy histories are
  // read after the queued counts are taken, since a healthy run that fails on a loaded machine can queue one more
  // re-check while the assertions above run; its failed run is written before its re-check is queued.
  // The distinct re-check jobs queued for each monitor (a consequence applied again after a retry queues the same
  // job id, which BullMQ keeps once).
  const queuedOf = (id: string) =>
    new Set(
      queueing.bulkCalls
        .flat()
        .filter((recheck) => recheck.monitorId === id)
        .map((recheck) => recheck.jobId),
    ).size;
  const queuedCounts = new Map(ids.map((id) => [id, queuedOf(id)]));
  for (const id of failingIds)
    expect(queuedCounts.get(id), `re-checks queued for failing ${id}`).toBe(confirmations - 1);
  const healthyIds = ids.slice(failingCount);
  const healthyAfter = await Promise.all(healthyIds.map((id) => store.history(id, { limit: 1000 })));
  for (const [offset, id] of healthyIds.entries()) {
    const failedRuns = (healthyAfter[offset] ?? []).filter((entry) => entry.health !== 'up').length;
    expect(queuedCounts.get(id), `re-checks queued for healthy ${id}`).toBeLessThanOrEqual(failedRuns);
  }
  expect(queueing.singleAdds).toBe(0);
  // An interval after they are all down (a re-check queued before the confirming run has run by then), only
  // shard ticks wait: at most one per shard.
  const afterDown = samples.filter((sample) => sample.atMs >= allDownAtMs + intervalSeconds * 1000);
  expect(afterDown.length).toBeGreaterThan(0);
  expect(Math.max(...afterDown.map((sample) => sample.waiting))).toBeLessThanOrEqual(shardCount);
}, 180_000);
