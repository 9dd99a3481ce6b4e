// A one-off monitor run (a manual "run now", a re-check) cut short by the worker's shutdown deadline, against a real
// redis-server and a loopback site that holds the response: the abort is ours, not the site's, so no run is kept
// (no false timeout, incident or alert) and the job waits in the queue for the next worker, which runs it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monitorShardJobName } from '../../../src/monitor/scheduler.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { eventually } from '../service/support.js';
import {
  type MonitorHarness,
  monitorRecord,
  RunRecorder,
  type SwitchableSite,
  startMonitorHarness,
  startSwitchableSite,
} from './support.js';

let redis: TestRedis;
let site: SwitchableSite;
const harnesses: MonitorHarness[] = [];

beforeAll(async () => {
  redis = await startRedis();
  site = await startSwitchableSite();
});

afterAll(async () => {
  for (const harness of harnesses) await harness.close();
  await site?.close();
  await redis?.dispose();
});

async function startHarness(): Promise<MonitorHarness> {
  const harness = await startMonitorHarness({ redisUrl: redis.url });
  harnesses.push(harness);
  return harness;
}

/** Closes a harness the test is done with (afterAll closes those a failed test left). */
async function closeHarness(harness: MonitorHarness): Promise<void> {
  harnesses.splice(harnesses.indexOf(harness), 1);
  await harness.close();
}

describe('a one-off monitor run cut short by the shutdown deadline', { timeout: 60_000 }, () => {
  for (const [trigger, id] of [
    ['manual', '11111111-0000-4000-8000-000000000001'],
    ['recheck', '22222222-0000-4000-8000-000000000002'],
  ] as const)
    it(`keeps no ${trigger} run, opens no incident, queues no alert, and the next worker runs it`, async () => {
      const first = await startHarness();
      // One failure would be down at once (confirmations 1) and alert its webhook: a false timeout would show.
      const record = monitorRecord(id, {
        url: `${site.url}${trigger}`,
        confirmations: 1,
        timeoutMs: 30_000,
        webhooks: [{ url: `${site.url}hook`, secret: 'test-webhook-secret-0123456789' }],
      });
      await first.workers.store.putMonitors([record]);
      // The site holds the request for a minute: only the worker's deadline ends this run.
      site.mode = 'slow';
      site.slowDelayMs = 60_000;
      const requestsBefore = site.requestCount();
      await first.workers.scheduler.runNow(id, trigger);
      await eventually(async () => (site.requestCount() > requestsBefore ? true : undefined), {
        what: 'the run to reach the site',
        intervalMs: 20,
      });

      await first.workers.close(100);
      // Read through the API's connections: the workers' are closed.
      const { store } = first.api;
      expect(await store.history(id, { limit: 10 })).toEqual([]);
      const status = await store.getStatus(id);
      expect(status.lastRun).toBeUndefined();
      expect(status.openIncidentId).toBeUndefined();
      expect(await store.incidentsSince(0, [])).toEqual([]);
      expect(await first.alertQueue.getJobCountByTypes('waiting', 'delayed', 'active', 'completed')).toBe(0);
      // Back in the queue, not failed: no attempt was spent on our own abort.
      const queue = first.api.scheduler.queue;
      expect(await queue.getJobCountByTypes('failed')).toBe(0);
      const queued = await queue.getJobs(['waiting', 'delayed', 'prioritized']);
      expect(queued.filter((job) => job.name !== monitorShardJobName).map((job) => job.data)).toEqual([
        { monitorId: id, trigger },
      ]);
      await closeHarness(first);

      site.mode = 'healthy';
      const second = await startHarness();
      const recorder = new RunRecorder(second.workers);
      try {
        const [run] = await recorder.upTo(id, 1);
        expect(run?.result.entry).toMatchObject({ trigger, health: 'up', cause: 'ok' });
        expect(run?.decision?.status.state).toBe('up');
        expect(await second.workers.store.history(id, { limit: 10 })).toHaveLength(1);
        expect(site.requestCount() - requestsBefore).toBe(2);
      } finally {
        recorder.stop();
        await closeHarness(second);
      }
    });
});
