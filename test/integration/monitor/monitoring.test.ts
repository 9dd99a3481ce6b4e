// Monitors against a loopback site switched between healthy, failing and slow, with a real redis-server.
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signatureHeader } from '../../../src/monitor/alerting/alerts.js';
import { shardIdOf, shardOf } from '../../../src/monitor/schedule/shards.js';
import { type MonitorSuite, sendJson, startMonitorSuite, startWebhookReceiver } from './support.js';

let suite: MonitorSuite;
const secret = 'test-webhook-secret-0123456789';

beforeAll(async () => {
  suite = await startMonitorSuite();
});

afterAll(async () => {
  await suite?.close();
});

beforeEach(() => {
  suite.site.mode = 'healthy';
  suite.site.failuresLeft = 0;
});

async function createMonitor(body: Record<string, unknown>): Promise<string> {
  const response = await sendJson('POST', `${suite.harness.url}/monitors`, {
    name: 'Shop',
    url: suite.site.url,
    intervalSeconds: 60,
    ...body,
  });
  expect(response.status).toBe(201);
  // The first run is queued on create: wait for it so each test starts from a known state.
  await suite.recorder.upTo(response.body.id, 1);
  return response.body.id as string;
}

/** Triggers one run as a tick would, and resolves with it and the `count - 1` re-checks it is expected to cause. */
async function tick(monitorId: string, count = 1) {
  const runs = suite.recorder.next(monitorId, count);
  await suite.harness.workers.scheduler.runNow(monitorId, 'manual');
  return runs;
}

describe('monitor state', () => {
  it('marks a new monitor up after its first run and puts it in a shard with a job scheduler', async () => {
    const id = await createMonitor({ name: 'Fresh' });
    const monitor = await sendJson('GET', `${suite.harness.url}/monitors/${id}`);
    expect(monitor.body.state).toBe('up');
    expect(monitor.body.lastRun).toMatchObject({ cause: 'ok', code: 'http.ok', health: 'up' });
    const shard = shardOf({ id, intervalSeconds: 60 });
    expect(await suite.harness.api.scheduler.shards.members(shard)).toContain(id);
    const scheduler = await suite.harness.api.scheduler.queue.getJobScheduler(shardIdOf(shard));
    expect(scheduler?.every).toBe(60_000);
  });

  it('re-checks at once after one failure and stays up when the re-check passes', async () => {
    const id = await createMonitor({ name: 'Blip', confirmations: 2 });
    suite.site.failuresLeft = 1;
    const [failed, recheck] = await tick(id, 2);
    expect(failed?.result.entry).toMatchObject({ health: 'down', cause: 'server_fault' });
    expect(failed?.decision?.isRecheckWanted).toBe(true);
    expect(failed?.decision?.status.state).toBe('up');
    expect(recheck?.result.entry).toMatchObject({ trigger: 'recheck', health: 'up' });
    expect(recheck?.decision?.status.state).toBe('up');
    expect(recheck?.decision?.change).toBeUndefined();
  });

  it('goes down only after the configured consecutive failures, then opens an incident with the cause', async () => {
    const id = await createMonitor({ name: 'Checkout', confirmations: 3 });
    suite.site.mode = 'failing';
    const runs = await tick(id, 3);
    expect(runs.map((run) => run.result.entry.trigger)).toEqual(['manual', 'recheck', 'recheck']);
    expect(runs.map((run) => run.decision?.status.state)).toEqual(['up', 'up', 'down']);
    expect(runs[2]?.decision?.change).toMatchObject({ from: 'up', to: 'down' });
    const incidentId = runs[2]?.decision?.status.openIncidentId;
    expect(incidentId).toBeDefined();
    const incident = await suite.harness.api.store.getIncident(incidentId ?? '');
    expect(incident).toMatchObject({ monitorId: id, cause: 'server_fault', code: 'http.server_error' });
    expect(incident?.resolvedAtMs).toBeUndefined();

    // While it lasts, a different verdict is recorded on the incident.
    suite.site.mode = 'overloaded';
    const [overloaded] = await tick(id, 1);
    expect(overloaded?.decision?.status.state).toBe('degraded');
    const updated = await suite.harness.api.store.getIncident(incidentId ?? '');
    expect(updated?.updates.map((update) => update.cause)).toEqual(['server_fault', 'overload']);

    suite.site.mode = 'healthy';
    const [recovered] = await tick(id, 1);
    expect(recovered?.decision?.change).toMatchObject({ from: 'degraded', to: 'up' });
    const resolved = await suite.harness.api.store.getIncident(incidentId ?? '');
    expect(resolved?.resolvedAtMs).toBe(recovered?.result.startedAtMs);
    const summary = await sendJson('GET', `${suite.harness.url}/status.json`);
    const listed = summary.body.reach.recentIncidents.find((item: { id: string }) => item.id === incidentId);
    expect(listed.reach.cause).toBe('overload');
    expect(listed.reach.durationSeconds).toBeGreaterThanOrEqual(0);
    expect(listed.resolved_at).toBe(new Date(resolved?.resolvedAtMs ?? 0).toISOString());
  });

  it('marks a slow suite.site degraded, not down, after the confirmations', async () => {
    const id = await createMonitor({ name: 'Slow', confirmations: 2, slowFirstByteMs: 200 });
    suite.site.mode = 'slow';
    const runs = await tick(id, 2);
    expect(runs.map((run) => run.result.entry.code)).toEqual([
      'http.slow_first_byte',
      'http.slow_first_byte',
    ]);
    expect(runs.map((run) => run.decision?.status.state)).toEqual(['up', 'degraded']);
    expect(runs[1]?.decision?.incident).toBeUndefined();
  });

  it('holds a monitor in maintenance during its window: no incident, no alert', async () => {
    const before = suite.receiver.deliveries.length;
    const now = Date.now();
    const id = await createMonitor({
      name: 'Planned',
      confirmations: 1,
      maintenance: [
        { startsAt: new Date(now - 60_000).toISOString(), endsAt: new Date(now + 3_600_000).toISOString() },
      ],
      webhooks: [{ url: suite.receiver.url, secret }],
    });
    suite.site.mode = 'failing';
    const [run] = await tick(id, 1);
    expect(run?.decision?.status.state).toBe('maintenance');
    expect(run?.decision?.incident).toBeUndefined();
    expect(run?.decision?.isRecheckWanted).toBe(false);
    const summary = await sendJson('GET', `${suite.harness.url}/status.json`);
    const component = summary.body.components.find((item: { id: string }) => item.id === id);
    expect(component.status).toBe('under_maintenance');
    expect(
      summary.body.scheduled_maintenances.some(
        (item: { status: string; components: Array<{ id: string }> }) =>
          item.status === 'in_progress' && item.components[0]?.id === id,
      ),
    ).toBe(true);
    // An alerted change queues its webhook before the run counts as applied: nothing was queued for it.
    const alertJobs = await suite.harness.alertQueue.getJobs([
      'waiting',
      'active',
      'delayed',
      'completed',
      'failed',
    ]);
    expect(alertJobs.filter((job) => job.data.payload.monitor.id === id)).toEqual([]);
    expect(suite.receiver.deliveries.length).toBe(before);
  });
});

describe('webhook alerts', () => {
  it('keeps probing while a webhook hangs without answering', async () => {
    // Its own receiver: the held delivery times out and is retried later, which must not reach the other tests.
    const hanging = await startWebhookReceiver();
    try {
      hanging.answers.push(0, 0, 0);
      const id = await createMonitor({
        name: 'Hung hook',
        confirmations: 1,
        webhooks: [{ url: hanging.url, secret }],
      });
      suite.site.mode = 'failing';
      await tick(id, 1);
      // The delivery is in flight and held open by its receiver; the next runs go on regardless.
      await hanging.nth(1);
      suite.site.mode = 'healthy';
      const [recovered] = await tick(id, 1);
      expect(recovered?.decision?.change).toMatchObject({ from: 'down', to: 'up' });
      const [next] = await tick(id, 1);
      expect(next?.result.entry.health).toBe('up');
    } finally {
      await hanging.close();
    }
  });

  it('delivers a signed payload for each state change', async () => {
    const id = await createMonitor({
      name: 'Signed',
      confirmations: 1,
      webhooks: [{ url: suite.receiver.url, secret }],
    });
    const before = suite.receiver.deliveries.length;
    suite.site.mode = 'failing';
    await tick(id, 1);
    const delivery = await suite.receiver.nth(before + 1);
    const payload = JSON.parse(delivery.body);
    expect(payload).toMatchObject({
      event: 'monitor.state_changed',
      monitor: { id, name: 'Signed', url: suite.site.url },
      oldState: 'up',
      newState: 'down',
      cause: 'server_fault',
      code: 'http.server_error',
    });
    expect(payload.incident.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(payload.summary.length).toBeGreaterThan(0);
    const signature = String(delivery.headers[signatureHeader]);
    const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature);
    expect(match).not.toBeNull();
    const expected = createHmac('sha256', secret).update(`${match?.[1]}.${delivery.body}`).digest('hex');
    expect(match?.[2]).toBe(expected);
    const forged = createHmac('sha256', 'another-secret-0123456789')
      .update(`${match?.[1]}.${delivery.body}`)
      .digest('hex');
    expect(match?.[2]).not.toBe(forged);

    suite.site.mode = 'healthy';
    await tick(id, 1);
    const recovery = JSON.parse((await suite.receiver.nth(before + 2)).body);
    expect(recovery).toMatchObject({ oldState: 'down', newState: 'up', cause: 'ok' });
    expect(recovery.incident.id).toBe(payload.incident.id);
  });

  it('retries a failing webhook with backoff until it accepts the payload', async () => {
    const id = await createMonitor({
      name: 'Retried',
      confirmations: 1,
      webhooks: [{ url: suite.receiver.url, secret }],
    });
    const before = suite.receiver.deliveries.length;
    suite.receiver.answers.push(500, 503);
    const delivered = new Promise<{ attempt: number }>((resolve) => {
      const listener = (event: { attempt: number; payload: { monitor: { id: string } } }) => {
        if (event.payload.monitor.id !== id) return;
        suite.harness.workers.events.off('delivered', listener);
        resolve(event);
      };
      suite.harness.workers.events.on('delivered', listener);
    });
    suite.site.mode = 'failing';
    await tick(id, 1);
    expect((await delivered).attempt).toBe(3);
    const attempts = suite.receiver.deliveries.slice(before, before + 3);
    expect(attempts.map((attempt) => attempt.status)).toEqual([500, 503, 200]);
    // Each attempt carries the same payload, signed again.
    expect(new Set(attempts.map((attempt) => JSON.parse(attempt.body).id)).size).toBe(1);
  });
});
