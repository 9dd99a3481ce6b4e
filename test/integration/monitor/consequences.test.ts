// A state change's consequences (incident, webhook alert) survive a worker that fails between writing the state and
// applying them: they were written with the state, and the monitor's next run applies them, once.
import { EventEmitter } from 'node:events';
import { Queue } from 'bullmq';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlertQueue, alertQueueName } from '../../../src/monitor/alerting/alerts.js';
import { applyPendingConsequences } from '../../../src/monitor/consequences.js';
import { runMonitor } from '../../../src/monitor/runner.js';
import { loopbackPolicy, type MonitorSuite, probeDefaults, sendJson, startMonitorSuite } from './support.js';

let suite: MonitorSuite;

beforeAll(async () => {
  suite = await startMonitorSuite();
});

afterAll(async () => {
  await suite?.close();
});

async function createMonitor(name: string): Promise<string> {
  suite.site.mode = 'healthy';
  const response = await sendJson('POST', `${suite.harness.url}/monitors`, {
    name,
    url: suite.site.url,
    intervalSeconds: 60,
    confirmations: 1,
    webhooks: [{ url: suite.receiver.url, secret: 'test-webhook-secret-0123456789' }],
  });
  expect(response.status).toBe(201);
  await suite.recorder.upTo(response.body.id, 1);
  return response.body.id as string;
}

/**
 * Runs the monitor once the way a worker does, but with an alert queue whose connection is already closed: the
 * state is written, then queueing the webhook fails, as it would for a worker that died at that moment.
 */
async function runWithBrokenAlertQueue(monitorId: string): Promise<unknown> {
  const broken: AlertQueue = new Queue(alertQueueName('test'), { connection: { url: suite.redis.url } });
  await broken.close();
  return runMonitor(
    {
      store: suite.harness.workers.store,
      scheduler: suite.harness.workers.scheduler,
      alertQueue: broken,
      config: suite.harness.config,
      probeDefaults,
      policy: loopbackPolicy,
      logger: pino({ level: 'silent' }),
      events: new EventEmitter(),
    },
    { monitorId, trigger: 'manual' },
    {},
  ).then(
    () => undefined,
    (error: unknown) => error,
  );
}

async function alertJobsOf(monitorId: string) {
  const jobs = await suite.harness.alertQueue.getJobs([
    'waiting',
    'active',
    'delayed',
    'completed',
    'failed',
  ]);
  return jobs.filter((job) => job.data.payload.monitor.id === monitorId);
}

describe('consequences of a state change', () => {
  it('are applied by the next run when the run that changed the state failed to apply them', async () => {
    const id = await createMonitor('Interrupted');
    const before = suite.receiver.deliveries.length;
    suite.site.mode = 'failing';

    const error = await runWithBrokenAlertQueue(id);
    expect(error).toBeInstanceOf(Error);
    // The state moved and the incident was opened; the alert never reached the queue, and is kept in Redis.
    const status = await suite.harness.workers.store.getStatus(id);
    expect(status.state).toBe('down');
    const incidentId = status.openIncidentId ?? '';
    expect(await suite.harness.workers.store.getIncident(incidentId)).toMatchObject({
      cause: 'server_fault',
    });
    expect(await alertJobsOf(id)).toEqual([]);
    const pending = await suite.harness.workers.store.pendingConsequences(id);
    expect(pending.map((entry) => entry.version)).toEqual([status.version]);

    // The next run (still failing: no new change) applies what was left, and the alert is the original change.
    const next = suite.recorder.next(id, 1);
    await suite.harness.workers.scheduler.runNow(id, 'manual');
    const [run] = await next;
    expect(run?.decision?.change).toBeUndefined();
    const delivery = JSON.parse((await suite.receiver.nth(before + 1)).body);
    expect(delivery).toMatchObject({ oldState: 'up', newState: 'down', cause: 'server_fault' });
    expect(delivery.incident.id).toBe(incidentId);
    expect(await suite.harness.workers.store.pendingConsequences(id)).toEqual([]);
    expect(await alertJobsOf(id)).toHaveLength(1);
    const incident = await suite.harness.workers.store.getIncident(incidentId);
    expect(incident?.updates).toHaveLength(1);
  });

  it('are applied once when two workers apply the same left-over consequences at the same time', async () => {
    const id = await createMonitor('Twice');
    suite.site.mode = 'failing';
    expect(await runWithBrokenAlertQueue(id)).toBeInstanceOf(Error);
    const status = await suite.harness.workers.store.getStatus(id);

    const deps = {
      store: suite.harness.workers.store,
      scheduler: suite.harness.workers.scheduler,
      alertQueue: suite.harness.alertQueue,
      config: suite.harness.config,
    };
    const applied = await Promise.all([
      applyPendingConsequences(deps, id),
      applyPendingConsequences(deps, id),
    ]);
    expect(applied).toEqual([1, 1]);
    const jobs = await alertJobsOf(id);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.id).toBe(`${id}-${status.version}-monitor-0`);
    expect(jobs[0]?.data.payload).toMatchObject({ oldState: 'up', newState: 'down' });
    const incident = await suite.harness.workers.store.getIncident(status.openIncidentId ?? '');
    expect(incident?.updates).toHaveLength(1);
    const incidents = await suite.harness.workers.store.incidentsSince(0, []);
    expect(incidents.filter((item) => item.monitorId === id)).toHaveLength(1);
    expect(await suite.harness.workers.store.pendingConsequences(id)).toEqual([]);
  });

  it('of a deleted monitor are deleted with it', async () => {
    const id = await createMonitor('Deleted');
    suite.site.mode = 'failing';
    expect(await runWithBrokenAlertQueue(id)).toBeInstanceOf(Error);
    expect(await suite.harness.workers.store.pendingConsequences(id)).toHaveLength(1);
    const response = await sendJson('DELETE', `${suite.harness.url}/monitors/${id}`);
    expect(response.status).toBe(204);
    expect(await suite.harness.workers.store.pendingConsequences(id)).toEqual([]);
  });
});
